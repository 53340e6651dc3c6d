"""The performance suite: one command, every ratio measured in one run.

    python benchmarks/perf_suite.py [--smoke] [--out DIR] [--only NAME,...] [--threads 2] [--set KEY=VALUE ...]

prints a Markdown table and writes ``DIR/perf.md`` and ``DIR/perf.json`` (default DIR:
``runs/perf``). Sections (``--only`` takes their names):

``jepa``    one train step of the jepakit JEPA (built from its config, ``--set`` style:
            ``predictor.one_pass=false`` and ``=true``) against a plain timm ViT step
            (achieved FLOP rate, FLOPs counted with ``torch.utils.flop_counter``) and
            against lightly's I-JEPA on the same configuration and the same masks
            (optional dependency: without lightly that row is skipped), and the one-pass
            predictor against the per-group one. ViT-Tiny (192 wide, 12 deep, 3 heads),
            224 px images in 16 px patches, batch 32, predictor 6 x 192, I-JEPA masks.
``sigreg``  SIGReg forward + backward on (B, 192) embeddings, 1024 slices, B = 64 ... 4096
            (least-squares line, R^2, per-sample time at the largest B over the
            smallest), and SIGReg's share of a LeJEPA train step (the default recipe,
            ViT-Tiny, batch 32: SIGReg on that step's projections against the whole
            step), and at B = 4096 against the step time scaled linearly in B.
``sar``     ROA edge gradients (SAR-JEPA radii 5, 9, 13, 17): integral image vs
            (2r+1)-kernel convolutions, 128 x 128 chips.
``lidar``   voxelisation of a KITTI-sized scan (64 x 2048 rays, ~120k points, KITTI's
            front range): jepakit_lidar's torch voxeliser vs spconv's ``PointToVoxel``,
            with the plugin's voxels (0.4 x 0.4 x 0.5 m, 32 points) and SECOND's
            (0.05 x 0.05 x 0.1 m, 5 points). Always on the CPU, where loading runs.
``ecg``     a random training window from a prepared store vs decoding and conditioning
            the WFDB record per window (and ``wfdb.rdrecord`` alone).
``eeg``     the same for EDF files (lazy read + crop + cleaning, and decoding alone).

Timing: in each section the setups run interleaved, round after round (the order
reversed every other round, so drift and machine noise hit all alike); a figure is the
median over the rounds of seconds per unit (a step, a window, a batch of chips...).
Ratios are slow / fast (or achieved FLOP rates), computed from these medians.

Memory: each section runs in its own subprocess. On the CPU the figure is the section's
peak resident set (``resource.getrusage(...).ru_maxrss``) and its rise over the
high-water mark after the section's imports, so it covers the section's largest setup;
on CUDA it is ``torch.cuda.max_memory_allocated`` per setup. Device: CUDA when
available (bf16 autocast), else the CPU in float32.

``--smoke`` runs every section at tiny sizes (about a minute): the figures are
meaningless, the point is that every ratio comes out finite. CI runs it as a test, never
as a timed one. The full form is budgeted for under 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECTIONS = ("jepa", "sigreg", "sar", "lidar", "ecg", "eeg")
LIGHTLY_PIN = 'pip install lightly "torch==2.14.1" "torchvision==0.29.1"'


# ----------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Shape:
    """A ViT configuration of the JEPA comparison."""

    batch: int = 32
    img: int = 224
    patch: int = 16
    width: int = 192
    depth: int = 12
    heads: int = 3
    pred_width: int = 192
    pred_depth: int = 6
    pred_heads: int = 3

    @property
    def grid(self) -> tuple[int, int]:
        return (self.img // self.patch, self.img // self.patch)


FULL = {
    "jepa": {"shape": Shape(), "masks": 3, "rounds": 6, "budget_s": 110},
    "sigreg": {"batches": [64, 256, 1024, 4096], "rounds": 5, "shape": Shape(), "budget_s": 60},
    "sar": {"size": 128, "batch": 32, "radii": (5, 9, 13, 17), "rounds": 5},
    "lidar": {"beams": 64, "azimuths": 2048, "max_range": 80.0, "rounds": 15},
    "ecg": {"records": 24, "seconds": 10.0, "rate": 500, "crop": 10.0, "per_call": {"wfdb": 4, "decode_only": 4, "prepared": 128}, "rounds": 9},
    "eeg": {"files": 8, "seconds": 120.0, "window": 4.0, "per_call": {"edf": 2, "decode_only": 4, "prepared": 128}, "rounds": 9},
}
TINY = Shape(batch=4, img=32, patch=8, width=32, depth=2, heads=2, pred_width=32, pred_depth=1, pred_heads=2)
SMOKE = {
    "jepa": {"shape": TINY, "masks": 2, "rounds": 2},
    "sigreg": {"batches": [16, 32, 64, 128], "rounds": 3, "shape": TINY},
    "sar": {"size": 32, "batch": 2, "radii": (2, 5), "rounds": 3},
    "lidar": {"beams": 8, "azimuths": 128, "max_range": 20.0, "rounds": 3},
    "ecg": {"records": 3, "seconds": 4.0, "rate": 100, "crop": 2.5, "per_call": {"wfdb": 1, "decode_only": 1, "prepared": 4}, "rounds": 3},
    "eeg": {"files": 2, "seconds": 20.0, "window": 2.0, "per_call": {"edf": 1, "decode_only": 1, "prepared": 4}, "rounds": 3},
}
# generous per-section wall-clock limits (seconds) for the subprocesses
LIMITS = {"full": {"jepa": 480, "sigreg": 300, "sar": 150, "lidar": 150, "ecg": 150, "eeg": 150}, "smoke": dict.fromkeys(SECTIONS, 120)}


# ----------------------------------------------------------------------------- rows


def row(section: str, name: str, setups: list[str], seconds: dict[str, float], unit: str, ratio: float | None, ratio_is: str,
        goal: str | None = None, met: bool | None = None, flops: dict[str, float] | None = None,
        gflops_per_s: dict[str, float] | None = None, skipped: str | None = None, **details: Any) -> dict[str, Any]:
    return {"section": section, "name": name, "setups": setups, "seconds": {k: seconds[k] for k in setups if k in seconds}, "unit": unit,
            "ratio": ratio, "ratio_is": ratio_is, "flops": flops, "gflops_per_s": gflops_per_s, "goal": goal, "met": met,
            "skipped": skipped, "details": details}


def skipped_row(section: str, name: str, setups: list[str], reason: str, goal: str | None = None, ratio_is: str = "") -> dict[str, Any]:
    return row(section, name, setups, {}, "", None, ratio_is, goal=goal, skipped=reason)


# ----------------------------------------------------------------------------- timing


class Clock:
    """Interleaved timing on one device: ``run(setups, rounds)`` calls every setup once a
    round (the order reversed every other round); a setup is ``fn(round)``, returning
    the number of units it processed when that is an int (anything else: 1). Keeps seconds per unit and, on CUDA, each setup's peak allocation."""

    def __init__(self, device: Any):
        import torch

        self.torch = torch
        self.cuda = getattr(device, "type", str(device)) == "cuda"
        self.peak: dict[str, float] = {}
        self.rounds_done = 0

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def call(self, name: str, fn: Callable[[int], Any], i: int) -> float:
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats()
        self.sync()
        t = time.perf_counter()
        n = fn(i)
        self.sync()
        dt = time.perf_counter() - t
        if self.cuda:
            self.peak[name] = max(self.peak.get(name, 0.0), self.torch.cuda.max_memory_allocated() / 2**20)
        return dt / (n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1)

    def run(self, setups: dict[str, Callable[[int], Any]], rounds: int, warmup: int = 1, budget_s: float | None = None,
            min_rounds: int = 3) -> dict[str, list[float]]:
        """``rounds`` timed rounds after ``warmup``; with ``budget_s``, no new round starts
        once the timed rounds have taken that long and at least ``min_rounds`` are done
        (a busy machine gets fewer rounds, not a longer run)."""
        names = list(setups)
        times: dict[str, list[float]] = {k: [] for k in names}
        began = None
        done = 0
        for r in range(warmup + rounds):
            if r == warmup:
                began = time.perf_counter()
            elif began is not None and budget_s is not None and done >= min(min_rounds, rounds) and time.perf_counter() - began > budget_s:
                break
            for k in names if r % 2 == 0 else names[::-1]:
                dt = self.call(k, setups[k], r)
                if r >= warmup:
                    times[k].append(dt)
            done += r >= warmup
        self.rounds_done = done
        return times


def med(times: dict[str, list[float]]) -> dict[str, float]:
    return {k: statistics.median(v) for k, v in times.items()}


def pick_device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast(device: Any):
    import torch

    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


# ----------------------------------------------------------------------------- jepa


def jepakit_setup(
    shape: Shape, sets: list[str], masks: list | None, device: Any, recipe: str = "jepa", draws: int = 1,
) -> tuple[Callable[[int], None], dict[str, Any]]:
    """A jepakit model as ``jepakit pretrain --set recipe=... --set ...`` builds it (core
    defaults, the shape, ``sets`` on top), stepped as the trainer steps it (autocast on
    CUDA, AdamW, ``model.update``) but without gradient clipping, which the other setups
    lack. ``masks`` (or views): given, or ``draws`` drawn from the config's own sampler."""
    import torch

    from jepakit import config as cfgmod
    from jepakit.contract import DataBundle
    from jepakit.train import build, make_optimizer

    layer = {
        "recipe": {"name": recipe}, "tokenizer": {"name": "patch", "patch": shape.patch},
        "model": {"width": shape.width, "depth": shape.depth, "heads": shape.heads, "pred_width": shape.pred_width,
                  "pred_depth": shape.pred_depth, "pred_heads": shape.pred_heads},
        "train": {"batch_size": shape.batch, "clip": 0.0},
    }
    cfg = cfgmod.merge(layer, cfgmod.parse_sets(sets))
    bundle = DataBundle([{"x": torch.zeros(3, shape.img, shape.img)}] * 2, {"in_chans": 3, "size": (shape.img, shape.img)})
    torch.manual_seed(0)
    model, sampler = build(cfg, bundle)
    model.to(device).train()
    opt = make_optimizer(model, cfg)
    x = torch.randn(shape.batch, 3, shape.img, shape.img, generator=torch.Generator().manual_seed(1)).to(device)
    if masks is None:
        layout = model.backbone.tokenizer.layout({"x": x})
        masks = [sampler(layout, shape.batch, torch.Generator().manual_seed(i)).to(device) for i in range(draws)]

    def step(i: int) -> None:
        with autocast(device):
            out = model({"x": x}, masks[i % len(masks)])
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        model.update(0.5)

    info = {k: cfg[k] for k in ("recipe", "predictor", "model", "views", "masker", "target", "loss") if k in cfg}
    info["masks"] = masks
    info["model_obj"] = model
    return step, info


def timm_vit(shape: Shape, **kwargs: Any):
    import timm

    return timm.create_model(
        "vit_tiny_patch16_224", num_classes=0, pretrained=False, img_size=shape.img, patch_size=shape.patch, embed_dim=shape.width,
        depth=shape.depth, num_heads=shape.heads, **kwargs,
    )


def plain_setup(shape: Shape, device: Any) -> Callable[[int], None]:
    """A plain timm ViT train step on the same images: every token, forward + backward + AdamW."""
    import torch

    torch.manual_seed(0)
    vit = timm_vit(shape).to(device)
    opt = torch.optim.AdamW(vit.parameters(), lr=1e-4)
    x = torch.randn(shape.batch, 3, shape.img, shape.img, generator=torch.Generator().manual_seed(1)).to(device)

    def step(i: int) -> None:
        with autocast(device):
            loss = vit.forward_features(x).float().pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def lightly_setup(shape: Shape, masks: list, device: Any) -> Callable[[int], None]:
    """lightly's I-JEPA (its timm encoder and predictor, its mask helpers) as in its
    example, with jepakit's masks: the same encoder, predictor sizes and tokens."""
    import torch
    import torch.nn.functional as F
    from lightly.models import utils
    from lightly.models.modules.ijepa_timm import IJEPAPredictorTIMM
    from lightly.models.modules.masked_vision_transformer_timm import MaskedVisionTransformerTIMM

    torch.manual_seed(0)
    encoder = MaskedVisionTransformerTIMM(vit=timm_vit(shape, class_token=False, global_pool="avg")).to(device)
    target = copy.deepcopy(encoder)
    for p in target.parameters():
        p.requires_grad_(False)
    predictor = IJEPAPredictorTIMM(
        num_patches=shape.grid[0] * shape.grid[1], depth=shape.pred_depth, mlp_dim=shape.width, predictor_embed_dim=shape.pred_width,
        num_heads=shape.pred_heads,
    ).to(device)
    opt = torch.optim.AdamW(list(encoder.parameters()) + list(predictor.parameters()), lr=1e-4)
    x = torch.randn(shape.batch, 3, shape.img, shape.img, generator=torch.Generator().manual_seed(1)).to(device)

    def step(i: int) -> None:
        m = masks[i % len(masks)]
        masks_enc, masks_pred = [m.context], [m.target[:, j] for j in range(m.target.shape[1])]
        with autocast(device):
            with torch.no_grad():
                h = target.encode(x)
                h = F.layer_norm(h, (h.size(-1),))
                h = utils.apply_masks(h, masks_pred)
                h = utils.repeat_interleave_batch(h, shape.batch, repeat=len(masks_enc))
            z = encoder.encode(x, idx_keep=masks_enc[0])
            z = predictor(z, [masks_enc[0]], masks_pred)
            loss = F.smooth_l1_loss(z.float(), h.float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for pt, pe in zip(target.parameters(), encoder.parameters()):
                pt.mul_(0.996).add_(pe.detach(), alpha=0.004)

    return step


def count_flops(step: Callable[[int], None], i: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        step(i)
    return float(fc.get_total_flops())


def lightly_status() -> str | None:
    """None when lightly imports, else why not (the row's skip reason)."""
    try:
        import lightly  # noqa: F401
        from lightly.models.modules.ijepa_timm import IJEPAPredictorTIMM  # noqa: F401
    except Exception as exc:  # ImportError, or a lightly that breaks on this torch
        return f"lightly not installed ({type(exc).__name__}: {exc}); optional: {LIGHTLY_PIN}"
    return None


def section_jepa(p: dict[str, Any], device: Any, sets: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import torch

    from jepakit.contract import Layout
    from jepakit.errors import JepakitError
    from jepakit.masks import MultiBlockMasker

    shape: Shape = p["shape"]
    masker = MultiBlockMasker()
    masks = [masker(Layout(shape.grid), shape.batch, torch.Generator().manual_seed(i)).to(device) for i in range(p["masks"])]
    setups: dict[str, Callable[[int], None]] = {"plain timm ViT": plain_setup(shape, device)}
    configs: dict[str, Any] = {}
    one_pass_reason = None
    per, one = "jepakit JEPA per-group", "jepakit JEPA one-pass"
    try:
        setups[per], configs[per] = jepakit_setup(shape, ["predictor.one_pass=false", *sets], masks, device)
        setups[one], configs[one] = jepakit_setup(shape, ["predictor.one_pass=true", *sets], masks, device)
    except (JepakitError, TypeError, ValueError) as exc:
        # a core without the predictor section's one_pass: the JEPA as its defaults build it
        one_pass_reason = f"this jepakit has no predictor.one_pass ({type(exc).__name__}: {exc})"
        setups.pop(one, None)
        setups[per], configs[per] = jepakit_setup(shape, list(sets), masks, device)
    lightly_reason = lightly_status()
    if lightly_reason is None:
        setups["lightly I-JEPA"] = lightly_setup(shape, masks, device)
    # FLOPs per mask (masks differ in size): the counted steps are the warm-up too
    flops_per_mask = {k: [count_flops(s, i) for i in range(1 if k == "plain timm ViT" else len(masks))] for k, s in setups.items()}
    clock = Clock(device)
    times = clock.run(setups, p["rounds"], warmup=0, budget_s=p.get("budget_s"))
    done = clock.rounds_done
    sec = med(times)
    flops = {k: statistics.mean(flops_per_mask[k][r % len(flops_per_mask[k])] for r in range(done)) for k in setups}
    rate = {k: sum(flops_per_mask[k][r % len(flops_per_mask[k])] for r in range(done)) / sum(times[k]) for k in setups}
    gf = {k: rate[k] / 1e9 for k in setups}
    desc = (f"batch {shape.batch}, {shape.grid[0]}x{shape.grid[1]} tokens, ViT {shape.width}x{shape.depth} ({shape.heads} heads), "
            f"predictor {shape.pred_depth} x {shape.pred_width}, {done} interleaved rounds over {len(masks)} masks")
    rows = []
    pl = "plain timm ViT"
    rows.append(row("jepa", "JEPA step vs plain timm ViT step (achieved FLOP rate)", [per, pl], sec, "step", rate[per] / rate[pl],
                    "GFLOP/s of the JEPA step / GFLOP/s of the plain ViT step", flops={k: flops[k] for k in (per, pl)},
                    gflops_per_s={k: gf[k] for k in (per, pl)}, config=desc))
    li = "lightly I-JEPA"
    goal = ">= 1.3"
    if lightly_reason is None:
        r = sec[li] / sec[per]
        rows.append(row("jepa", "JEPA step vs lightly I-JEPA step (throughput, same config and masks)", [per, li], sec, "step", r,
                        "lightly s/step / jepakit s/step", goal=goal, met=r >= 1.3, flops={k: flops[k] for k in (per, li)},
                        gflops_per_s={k: gf[k] for k in (per, li)}, config=desc))
        if one in setups:
            r1 = sec[li] / sec[one]
            rows.append(row("jepa", "JEPA one-pass step vs lightly I-JEPA step (throughput)", [one, li], sec, "step", r1,
                            "lightly s/step / jepakit one-pass s/step", goal=goal, met=r1 >= 1.3, flops={k: flops[k] for k in (one, li)},
                            gflops_per_s={k: gf[k] for k in (one, li)}, config=desc))
    else:
        rows.append(skipped_row("jepa", "JEPA step vs lightly I-JEPA step (throughput, same config and masks)", [per, li], lightly_reason, goal))
    if one in setups:
        r = sec[per] / sec[one]
        rows.append(row("jepa", "one-pass vs per-group predictor (JEPA step throughput)", [one, per], sec, "step", r,
                        "per-group s/step / one-pass s/step", flops={k: flops[k] for k in (one, per)},
                        gflops_per_s={k: gf[k] for k in (one, per)}, config=desc,
                        predictor={k: configs[k].get("predictor") for k in (one, per)}))
    else:
        rows.append(skipped_row("jepa", "one-pass vs per-group predictor (JEPA step throughput)", [one, per], one_pass_reason or "unavailable"))
    return rows, {"setups": list(setups), "peak_mib": clock.peak, "rounds": clock.rounds_done}


# ----------------------------------------------------------------------------- sigreg


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least-squares ``y = a + b x``: (a, b, R^2)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    a = my - b * mx
    ss_res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return a, b, 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0


def section_sigreg(p: dict[str, Any], device: Any, sets: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """SIGReg alone on (B, dim) embeddings for every B (the I-JEPA + SIGReg use: one
    pooled embedding per item), interleaved with two train steps at the ViT-Tiny default
    batch: LeJEPA (SIGReg on its views' projections, timed alone on that shape too) and
    I-JEPA + SIGReg (``loss.sigreg``, SIGReg on the pooled full-view embeddings)."""
    import torch

    from jepakit.sigreg import sigreg

    def sig(shape: tuple[int, ...], slices: int) -> Callable[[int], None]:
        z = torch.randn(*shape, generator=torch.Generator().manual_seed(shape[-2])).to(device).requires_grad_()

        def run(i: int) -> None:
            z.grad = None
            sigreg(z, slices, generator=torch.Generator().manual_seed(i)).backward()

        return run

    shape: Shape = p["shape"]
    rounds = p["rounds"]
    lejepa, li = jepakit_setup(shape, list(sets), None, device, recipe="lejepa", draws=rounds + 1)
    ijepa, ii = jepakit_setup(shape, ["loss.sigreg=0.05", *sets], None, device, recipe="jepa", draws=rounds + 1)
    views = li["masks"][0]
    n_views = len(views.global_views) + len(views.local_views)
    proj_dim = int(li["recipe"].get("proj_dim", 128))
    lslices = li["model_obj"].sigreg.num_slices
    islices = ii["model_obj"].sigreg.num_slices
    dim = shape.width
    batches = p["batches"]
    names = {b: f"SIGReg ({b}, {dim})" for b in batches}
    st_l, st_i = f"LeJEPA step (batch {shape.batch})", f"I-JEPA + SIGReg step (batch {shape.batch})"
    s_l, s_i = f"SIGReg in the LeJEPA step ({n_views} x {shape.batch} x {proj_dim})", f"SIGReg in the I-JEPA step ({shape.batch}, {dim})"
    setups = {names[b]: sig((b, dim), islices) for b in batches}
    setups.update({st_l: lejepa, s_l: sig((n_views, shape.batch, proj_dim), lslices), st_i: ijepa, s_i: sig((shape.batch, dim), islices)})
    clock = Clock(device)
    sec = med(clock.run(setups, rounds, budget_s=p.get("budget_s")))
    ts = [sec[names[b]] for b in batches]
    a, b, r2 = linear_fit([float(x) for x in batches], ts)
    per_sample = (ts[-1] / batches[-1]) / (ts[0] / batches[0])
    linear = r2 >= 0.99 and per_sample <= 1.25
    desc = f"ViT {shape.width}x{shape.depth}, {shape.grid[0]}x{shape.grid[1]} tokens, {islices} slices"
    rows = [row("sigreg", f"SIGReg forward+backward vs batch ({batches[0]}...{batches[-1]}, dim {dim})", [names[x] for x in batches], sec,
                "call", per_sample, f"per-sample time at B={batches[-1]} / at B={batches[0]}",
                goal="linear in batch (R^2 >= 0.99, per-sample ratio <= 1.25)", met=linear, slope_s_per_sample=b, intercept_s=a,
                r2=r2, slices=islices, dim=dim)]
    for name, sg, st, extra in ((f"SIGReg share of a LeJEPA train step (batch {shape.batch})", s_l, st_l, f"{n_views} views"),
                                (f"SIGReg share of an I-JEPA + SIGReg train step (batch {shape.batch})", s_i, st_i, "loss.sigreg=0.05")):
        frac = sec[sg] / sec[st]
        rows.append(row("sigreg", name, [sg, st], sec, "step", frac, "SIGReg s / step s", goal="<= 0.05", met=frac <= 0.05,
                        config=f"{desc}, {extra}"))
    big = batches[-1]
    scaled = sec[st_i] * big / shape.batch
    frac_big = sec[names[big]] / scaled
    rows.append(row("sigreg", f"SIGReg share at batch {big} (I-JEPA + SIGReg step time scaled linearly from batch {shape.batch})",
                    [names[big], st_i], sec, "step", frac_big, f"SIGReg s at B={big} / (step s x {big}/{shape.batch})", goal="<= 0.05",
                    met=frac_big <= 0.05, scaled_step_s=scaled, config=desc))
    return rows, {"peak_mib": clock.peak, "rounds": clock.rounds_done}


# ----------------------------------------------------------------------------- sar


def section_sar(p: dict[str, Any], device: Any, sets: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import torch

    from jepakit_sar.roa import roa_gradients, roa_gradients_conv

    g = torch.Generator().manual_seed(0)
    x = (-torch.log(torch.rand(p["batch"], 1, p["size"], p["size"], generator=g).clamp_min(1e-7))).to(device)
    radii = tuple(p["radii"])
    n = p["batch"]
    it, cv = "integral-image ROA", "conv-kernel ROA"
    clock = Clock(device)

    def chips(fn: Callable[..., Any]) -> Callable[[int], int]:
        def run(i: int) -> int:
            fn(x, radii)
            return n

        return run

    times = clock.run({it: chips(roa_gradients), cv: chips(roa_gradients_conv)}, p["rounds"])
    sec = med(times)
    err = float((roa_gradients(x, radii) - roa_gradients_conv(x, radii)).abs().max())
    rows = [row("sar", f"SAR ROA: integral image vs conv kernels (r = {', '.join(map(str, radii))})", [it, cv], sec, "chip",
                sec[cv] / sec[it], "conv s/chip / integral s/chip", config=f"{n} chips of {p['size']}x{p['size']}", max_abs_diff=err)]
    return rows, {"peak_mib": clock.peak, "rounds": clock.rounds_done}


# ----------------------------------------------------------------------------- lidar


def section_lidar(p: dict[str, Any], device: Any, sets: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import torch
    from lidar_perf import KITTI_RANGE, kitti_cloud, voxelisers

    from jepakit_lidar.sparse import spconv_available
    from jepakit_lidar.voxelize import VoxelGrid

    cloud = kitti_cloud(0, p["beams"], p["azimuths"], p["max_range"])
    grids = {"plugin voxels 0.4x0.4x0.5 m, 32 points": (VoxelGrid(KITTI_RANGE, (0.4, 0.4, 0.5)), 32, 40000),
             "SECOND voxels 0.05x0.05x0.1 m, 5 points": (VoxelGrid(KITTI_RANGE, (0.05, 0.05, 0.1)), 5, 40000)}
    setups: dict[str, Callable[[int], Any]] = {}
    pairs = {}
    for label, (grid, mp, mv) in grids.items():
        vox = voxelisers(grid, mp, mv, "cpu")
        for name, fn in vox.items():
            setups[f"{name} ({label})"] = lambda i, fn=fn: fn(cloud)
        pairs[label] = [f"{name} ({label})" for name in vox]
    clock = Clock(torch.device("cpu"))
    times = clock.run(setups, p["rounds"])
    sec = med(times)
    desc = f"{len(cloud)} points ({p['beams']} x {p['azimuths']} rays), range {KITTI_RANGE}, CPU"
    rows = []
    for label, names in pairs.items():
        name = f"LiDAR voxelisation vs spconv PointToVoxel ({label})"
        if len(names) < 2:
            reason = "spconv not installed" if not spconv_available() else "spconv PointToVoxel unavailable"
            rows.append(skipped_row("lidar", name, names + ["spconv PointToVoxel"], reason, ">= 1"))
            continue
        r = sec[names[1]] / sec[names[0]]
        rows.append(row("lidar", name, names, sec, "scan", r, "spconv s/scan / jepakit_lidar s/scan", goal=">= 1", met=r >= 1.0,
                        config=desc, points=len(cloud)))
    return rows, {"peak_mib": clock.peak, "rounds": clock.rounds_done}


# ----------------------------------------------------------------------------- ecg / eeg


def batched(fn: Callable[[], Any], n: int) -> Callable[[int], int]:
    def run(i: int) -> int:
        for _ in range(n):
            fn()
        return n

    return run


def section_ecg(p: dict[str, Any], device: Any, sets: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import numpy as np
    import torch
    from ecg_perf import readers

    from jepakit_ecg.data import prepare
    from jepakit_ecg.leads import LEADS
    from jepakit_ecg.synthetic import synth_record
    from jepakit_ecg.testing import write_record

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "wfdb"
        rng = np.random.default_rng(0)
        for k in range(p["records"]):
            sig, _, _ = synth_record(rng, p["seconds"], 500.0)
            write_record(folder, f"r{k:03d}", sig, 500, list(LEADS))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prepare(folder, Path(tmp) / "prep", rate=p["rate"])
            r = readers(folder, Path(tmp) / "prep", p["rate"], p["crop"])
            names = {"wfdb": "per-record WFDB decode + conditioning", "decode_only": "wfdb.rdrecord alone", "prepared": "prepared store"}
            clock = Clock(torch.device("cpu"))
            times = clock.run({names[k]: batched(r[k], p["per_call"][k]) for k in names}, p["rounds"])
    sec = med(times)
    w, d, pr = names["wfdb"], names["decode_only"], names["prepared"]
    desc = f"{p['records']} records of {p['seconds']:g} s, 12 leads at 500 Hz, windows of {p['crop']:g} s at {p['rate']} Hz"
    return [row("ecg", "ECG loading: prepared store vs per-file WFDB decoding", [pr, w, d], sec, "window", sec[w] / sec[pr],
                "per-record s/window / prepared s/window", config=desc, vs_decode_only=sec[d] / sec[pr])], {"peak_mib": clock.peak, "rounds": clock.rounds_done}


def section_eeg(p: dict[str, Any], device: Any, sets: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import mne
    import torch
    from eeg_perf import decode_reader, edf_reader, prepared_reader

    from jepakit_eeg.data import prepare
    from jepakit_eeg.io import Preprocess, find_files
    from jepakit_eeg.synthetic import synthetic_cohort

    prep = Preprocess()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = Path(tmp) / "edf"
        folder.mkdir()
        for k, (sub, raw) in enumerate(synthetic_cohort(p["files"], 1, p["seconds"], 256.0, seed=1)):
            mne.export.export_raw(str(folder / f"{sub.name}_s001_t{k:03d}.edf"), raw, fmt="edf", overwrite=True, verbose="error")
        files = [f for f in find_files(folder) if f.suffix.lower() == ".edf"]
        store = prepare(folder, Path(tmp) / "prepared")
        names = {"edf": "EDF lazy read + crop + cleaning", "decode_only": "EDF decoding alone", "prepared": "prepared store"}
        readers = {"edf": edf_reader(files, p["window"], prep), "decode_only": decode_reader(files, p["window"]),
                   "prepared": prepared_reader(store, p["window"], prep.rate)}
        clock = Clock(torch.device("cpu"))
        times = clock.run({names[k]: batched(readers[k], p["per_call"][k]) for k in names}, p["rounds"])
    sec = med(times)
    e, d, pr = names["edf"], names["decode_only"], names["prepared"]
    desc = f"{len(files)} EDF files of {p['seconds']:g} s, windows of {p['window']:g} s at {prep.rate:g} Hz"
    return [row("eeg", "EEG loading: prepared store vs per-file EDF decoding", [pr, e, d], sec, "window", sec[e] / sec[pr],
                "per-file s/window / prepared s/window", config=desc, vs_decode_only=sec[d] / sec[pr])], {"peak_mib": clock.peak, "rounds": clock.rounds_done}


RUNNERS = {"jepa": section_jepa, "sigreg": section_sigreg, "sar": section_sar, "lidar": section_lidar, "ecg": section_ecg, "eeg": section_eeg}
PLUGIN_OF = {"sar": "jepakit_sar", "lidar": "jepakit_lidar", "ecg": "jepakit_ecg", "eeg": "jepakit_eeg"}
ROW_NAMES = {"sar": "SAR ROA: integral image vs conv kernels", "lidar": "LiDAR voxelisation vs spconv PointToVoxel",
             "ecg": "ECG loading: prepared store vs per-file WFDB decoding", "eeg": "EEG loading: prepared store vs per-file EDF decoding"}


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def child(name: str, smoke: bool, threads: int, sets: list[str], out: Path) -> None:
    """One section in this process: rows and memory to ``out`` (JSON)."""
    import importlib

    began = time.perf_counter()
    result: dict[str, Any] = {"section": name}
    try:
        import torch

        if threads:
            torch.set_num_threads(threads)
        if name in PLUGIN_OF:
            try:
                importlib.import_module(PLUGIN_OF[name])
            except ImportError as exc:
                result["rows"] = [skipped_row(name, ROW_NAMES[name], [], f"plugin {PLUGIN_OF[name]} not installed ({exc})")]
                raise SystemExit(0) from None
        device = pick_device()
        if name in ("lidar", "ecg", "eeg"):
            device = torch.device("cpu")  # voxelisation and loading run on the CPU, in the data pipeline
        base = maxrss_mib()
        params = (SMOKE if smoke else FULL)[name]
        rows, extra = RUNNERS[name](params, device, sets)
        peak = maxrss_mib()
        for r in rows:
            r["details"].setdefault("rounds", extra.get("rounds"))
        result.update(rows=rows, device=str(device), threads=torch.get_num_threads(), peak_rss_mib=peak, peak_rss_rise_mib=peak - base,
                      cuda_peak_mib=extra.get("peak_mib") or None, rounds=extra.get("rounds"))
    except SystemExit:
        pass
    except BaseException:
        result["error"] = traceback.format_exc()
    result["wall_s"] = time.perf_counter() - began
    out.write_text(json.dumps(result, default=str))


# ----------------------------------------------------------------------------- parent


def run_section(name: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    out = tmp / f"{name}.json"
    cmd = [sys.executable, os.path.abspath(__file__), "--section", name, "--section-out", str(out), "--threads", str(args.threads)]
    cmd += ["--smoke"] if args.smoke else []
    for s in args.set:
        cmd += ["--set", s]
    env = dict(os.environ)
    if args.threads:
        for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[k] = str(args.threads)
    env.setdefault("PYTHONWARNINGS", "ignore")
    limit = LIMITS["smoke" if args.smoke else "full"][name]
    began = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=limit)
        rc, tail = proc.returncode, (proc.stdout + proc.stderr)[-3000:]
    except subprocess.TimeoutExpired:
        rc, tail = -9, f"section {name} ran past its {limit} s limit"
    res = json.loads(out.read_text()) if out.exists() else {"section": name}
    res.setdefault("wall_s", time.perf_counter() - began)
    if rc != 0 and "error" not in res:
        res["error"] = f"exit {rc}: {tail}"
    res["rc"] = rc
    return res


def fmt(v: float | None) -> str:
    """Three significant figures (whole numbers from 1000 up); '-' for none or non-finite."""
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return "-"
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def fmt_s(v: float) -> str:
    return f"{v * 1e3:.3g} ms" if v < 1 else f"{v:.3g} s"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# jepakit performance suite{' (smoke: tiny sizes, figures meaningless)' if report['smoke'] else ''}",
        "",
        f"device {report['device']}, torch {report['torch']} ({report['threads']} threads), {report['platform']}, "
        f"{report['started']}, {report['wall_s']:.0f} s in all, load average {report['load_average']['before'][0]:.1f} before "
        f"and {report['load_average']['after'][0]:.1f} after",
        "",
    ]
    if max(report["load_average"]["before"][0], report["load_average"]["after"][0]) > (os.cpu_count() or 1):
        lines += ["**The machine was busy (load average above its CPU count): the setups shared the CPUs with other work "
                  "(and with several threads per section torch's thread pool is oversubscribed), so the figures are not to "
                  "be trusted; rerun on a quiet machine.**", ""]
    lines += [
        "| section | measure | setups: median s per unit (interleaved rounds) | ratio | GFLOP/step, GFLOP/s | peak memory | goal | result |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        sec = report["sections"].get(r["section"], {})
        mem = sec.get("cuda_peak_mib")
        if mem:
            memtxt = ", ".join(f"{k}: {mem[k]:.0f} MiB" for k in r["setups"] if k in mem)
        elif "peak_rss_mib" in sec:
            memtxt = f"section RSS {sec['peak_rss_mib']:.0f} MiB (+{sec['peak_rss_rise_mib']:.0f})"
        else:
            memtxt = "-"
        if r["skipped"]:
            lines.append(f"| {r['section']} | {r['name']} | skipped: {r['skipped']} | - | - | {memtxt} | {r['goal'] or '-'} | skipped |")
            continue
        setups = "; ".join(f"{k}: {fmt_s(r['seconds'][k])}/{r['unit']}" for k in r["setups"] if k in r["seconds"])
        if r["details"].get("rounds"):
            setups += f" ({r['details']['rounds']} rounds)"
        fl = "-"
        if r["flops"]:
            fl = "; ".join(f"{k}: {fmt(r['flops'][k] / 1e9)}, {fmt(r['gflops_per_s'][k])}" for k in r["setups"] if k in r["flops"])
        extra = ""
        d = r["details"]
        if "r2" in d:
            extra = f" (R^2 {d['r2']:.4f}, {d['slope_s_per_sample'] * 1e6:.3g} us/sample)"
        if "vs_decode_only" in d:
            extra = f" ({fmt(d['vs_decode_only'])}x vs decoding alone)"
        result = "-" if r["met"] is None else ("pass" if r["met"] else "miss")
        lines.append(f"| {r['section']} | {r['name']} | {setups} | **{fmt(r['ratio'])}**{extra} ({r['ratio_is']}) | {fl} | {memtxt} | "
                     f"{r['goal'] or '-'} | {result} |")
    errors = {k: v["error"] for k, v in report["sections"].items() if v.get("error")}
    for k, e in errors.items():
        lines += ["", f"**section {k} failed**:", "", "```", e.strip()[-2000:], "```"]
    lines += ["", f"Memory: {report['memory_method']}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: every section, finite ratios, about a minute")
    ap.add_argument("--out", default="runs/perf", help="folder for perf.md and perf.json")
    ap.add_argument("--only", default="", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    ap.add_argument("--threads", type=int, default=2, help="torch (and BLAS) threads per section; 0: the libraries' defaults")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for the jepakit JEPA setups")
    ap.add_argument("--section", help=argparse.SUPPRESS)
    ap.add_argument("--section-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.section:
        child(args.section, args.smoke, args.threads, args.set, Path(args.section_out))
        return 0
    only = [s.strip() for s in args.only.split(",") if s.strip()] or list(SECTIONS)
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        ap.error(f"unknown section {bad[0]!r}; sections: {', '.join(SECTIONS)}")
    import torch

    began = time.perf_counter()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    load_before = os.getloadavg()
    sections: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in only:
            print(f"[perf] {name} ...", end=" ", flush=True)
            sections[name] = run_section(name, args, Path(tmp))
            print(f"{sections[name]['wall_s']:.1f} s{' FAILED' if sections[name].get('error') else ''}", flush=True)
    rows = []
    for name in only:
        res = sections[name]
        for r in res.get("rows") or []:
            cuda_mem = res.get("cuda_peak_mib") or {}
            if cuda_mem:
                r["peak_memory_mib"] = {k: cuda_mem[k] for k in r["setups"] if k in cuda_mem}
            elif "peak_rss_mib" in res:
                r["peak_memory_mib"] = {"section peak RSS": res["peak_rss_mib"], "section RSS rise": res["peak_rss_rise_mib"]}
            rows.append(r)
        if res.get("error") and not res.get("rows"):
            rows.append(row(name, f"{name} (failed)", [], {}, "", None, "", skipped=None, error=res["error"][-2000:]))
    cuda = torch.cuda.is_available()
    report = {
        "smoke": args.smoke, "started": started, "wall_s": time.perf_counter() - began,
        "device": f"cuda ({torch.cuda.get_device_name(0)}), bf16 autocast" if cuda else "cpu, float32",
        "threads": args.threads or torch.get_num_threads(), "torch": torch.__version__,
        "platform": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "lightly": lightly_status() or "installed", "sets": args.set,
        "memory_method": ("torch.cuda.max_memory_allocated per setup (reset before every call, max over calls); "
                          if cuda else "") + "CPU: each section in its own subprocess; peak RSS from resource.getrusage(RUSAGE_SELF)."
                         "ru_maxrss at the section's end, and in brackets its rise over the high-water mark after the section's "
                         "imports (data making and model building included; a section's figure is that of its largest setup)",
        "load_average": {"before": load_before, "after": os.getloadavg()}, "sections": sections, "rows": rows,
    }
    text = markdown(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "perf.md").write_text(text)
    (out / "perf.json").write_text(json.dumps(report, indent=1, default=str))
    print(text)
    print(f"wrote {out / 'perf.md'} and {out / 'perf.json'}")
    return 1 if any(v.get("error") for v in sections.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
