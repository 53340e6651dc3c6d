"""Does pretraining pay? One pretraining run, then the same probe on the pretrained
encoder and on a randomly initialised encoder of the same shape (and on any of the
domain's baselines), over many label draws with the same labelled rows for every row of
the table, so the wins can be counted draw by draw.

    JEPAKIT_PLUGINS=tabular python benchmarks/pretraining_gain.py tabular --dataset digits \\
        --set train.steps=3000 --baseline raw/linear --draws 10

Prints mean +- std of the task's primary metric per encoder and, for the pretrained one,
in how many draws it beats each other row.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from jepakit import get_domain
from jepakit.config import parse_sets
from jepakit.evaluate import PRIMARY, fit_predict, n_classes_of, score, subset_indices, task_features
from jepakit.train import build_backbone, pretrain


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("domain")
    ap.add_argument("--dataset", help="one of the domain's default datasets")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--head", default="linear")
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--baseline", action="append", default=[], help="a baseline of the domain, e.g. raw/linear")
    args = ap.parse_args()

    dom = get_domain(args.domain)
    overrides = parse_sets(args.set)
    if args.dataset:
        overrides.setdefault("data", {}).update(dom.datasets[args.dataset])
    overrides.setdefault("train", {})["progress"] = False
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        run = pretrain(dom, overrides=overrides, out=out)
    seconds = time.perf_counter() - began
    ecfg = run.config["eval"]
    torch.manual_seed(0)
    encoders = {"pretrained": run.model.encoder_for_eval(ecfg["encoder"]), "random-init": build_backbone(run.config, run.bundle)}
    for task_name, task in run.bundle.tasks.items():
        kind, metric = task.kind, PRIMARY[task.kind]
        feats = {k: task_features(bb, task, ecfg, run.bundle.collate, "cpu") for k, bb in encoders.items()}
        y_train, y_test = feats["pretrained"].y_train, feats["pretrained"].y_test
        n_cls = n_classes_of(task, np.concatenate([y_train, y_test]) if kind == "multiclass" else y_train)
        scores: dict[str, np.ndarray] = {}
        for name in [*feats, *args.baseline]:
            s = []
            for seed in range(args.draws):
                idx = subset_indices(y_train, kind, args.fraction, seed)
                if name in feats:
                    f = feats[name]
                    pred = fit_predict(args.head, kind, f.x_train[idx], y_train[idx], f.x_test, n_cls, seed)
                else:
                    pred = dom.baselines[name](task, idx, seed)
                s.append(score(kind, y_test, pred, n_cls)[metric])
            scores[name] = np.asarray(s)
        print(f"{args.domain} {task_name}: {args.head} probe, {metric} at {args.fraction:g} labels, {args.draws} draws, pretraining {seconds:.0f} s")
        for name, s in scores.items():
            wins = "" if name == "pretrained" else f"   pretrained ahead in {(scores['pretrained'] > s).sum()}/{len(s)} draws"
            print(f"  {name:<14} {s.mean():.3f} +- {s.std():.3f}{wins}")


if __name__ == "__main__":
    main()
