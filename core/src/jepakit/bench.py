"""The benchmark harness: pretrain on a domain's data, then compare the JEPA encoder's
probes with the same architecture at random init, trained supervised from scratch, and
the domain's own baselines, at each label fraction, over several seeds."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import config as cfgmod
from .collapse import probe_indices
from .contract import Domain, Task
from .domain import Evaluation
from .errors import ConfigError, JepakitError, notice
from .evaluate import (
    Features,
    group_average,
    group_items,
    groups_of,
    item_embeddings,
    label_efficiency,
    labels_of,
    n_classes_in,
    rankme,
    score,
    subset_indices,
    task_features,
    with_split,
)
from .finetune import supervised_scores, trainable_copy
from .lazy import resolve
from .model import wanted_keywords
from .plugins import get_domain, registry
from .report import caveats, dump, metrics_json, pretraining_summary, table, write_report
from .task_kinds import task_kind
from .train import (
    Run,
    build_backbone,
    collate_of,
    load_bundle,
    load_run,
    pick_device,
    pretrain,
    resolve_config,
    split_data_object,
    user_layers,
)


@dataclass
class BenchResult:
    domain: str
    out: Path
    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    runs: dict[str, Run] = field(default_factory=dict)
    rankme: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    table: str = ""


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std over seeds of every metric, per (task, method, fraction)."""
    keys: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        keys.setdefault((r["task"], r["method"], r["fraction"]), []).append(r)
    out = []
    skip = {"task", "method", "fraction", "seed", "head", "kind", "n_labels", "primary"}
    for (task, method, frac), group in keys.items():
        entry: dict[str, Any] = {"task": task, "method": method, "fraction": frac, "kind": group[0]["kind"], "n_labels": group[0]["n_labels"], "seeds": len(group)}
        if "primary" in group[0]:  # a domain evaluation names its own metric
            entry["primary"] = group[0]["primary"]
        for metric in group[0]:
            if metric in skip or not isinstance(group[0][metric], (int, float)):
                continue
            vals = np.array([g[metric] for g in group if metric in g], dtype=float)
            entry[metric] = float(np.nanmean(vals))
            entry[metric + "_std"] = float(np.nanstd(vals))
        out.append(entry)
    return out


def _task_rows(
    task_name: str, task: Task, method: str, feats: Features, heads, ecfg, kind: str
) -> list[dict[str, Any]]:
    rows = label_efficiency(feats, task, heads, ecfg["fractions"], int(ecfg["seeds"]), ecfg)
    for r in rows:
        r.update(task=task_name, method=f"{method}/{r.pop('head')}" if len(heads) > 1 or method != "supervised" else method, kind=kind)
    return rows


def _item_indices(task: Task, group_idx: np.ndarray, groups: list[np.ndarray] | None) -> np.ndarray:
    if groups is None:
        return group_idx
    return np.concatenate([groups[g] for g in group_idx])


def run_bench(
    domain: str | Domain,
    quick: bool = False,
    data: Any = None,
    config: Mapping[str, Any] | str | os.PathLike | None = None,
    overrides: Any = None,
    out: str | os.PathLike | None = None,
    echo: bool = True,
) -> BenchResult:
    """Python twin of ``jepakit bench DOMAIN``: writes ``report.md``, ``metrics.json`` and
    PNG plots into ``out`` and returns the rows. ``data``: a path or an in-memory object
    for the domain's loader (passed to it unchanged)."""
    began = time.perf_counter()
    dom = get_domain(domain) if isinstance(domain, str) else domain
    obj, (config, overrides) = split_data_object(data, config, overrides)
    preset = dom.quick if quick else dom.bench
    cfg = resolve_config(dom, config, overrides, preset, obj if obj is not None else data)
    out_dir = Path(out) if out is not None else Path("runs") / f"bench-{dom.name}{'-quick' if quick else ''}-{time.strftime('%Y%m%d-%H%M%S')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    # a domain's several default datasets, unless the user pointed at data of their own or
    # set a key that picks among them; the datasets never override the user's settings
    base = resolve_config(dom, None, None, preset, None)["data"]
    picked = any(cfg["data"].get(k) != base.get(k) for ds in dict(dom.datasets or {}).values() for k in ds)
    user_data = cfgmod.has_user_data(cfg) or picked
    datasets = dict(dom.datasets) if dom.datasets and not user_data else {"": {}}
    rows: list[dict[str, Any]] = []
    ranks: dict[str, float] = {}
    runs: dict[str, Run] = {}
    for ds_name, ds_overrides in datasets.items():
        dcfg = cfgmod.merge(cfg, {"data": dict(ds_overrides)}) if ds_overrides else cfg
        probed = _bench_data(dom, dcfg, out_dir / ds_name if ds_name else out_dir, ds_name, echo, obj,
                             [layer for layer in user_layers(config, overrides) if layer])
        rows += probed.rows
        ranks.update(probed.ranks)
        runs.update(probed.runs)
    summary = summarise(rows)
    for line in caveats(summary):
        notice(line)
    result = BenchResult(dom.name, out_dir, rows, summary, runs, ranks, time.perf_counter() - began)
    result.table = write_report(result, cfg, quick)
    if echo:
        print(result.table)
        print(f"[{dom.name}] {result.seconds:.1f} s; report: {out_dir / 'report.md'}", flush=True)
    return result


@dataclass
class _Probed:
    """What one dataset adds to a benchmark: its probe rows, the RankMe of each probed
    encoder (``"task:method"``) and its pretraining runs, named ``"dataset:variant"``."""

    rows: list[dict[str, Any]]
    ranks: dict[str, float]
    runs: dict[str, Run]


def _bench_data(
    dom: Domain, cfg: dict[str, Any], out_dir: Path, prefix: str, echo: bool,
    data: Any = None, user: list[Mapping[str, Any]] | None = None,
) -> _Probed:
    """Pretrain every variant on one dataset and probe it (``data``: an in-memory data
    object for the loader, or None). The user's config layers ``user`` are applied over
    each variant's overrides: a user's setting always wins."""
    tag = f"{prefix}:" if prefix else ""
    rows: list[dict[str, Any]] = []
    ranks: dict[str, float] = {}
    ecfg = cfg["eval"]
    split = ecfg.get("split", "test")
    if split not in ("test", "validation"):
        raise ConfigError(f"eval.split must be test or validation, got {split!r}")
    bundle = with_split(load_bundle(dom, cfg, data=data), split)
    if not bundle.tasks:
        raise JepakitError(f"domain {dom.name!r} has no benchmark task for this data")
    device = pick_device(cfg["train"]["device"])
    collate = collate_of(bundle)
    variants = pick_variants(dom, ecfg.get("variants"))
    runs: dict[str, Run] = {}
    for name, extra in variants.items():
        vcfg = cfgmod.merge(cfg, extra, *(user or []))
        clash = _clashes(extra, user or [])
        if clash:
            notice(f"variant {name!r}: your setting of {', '.join(clash)} replaces the variant's")
        vbundle = bundle if "data" not in extra else with_split(load_bundle(dom, vcfg, data=data), split)
        if echo:
            print(f"[{dom.name}] pretraining {name}: {vbundle.describe or ''}".rstrip(": "), flush=True)
        runs[name] = pretrain(dom, config=vcfg, out=out_dir / name, bundle=vbundle, echo=False, overwrite=True)
    for raw_name, task in bundle.tasks.items():
        task_name = tag + raw_name
        heads = list(ecfg["heads"])
        if echo:
            print(f"[{dom.name}] probing {task_name}", flush=True)
        first_feats = None
        for name, run in runs.items():
            vb = run.bundle
            vtask = vb.tasks.get(raw_name, task)
            feats = task_features(run.model.encoder_for_eval(run.config["eval"]["encoder"]), vtask, ecfg, collate_of(vb), device, name=task_name)
            first_feats = first_feats or feats
            label = name if name == "jepa" else f"jepa[{name}]"
            rows += _task_rows(task_name, vtask, label, feats, heads, ecfg, task.kind)
            ranks[f"{task_name}:{label}"] = pooled_rankme(feats.x_test)
        if ecfg["random_init"]:
            torch.manual_seed(int(cfg["train"]["seed"]) + 1)
            rand = build_backbone(cfg, bundle).to(device)
            feats = task_features(rand, task, ecfg, collate, device, name=task_name)
            rows += _task_rows(task_name, task, "random-init", feats, heads, ecfg, task.kind)
            ranks[f"{task_name}:random-init"] = pooled_rankme(feats.x_test)
        # the finetune row: the first (default) variant's encoder, on that variant's items
        first = next(iter(runs.values()))
        ft_task, ft_collate = first.bundle.tasks.get(raw_name, task), collate_of(first.bundle)
        ft_encoder, ft_groups = first.model.encoder_for_eval(first.config["eval"]["encoder"]), group_items(ft_task, "train")
        y_groups = first_feats.y_train
        n_classes = n_classes_in(task, first_feats.y_train, first_feats.y_test)
        groups = group_items(task, "train")
        # a domain's baselines read its own dataset types, which a validation split wraps
        extra_methods: dict[str, Any] = dict(dom.baselines) if split == "test" else {}
        jobs = [(f, s) for f in ecfg["fractions"] for s in range(int(ecfg["seeds"]))]
        if echo and jobs and (ecfg["supervised"] or ecfg["finetune"] or extra_methods):
            from .progress import progress

            jobs = progress(jobs, desc=f"{dom.name} {task_name}: supervised/finetune/baselines", unit="run", leave=False)
        for frac, seed in jobs:
            gidx = subset_indices(y_groups, task.kind, frac, seed)
            items = _item_indices(task, gidx, groups)
            if ecfg["supervised"]:
                pred, y = supervised_scores(
                    lambda: build_backbone(cfg, bundle), task, items, ecfg, collate, device, seed, n_classes
                )
                rows.append({"task": task_name, "method": "supervised", "fraction": frac, "seed": seed, "n_labels": int(len(gidx)), "kind": task.kind, **score(task.kind, y, pred, n_classes)})
            if ecfg["finetune"]:  # the same loop and budget as the scratch row, from the pretrained encoder
                pred, y = supervised_scores(
                    lambda enc=ft_encoder: trainable_copy(enc), ft_task, _item_indices(ft_task, gidx, ft_groups), ecfg, ft_collate, device,
                    seed, n_classes, pretrained=True,
                )
                rows.append({"task": task_name, "method": "finetune", "fraction": frac, "seed": seed, "n_labels": int(len(gidx)), "kind": task.kind, **score(task.kind, y, pred, n_classes)})
            for bname, fn in extra_methods.items():
                pred = np.asarray(fn(task, items.tolist(), seed))
                pred, y, _ = group_average(pred, labels_of(task.test), groups_of(task.test, task.group_key))
                rows.append({"task": task_name, "method": bname, "fraction": frac, "seed": seed, "n_labels": int(len(gidx)), "kind": task.kind, **score(task.kind, y, pred, n_classes)})
    rows += _evaluation_rows(dom, cfg, bundle, runs, tag, device, echo)
    return _Probed(rows, ranks, {tag + name: run for name, run in runs.items()})


def _evaluation_rows(
    dom: Domain, cfg: Mapping[str, Any], bundle: Any, runs: Mapping[str, Run], tag: str, device: Any, echo: bool,
) -> list[dict[str, Any]]:
    """The domain's own evaluations (:class:`jepakit.domain.Evaluation`) of each pretrained
    variant's eval encoder and of the random-init encoder, per label fraction and seed."""
    ecfg = cfg["eval"]
    rows: list[dict[str, Any]] = []
    for ename, ev in dict(dom.evaluations or {}).items():
        if not isinstance(ev, Evaluation):
            raise JepakitError(f"domain {dom.name!r}: evaluation {ename!r} is not a jepakit.domain.Evaluation: {ev!r}")
        fn = resolve(ev.run)
        wants = wanted_keywords(fn, ("encoder", "model", "bundle", "fraction", "seed", "config"))
        subjects: list[tuple[str, Any, Any, Any, Mapping[str, Any]]] = [
            (name if name == "jepa" else f"jepa[{name}]", run.model.encoder_for_eval(run.config["eval"]["encoder"]), run.model,
             run.bundle, run.config) for name, run in runs.items()
        ]
        if ecfg["random_init"]:
            torch.manual_seed(int(cfg["train"]["seed"]) + 1)
            subjects.append(("random-init", build_backbone(cfg, bundle).to(device), None, bundle, cfg))
        if echo:
            print(f"[{dom.name}] evaluating {tag}{ename}", flush=True)
        fractions = ecfg["fractions"] if ev.uses_labels else [1.0]
        for label, encoder, model, vbundle, vcfg in subjects:
            encoder.eval()
            for frac in fractions:
                for seed in range(int(ecfg["seeds"])):
                    given = {"encoder": encoder, "model": model, "bundle": vbundle, "fraction": float(frac), "seed": seed, "config": vcfg}
                    metrics = dict(fn(**{k: given[k] for k in wants}))
                    if ev.metric not in metrics:
                        raise JepakitError(f"domain {dom.name!r}: evaluation {ename!r} returned no {ev.metric!r} (got {sorted(metrics)})")
                    n = metrics.pop("n_labels", None)
                    rows.append({"task": tag + ename, "method": label, "fraction": float(frac), "seed": seed,
                                 "n_labels": None if n is None else int(n), "kind": "evaluation",
                                 "primary": ",".join((ev.metric, *ev.also)),
                                 **{k: float(v) for k, v in metrics.items()}})
    return rows


def _clashes(extra: Mapping[str, Any], user: list[Mapping[str, Any]]) -> list[str]:
    """``section.key`` names that a variant sets and a user layer sets otherwise."""
    out = []
    for section, values in extra.items():
        for key, value in (values or {}).items() if isinstance(values, Mapping) else ():
            mine = [u[section][key] for u in user if isinstance(u.get(section), Mapping) and key in u[section]]
            if mine and mine[-1] != value:
                out.append(f"{section}.{key}")
    return out


def pick_variants(dom: Domain, names: Any) -> dict[str, Any]:
    """The variants ``eval.variants`` names (all of the domain's when None)."""
    if not dom.variants:
        return {"jepa": {}}
    if names is None:
        return dict(dom.variants)
    names = [names] if isinstance(names, str) else list(names)
    bad = [n for n in names if n not in dom.variants]
    if bad or not names:
        raise ConfigError(f"eval.variants: domain {dom.name!r} has no variant {bad[0] if bad else '(none named)'!r}; valid: {', '.join(dom.variants)}")
    return {n: dom.variants[n] for n in names}


def pooled_rankme(x: np.ndarray) -> float:
    """RankMe of test embeddings (n, D); per-token embeddings (n, N, D) are mean-pooled."""
    return rankme(x.mean(1) if x.ndim == 3 else x)


def installed_domains() -> list[str]:
    return sorted(registry("domain"))


def primary_metric(kind: str) -> str:
    return task_kind(kind).primary


# with_split, dump, metrics_json and pretraining_summary moved to evaluate and report; the
# benchmarks (and other callers) still import them from here
__all__ = [
    "BenchResult", "dump", "installed_domains", "metrics_json", "pretraining_summary", "run_bench", "summarise", "with_split",
]


def run_evaluate(
    checkpoint: str | os.PathLike, data: Any = None, overrides: Any = None, out: str | os.PathLike | None = None,
    echo: bool = True,
) -> BenchResult:
    """Python twin of ``jepakit evaluate CHECKPOINT``: probes of a pretrained encoder on
    its domain's tasks (``eval`` settings can be overridden) and RankMe. ``data``: a path
    or an in-memory object (read with the checkpoint's fitted data facts)."""
    began = time.perf_counter()
    run = load_run(checkpoint, data)
    cfg = cfgmod.merge(run.config, overrides if isinstance(overrides, Mapping) or overrides is None else cfgmod.parse_sets(overrides))
    ecfg = cfg["eval"]
    device = pick_device(cfg["train"]["device"])
    run.model.to(device)
    rows: list[dict[str, Any]] = []
    ranks: dict[str, float] = {}
    for task_name, task in run.bundle.tasks.items():
        feats = task_features(run.model.encoder_for_eval(ecfg["encoder"]), task, ecfg, collate_of(run.bundle), device, name=task_name)
        rows += _task_rows(task_name, task, "jepa", feats, list(ecfg["heads"]), ecfg, task.kind)
        ranks[f"{task_name}:jepa"] = pooled_rankme(feats.x_test)
    unlabelled = None  # no task: RankMe of (up to train.rankme_samples) pretraining items alone
    if not run.bundle.tasks:
        idx = probe_indices(len(run.bundle.pretrain), int(cfg["train"]["rankme_samples"]))
        z = item_embeddings(run.model.encoder_for_eval(ecfg["encoder"]), run.bundle.pretrain, idx, "mean", int(ecfg["batch_size"]),
                            collate_of(run.bundle), device)
        unlabelled = (rankme(z), int(z.shape[0]))
        ranks["pretrain:jepa"] = unlabelled[0]
    out_dir = Path(out) if out is not None else run.out / "evaluation"
    out_dir.mkdir(parents=True, exist_ok=True)
    result = BenchResult(run.domain, out_dir, rows, summarise(rows), {}, ranks, time.perf_counter() - began)
    if unlabelled is not None:
        value, n = unlabelled
        note = "this data has no labelled task; only RankMe is reported"
        dump({"checkpoint": str(run.checkpoint), "rankme": ranks, "rankme_items": n, "note": note, "summary": [], "rows": []},
             out_dir / "metrics.json")
        (out_dir / "report.md").write_text(f"# jepakit evaluate {run.checkpoint}\n\nRankMe: {value:.2f} (of {n} items)\n\n{note}\n")
        if echo:
            print(f"RankMe: {value:.2f} (of {n} items)")
            print(note)
        return result
    for line in caveats(result.summary):
        notice(line)
    result.table = table(result.summary, ecfg.get("metrics"), ranks)
    dump({"checkpoint": str(run.checkpoint), "rankme": ranks, "summary": result.summary, "rows": rows}, out_dir / "metrics.json")
    (out_dir / "report.md").write_text(f"# jepakit evaluate {run.checkpoint}\n\n{result.table}\n\nRankMe: {ranks}\n")
    if echo:
        print(result.table)
        print("RankMe: " + ", ".join(f"{k} {v:.1f}" for k, v in ranks.items()))
    return result
