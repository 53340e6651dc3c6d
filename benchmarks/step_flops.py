"""Train-step cost of the jepakit JEPA against a plain timm ViT step and lightly's I-JEPA.

ViT-Tiny-sized encoder (192 wide, 12 deep, 3 heads), 224x224 images in 16x16 patches
(196 tokens), batch 32, I-JEPA paper masks (1 context block 0.85-1.0, 4 targets
0.15-0.2, aspect 0.75-1.5), 6-layer predictor. FLOPs of one full step (forward,
backward; the EMA target's forward included) are counted with
``torch.utils.flop_counter``; seconds are summed over the timed steps after warm-up, with
the three setups interleaved so machine noise hits them alike. Both JEPA implementations
get the same masks (drawn by jepakit's multiblock masker with the paper's settings), so
they do the same work; lightly's collator would draw masks of the same distribution.

    python benchmarks/step_flops.py [--steps 5] [--pred-width 192] [--threads 2]

lightly is optional (``pip install lightly``); without it that row is skipped.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import timm
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from jepakit.contract import Layout
from jepakit.masks import MultiBlockMasker
from jepakit.model import JEPA, Backbone
from jepakit.targets import EMATarget
from jepakit.tokenizers import PatchTokenizer

B, IMG, PATCH, WIDTH, DEPTH, HEADS = 32, 224, 16, 192, 12, 3


def shared_masks(n: int) -> list:
    """The same I-JEPA masks for both JEPA implementations, so they do identical work."""
    masker = MultiBlockMasker()
    return [masker(Layout((IMG // PATCH, IMG // PATCH)), B, torch.Generator().manual_seed(i)) for i in range(n)]


MASKS = shared_masks(16)


def jepakit_setup(pred_width: int, pred_heads: int):
    tok = PatchTokenizer(WIDTH, 3, (IMG, IMG), PATCH)
    model = JEPA(Backbone(tok, tok.grid, 0, WIDTH, DEPTH, HEADS), EMATarget(), "smooth_l1", pred_width=pred_width, pred_depth=6, pred_heads=pred_heads)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    def step(x, i):
        masks = MASKS[i % len(MASKS)]
        out = model({"x": x}, masks)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        model.target.update(model, 0.5)

    return step


def plain_setup():
    vit = timm.create_model("vit_tiny_patch16_224", num_classes=0, pretrained=False)
    opt = torch.optim.AdamW(vit.parameters(), lr=1e-4)

    def step(x, i):
        loss = vit.forward_features(x).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def lightly_setup(pred_width: int, pred_heads: int):
    from lightly.models import utils
    from lightly.models.modules.ijepa_timm import IJEPAPredictorTIMM
    from lightly.models.modules.masked_vision_transformer_timm import MaskedVisionTransformerTIMM

    vit = timm.create_model("vit_tiny_patch16_224", num_classes=0, pretrained=False, class_token=False, global_pool="avg")
    encoder = MaskedVisionTransformerTIMM(vit=vit)
    target = copy.deepcopy(encoder)
    for p in target.parameters():
        p.requires_grad_(False)
    predictor = IJEPAPredictorTIMM(num_patches=196, depth=6, mlp_dim=WIDTH, predictor_embed_dim=pred_width, num_heads=pred_heads)
    params = list(encoder.parameters()) + list(predictor.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4)

    def step(x, i):
        m = MASKS[i % len(MASKS)]
        masks_enc, masks_pred = [m.context], [m.target[:, j] for j in range(m.target.shape[1])]
        with torch.no_grad():
            h = target.encode(x)
            h = F.layer_norm(h, (h.size(-1),))
            h = utils.apply_masks(h, masks_pred)
            h = utils.repeat_interleave_batch(h, B, repeat=len(masks_enc))
        z = encoder.encode(x, idx_keep=masks_enc[0])
        z = predictor(z, [masks_enc[0]], masks_pred)
        loss = F.smooth_l1_loss(z, h)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for pt, pe in zip(target.parameters(), encoder.parameters()):
                pt.mul_(0.996).add_(pe.detach(), alpha=0.004)

    return step


def count_flops(step, x, i: int = 0) -> float:
    with FlopCounterMode(display=False) as fc:
        step(x, i)
    return fc.get_total_flops()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--pred-width", type=int, default=192)
    ap.add_argument("--pred-heads", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(B, 3, IMG, IMG)
    setups = {"plain timm ViT-Tiny": plain_setup(), "jepakit JEPA": jepakit_setup(args.pred_width, args.pred_heads)}
    try:
        setups["lightly I-JEPA"] = lightly_setup(args.pred_width, args.pred_heads)
    except ImportError as exc:
        print(f"(lightly not installed: {exc}; its row is skipped)")
    # masks differ in size from step to step, so FLOPs are counted for every timed step
    timed = list(range(args.warmup, args.warmup + args.steps))
    flops = {k: [count_flops(s, x, i) for i in timed] for k, s in setups.items()}
    for i in range(args.warmup):
        for s in setups.values():
            s(x, i)
    times: dict[str, list[float]] = {k: [] for k in setups}
    for i in timed:
        for k, s in setups.items():
            t = time.perf_counter()
            s(x, i)
            times[k].append(time.perf_counter() - t)
    rate = {k: sum(flops[k]) / sum(times[k]) for k in setups}
    print(f"batch {B}, {IMG // PATCH}x{IMG // PATCH} tokens, width {WIDTH}, depth {DEPTH}, predictor 6 x {args.pred_width}, torch threads {torch.get_num_threads()}")
    print(f"| setup | GFLOP/step (mean) | s/step (mean of {args.steps}) | GFLOP/s | rate vs plain |")
    print("|---|---|---|---|---|")
    for k in setups:
        print(
            f"| {k} | {statistics.mean(flops[k]) / 1e9:.1f} | {statistics.mean(times[k]):.3f} | {rate[k] / 1e9:.1f} | "
            f"{rate[k] / rate['plain timm ViT-Tiny']:.3f} |"
        )


if __name__ == "__main__":
    main()
