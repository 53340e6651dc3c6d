"""Wall time to equal probe accuracy: pretrain one domain under several setups (the
one-pass and the per-group predictor by default), probe every saved checkpoint, and
report how much *training* time each setup needs to reach the same 10 %-label probe score.

    python benchmarks/time_to_accuracy.py sar --every 100
    python benchmarks/time_to_accuracy.py lidar --set train.steps=300 --every 50

Each setup is a normal ``pretrain`` with ``train.ckpt_every=EVERY`` (all checkpoints
kept). Training time at step ``s`` is the sum of the per-step ``seconds`` the run's
history records up to ``s`` (checkpoint writing and probing excluded), so the setups
are compared on the work they do, not on what the benchmark adds. Each checkpoint's
encoder (``eval.encoder``) is probed with a linear head on ``FRACTION`` of the labels of
a *validation* split of the first task's training items (the test split is never read),
averaged over ``--draws`` label draws. The target is the lower of the setups' final
scores, so every setup reaches it; a setup's time is that of its first checkpoint at or
above the target. Setups run one after the other (a pretraining run cannot be
interleaved step by step with another); run it on an idle machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from jepakit import get_domain
from jepakit.bench import primary_metric, with_split
from jepakit.checkpoint import read_checkpoint
from jepakit.config import parse_sets
from jepakit.evaluate import label_efficiency, task_features
from jepakit.train import build, collate_of, load_bundle, load_weights, pick_device, pretrain, resolve_config

SETUPS = {"per-group": "predictor.one_pass=false", "one-pass": "predictor.one_pass=true"}


def _parse_setup(text: str) -> tuple[str, list[str]]:
    name, _, sets = text.partition("=")
    return name, [s for s in re.split(r",(?=[A-Za-z_]+(?:\.[A-Za-z_]+)?=)", sets) if s]


def probe_curve(run_dir: Path, cfg: dict, bundle, fraction: float, draws: int) -> list[dict]:
    """(step, training seconds, probe score) of every checkpoint of a run."""
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines() if line.strip()]
    seconds = {}
    total = 0.0
    for rec in sorted({r["step"]: r for r in history}.values(), key=lambda r: r["step"]):
        total += float(rec["seconds"])
        seconds[rec["step"]] = total
    model, _ = build(cfg, bundle)
    device = pick_device(cfg["train"]["device"])
    ecfg = cfg["eval"]
    task_name, task = next(iter(bundle.tasks.items()))
    out = []
    for ckpt in sorted((run_dir / "checkpoints").glob("step-*")):
        _, state, weights = read_checkpoint(ckpt)
        load_weights(model, weights, ckpt)
        model.eval()
        feats = task_features(model.encoder_for_eval(ecfg["encoder"]).to(device), task, ecfg, collate_of(bundle), device)
        metric = primary_metric(task.kind)
        scores = [r[metric] for r in label_efficiency(feats, task, ["linear"], [fraction], draws, ecfg)]
        step = int(state["step"])
        out.append({"step": step, "seconds": seconds.get(step, float("nan")), "score": float(np.mean(scores)), "metric": metric, "task": task_name})
    return out


def layered(*layers: dict) -> dict:
    """Sections of later layers update earlier ones key by key (the core validates them)."""
    out: dict = {}
    for layer in layers:
        for section, values in layer.items():
            out.setdefault(section, {}).update(values)
    return out


def interleaved_step_seconds(cfgs: dict[str, dict], bundle, rounds: int = 6) -> dict[str, float]:
    """Median seconds of one training step (forward + backward) of each setup, the setups
    interleaved on the same batch and masks: per-step cost free of the machine's drift
    between the sequential runs."""
    import statistics

    import torch

    models = {}
    for name, cfg in cfgs.items():
        torch.manual_seed(0)
        models[name] = build(cfg, bundle)
    cfg = next(iter(cfgs.values()))
    bs = int(cfg["train"]["batch_size"])
    batch = collate_of(bundle)([bundle.pretrain[i % len(bundle.pretrain)] for i in range(bs)])
    model0, sampler = next(iter(models.values()))
    drawn = sampler(model0.backbone.tokenizer.layout(batch), bs, torch.Generator().manual_seed(0))
    times: dict[str, list[float]] = {n: [] for n in models}
    for r in range(rounds + 1):
        order = list(models) if r % 2 else list(reversed(models))
        for name in order:
            model = models[name][0]
            model.train()
            began = time.perf_counter()
            model(batch, drawn)["loss"].backward()
            model.zero_grad(set_to_none=True)
            if r:  # the first round warms up
                times[name].append(time.perf_counter() - began)
    return {n: statistics.median(t) for n, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("domain")
    ap.add_argument("--setup", action="append", default=[], metavar="NAME=SETS", help="a setup (default: per-group and one-pass)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="applies to every setup")
    ap.add_argument("--every", type=int, default=100, help="probe every EVERY steps")
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="the quick preset instead of the bench preset")
    ap.add_argument("--out", help="folder for the runs and the JSON (default: a temporary folder)")
    ap.add_argument("--reuse", action="store_true", help="probe the runs already in --out instead of pretraining again")
    args = ap.parse_args()

    dom = get_domain(args.domain)
    dom = dataclasses.replace(dom, variants={}, datasets={})
    setups = [_parse_setup(s) for s in args.setup] or [_parse_setup(f"{k}={v}") for k, v in SETUPS.items()]
    common = parse_sets(args.set)
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="tta-"))
    root.mkdir(parents=True, exist_ok=True)
    curves: dict[str, list[dict]] = {}
    cfgs: dict[str, dict] = {}
    preset = dom.quick if args.quick else dom.bench
    for name, sets in setups:
        run_keys = {"train": {"progress": False, "ckpt_every": args.every, "ckpt_minutes": 0, "keep_checkpoints": 10_000}}
        over = layered(common, parse_sets(sets), run_keys)
        cfg = resolve_config(dom, None, over, preset, None)
        bundle = with_split(load_bundle(dom, cfg), "validation")
        began = time.perf_counter()
        if not (args.reuse and (root / name / "history.jsonl").exists()):
            pretrain(dom, config=cfg, out=root / name, bundle=bundle, echo=False, overwrite=True)
        wall = time.perf_counter() - began
        cfgs[name] = cfg
        curves[name] = probe_curve(root / name, cfg, bundle, args.fraction, args.draws)
        last = curves[name][-1]
        print(f"[{args.domain}] {name}: {last['step']} steps, {last['seconds']:.0f} s training ({wall:.0f} s wall), "
              f"final {last['metric']} {last['score']:.3f}", flush=True)
    target = min(c[-1]["score"] for c in curves.values())
    base = setups[0][0]
    reach = {n: next((p for p in c if p["score"] >= target), None) for n, c in curves.items()}
    metric = next(iter(curves.values()))[-1]["metric"]
    print(f"\n{args.domain}: time to a {args.fraction:g}-label validation {metric} of {target:.3f} (the lower final score)\n")
    step_s = interleaved_step_seconds(cfgs, bundle)
    print(f"| setup | final {metric} | steps to target | training s to target (run's clock) | ratio | s/step (run) "
          f"| s/step (interleaved) | s to target (interleaved) | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, c in curves.items():
        r, r0 = reach[name], reach[base]
        per_step = c[-1]["seconds"] / c[-1]["step"]
        if r is None or r0 is None:
            print(f"| {name} | {c[-1]['score']:.3f} | – | – | – | {per_step:.3f} | {step_s[name]:.3f} | – | – |")
            continue
        t_i, t0_i = r["step"] * step_s[name], r0["step"] * step_s[base]
        print(f"| {name} | {c[-1]['score']:.3f} | {r['step']} | {r['seconds']:.0f} | {r['seconds'] / r0['seconds']:.2f} | "
              f"{per_step:.3f} | {step_s[name]:.3f} | {t_i:.0f} | {t_i / t0_i:.2f} |")
    (root / "time_to_accuracy.json").write_text(json.dumps({"domain": args.domain, "target": target, "metric": metric,
                                                             "curves": curves, "setups": dict(setups),
                                                             "interleaved_step_seconds": step_s}, indent=1))
    print(f"\ncurves: {root / 'time_to_accuracy.json'}")


if __name__ == "__main__":
    main()
