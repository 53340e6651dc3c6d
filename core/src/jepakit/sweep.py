"""Hyper-parameter sweeps judged without labels: ``jepakit sweep DOMAIN``.

Every trial is an ordinary pretraining run (``OUT/trial-NNN/``, so ``jepakit runs OUT``
and ``jepakit evaluate OUT/trial-003`` work on it) with its own overrides over one base
config: the domain's defaults (its ``quick`` preset with ``quick=True``) <- ``config`` <-
``overrides``. A fixed share of the pretraining items (``holdout``; whole groups when the
dataset has a ``groups`` array) is held out of every trial's pretraining, and each trial
is judged by RankMe of the pooled (``eval.pool``) embeddings of those unlabelled items
(at most ``train.rankme_samples`` of them, a fixed sample). The highest RankMe is the
pick (ties: the first trial), linked as ``OUT/best`` (``OUT/best.txt`` where symlinks
fail).

Where the data has labelled tasks, each trial is also probed on the first task's
*validation* split of its training items (:func:`jepakit.evaluate.validation_task`; the
test split is never read): a linear probe on ``label_fraction`` of the probe-training
items, the task kind's primary metric, mean over ``eval.seeds`` label draws. Over the
trials the sweep reports the Spearman correlation between RankMe and that score and the
regret of trusting RankMe: the probe score of the label-based pick minus that of
RankMe's pick, in the metric's units.

Search spaces (``--grid``, repeatable; ``space=`` in Python):

- ``key=v1,v2,...``: a list of values (each read like a ``--set`` value). Without
  ``random`` the trials are the cartesian product of all lists, the first key varying
  slowest. Commas inside brackets do not split: ``eval.fractions=[0.1,1.0],[1.0]``.
- ``key=lo:hi``: a range, for ``random`` only. Integers when both bounds are written as
  integers (uniform over ``lo..hi``), else log-uniform when ``lo > 0`` (learning rates),
  else uniform; ``lo:hi:int``, ``lo:hi:log`` and ``lo:hi:lin`` choose explicitly. Drawn
  floats are rounded to 3 significant digits.
- ``random=N`` draws N distinct trials (fewer, with a notice, when the lists hold fewer
  combinations), each key independently, from a generator seeded with ``seed``.

A component section alone names the component (``recipe=jepa,lejepa``). ``data.*`` keys
cannot vary: every trial is judged on the same held-out items. Every trial's config is
resolved, and every model built once, before any training, so a bad key or value fails
in one line at once.

Files: ``sweep-spec.json`` (what the sweep is: domain, base config, trials, holdout,
label fraction, seed), ``OUT/trial-NNN/trial.json`` (written when the trial is complete:
overrides, RankMe, probe score, seconds, status), ``sweep.json``, ``sweep.md`` and
``sweep.png``. ``resume=True`` skips trials whose ``trial.json`` exists and reruns the
others from scratch; it refuses a folder whose spec differs. ``jobs > 1`` runs trials in
that many spawned processes (torch threads: cores // jobs each).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import pickle
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config as cfgmod
from .console import one_line_warnings
from .errors import (
    ConfigError,
    DataError,
    JepakitError,
    TrainingCollapsed,
    TrainingDiverged,
    TrainingInterrupted,
    notice,
)

SPEC_FILE = "sweep-spec.json"
TRIAL_FILE = "trial.json"
# settings that change how a sweep runs, not what it trains: a resumed sweep may differ in them
RUNTIME_KEYS = {"train.progress", "train.workers", "train.device"}


@dataclass(frozen=True)
class Range:
    """A range of values for random search: ``kind`` ``int`` (uniform over lo..hi),
    ``log`` (log-uniform floats, lo > 0) or ``lin`` (uniform floats)."""

    lo: float
    hi: float
    kind: str = "log"

    def draw(self, rng: Any) -> Any:
        if self.kind == "int":
            return int(rng.integers(int(self.lo), int(self.hi) + 1))
        if self.kind == "log":
            x = math.exp(rng.uniform(math.log(self.lo), math.log(self.hi)))
        else:
            x = rng.uniform(self.lo, self.hi)
        return float(f"{x:.3g}")

    def text(self) -> str:
        return f"{self.lo:g}:{self.hi:g}:{self.kind}"


@dataclass
class SweepResult:
    """What :func:`run_sweep` returns (``sweep.json`` holds the same)."""

    domain: str
    out: Path
    trials: list[dict[str, Any]]
    pick: str | None  # the trial with the highest held-out RankMe
    label_pick: str | None = None  # the trial with the best validation probe score
    metric: str | None = None  # the probe's metric (the first task kind's primary metric)
    task: str | None = None
    spearman: float = float("nan")
    spearman_note: str = ""
    regret: float = float("nan")
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)
    table: str = ""


# ------------------------------------------------------------------------ search space


_RANGE = re.compile(r"^\s*([^:,\[\]{}]+?)\s*:\s*([^:,\[\]{}]+?)\s*(?::\s*([A-Za-z]+)\s*)?$")


def split_values(text: str) -> list[str]:
    """``"1,2,[3,4]"`` -> ``["1", "2", "[3,4]"]``: commas inside brackets or braces do not split."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_range(item: str, key: str, text: str) -> Range | None:
    """``lo:hi[:kind]`` -> :class:`Range`, or None when ``text`` is not a range."""
    m = _RANGE.match(text)
    if not m or _number(m.group(1)) is None or _number(m.group(2)) is None:
        return None
    lo_t, hi_t, kind = m.group(1), m.group(2), m.group(3)
    lo, hi = float(lo_t), float(hi_t)
    integral = all(re.fullmatch(r"[-+]?\d+", t) for t in (lo_t, hi_t))
    if kind is None:
        kind = "int" if integral else "log" if lo > 0 else "lin"
    if kind not in ("int", "log", "lin"):
        raise ConfigError(f"--grid {item!r}: a range's kind must be int, log or lin, got {kind!r}")
    if not lo < hi:
        raise ConfigError(f"--grid {item!r}: a range needs lo < hi")
    if kind == "log" and lo <= 0:
        raise ConfigError(f"--grid {item!r}: a log range needs lo > 0 (write {text}:lin for a uniform one)")
    if kind == "int" and not integral:
        raise ConfigError(f"--grid {item!r}: an int range needs integer bounds")
    return Range(lo, hi, kind)


def _key(item: str, key: str) -> str:
    key = key.strip()
    if key in cfgmod.FREE_SECTIONS and key != "data":
        key = f"{key}.name"
    parts = key.split(".")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise ConfigError(f"--grid key must be section.name (e.g. train.lr), got {item!r}")
    if parts[0] == "data":
        raise ConfigError(
            f"--grid {item!r}: data.* cannot vary in a sweep (every trial is judged on the same held-out items); "
            "sweep each data setting separately"
        )
    return key


def parse_grid(items: Sequence[str] | None) -> dict[str, list[Any] | Range]:
    """``["train.lr=1e-4,1e-3", "model.depth=2:6"]`` -> ``{"train.lr": [1e-4, 1e-3],
    "model.depth": Range(2, 6, "int")}``; bad syntax is one :class:`ConfigError` line."""
    space: dict[str, list[Any] | Range] = {}
    for item in items or ():
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(f"--grid expects key=v1,v2,... or key=lo:hi, got {item!r}")
        raw_key, text = item.split("=", 1)
        key = _key(item, raw_key)
        if key in space:
            raise ConfigError(f"--grid {key} is given twice; list all its values in one --grid")
        rng = parse_range(item, key, text)
        if rng is not None:
            space[key] = rng
            continue
        values = split_values(text)
        if any(not v.strip() for v in values):
            raise ConfigError(f"--grid {item!r}: an empty value (write key=v1,v2,...)")
        space[key] = [cfgmod.parse_value(v.strip()) for v in values]
    return space


def build_space(grid: Sequence[str] | None, space: Mapping[str, Any] | None) -> dict[str, list[Any] | Range]:
    """The search space of ``grid`` strings and a Python ``space`` mapping (key -> a list of
    values, a :class:`Range`, or a string in ``--grid`` syntax)."""
    out = parse_grid(grid)
    for raw, spec in dict(space or {}).items():
        item = f"{raw}={spec}"
        key = _key(item, str(raw))
        if key in out:
            raise ConfigError(f"sweep key {key} is given twice")
        if isinstance(spec, Range):
            out[key] = spec
        elif isinstance(spec, str):
            out[key] = parse_grid([f"{key}={spec}"])[key]
        elif isinstance(spec, (list, tuple)) and len(spec):
            out[key] = list(spec)
        else:
            raise ConfigError(f"sweep key {key}: give a non-empty list of values, a Range or 'lo:hi', got {spec!r}")
    return out


def expand(space: Mapping[str, list[Any] | Range], random: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """The trials of a search space, each a ``{key: value}`` mapping.

    Without ``random``: the cartesian product of the lists (first key slowest); a range
    is refused. With ``random=N``: N distinct draws, seeded by ``seed``."""
    import numpy as np

    if not space:
        raise ConfigError("a sweep needs a search space: --grid key=v1,v2,... (and optionally --random N)")
    keys = list(space)
    if random is None:
        ranged = [k for k in keys if isinstance(space[k], Range)]
        if ranged:
            raise ConfigError(f"--grid {ranged[0]}={space[ranged[0]].text()} is a range: ranges need --random N (a grid lists values)")
        return [dict(zip(keys, combo)) for combo in itertools.product(*(space[k] for k in keys))]
    if int(random) < 1:
        raise ConfigError(f"--random must be >= 1, got {random}")
    n = int(random)
    finite = not any(isinstance(v, Range) for v in space.values())
    size = math.prod(len(v) for v in space.values()) if finite else None
    if size is not None and n > size:
        notice(f"--random {n}: the grid holds {size} distinct combinations; drawing all {size}")
        n = size
    rng = np.random.default_rng(seed)
    out, seen = [], set()
    for _ in range(1000 * n):
        if len(out) == n:
            break
        trial = {k: (v.draw(rng) if isinstance(v, Range) else v[int(rng.integers(len(v)))]) for k, v in space.items()}
        mark = json.dumps(trial, sort_keys=True, default=str)
        if mark not in seen:
            seen.add(mark)
            out.append(trial)
    if len(out) < n:
        notice(f"--random {n}: found only {len(out)} distinct combinations")
    return out


def trial_layer(overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"train.lr": 1e-3}`` -> ``{"train": {"lr": 1e-3}}``."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        section, name = key.split(".", 1)
        out.setdefault(section, {})[name] = value
    return out


def describe(overrides: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={_fmt_value(v)}" for k, v in overrides.items()) or "(base config)"


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v).replace(" ", "")
    return str(v)


# ------------------------------------------------------------------ judging the trials


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(float(x))


def compare(trials: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """RankMe's pick against the labels' pick over trial records (``trial``, ``rankme``,
    ``probe``): the picks (highest value, ties to the first), the Spearman correlation
    between RankMe and the probe score (NaN with ``spearman_note`` when fewer than 3
    trials have both or either is constant) and the regret: probe score of the label
    pick minus that of RankMe's pick (NaN when RankMe's pick has no probe score)."""
    ranked = [t for t in trials if _finite(t.get("rankme"))]
    pick = max(ranked, key=lambda t: float(t["rankme"]), default=None)  # max keeps the first of ties
    probed = [t for t in trials if _finite(t.get("probe"))]
    label_pick = max(probed, key=lambda t: float(t["probe"]), default=None)
    both = [t for t in ranked if _finite(t.get("probe"))]
    rho, p, note = float("nan"), float("nan"), ""
    if not probed:
        note = "no probe scores (the data has no labelled task)"
    elif len(both) < 3:
        note = f"needs at least 3 trials with both scores, got {len(both)}"
    elif len({float(t['rankme']) for t in both}) == 1:
        note = "RankMe is the same for every trial"
    elif len({float(t['probe']) for t in both}) == 1:
        note = "the probe score is the same for every trial"
    else:
        import warnings

        from scipy.stats import spearmanr

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = spearmanr([float(t["rankme"]) for t in both], [float(t["probe"]) for t in both])
        rho, p = float(res[0]), float(res[1])
    regret = float("nan")
    if pick is not None and label_pick is not None and _finite(pick.get("probe")):
        regret = float(label_pick["probe"]) - float(pick["probe"])
    return {
        "pick": None if pick is None else pick["trial"], "label_pick": None if label_pick is None else label_pick["trial"],
        "spearman": rho, "spearman_p": p, "spearman_note": note, "regret": regret, "n_compared": len(both),
    }


def interpret(rho: float, note: str, regret: float, metric: str | None, same_pick: bool = True) -> list[str]:
    """One sentence on the correlation, one on the regret (``same_pick``: RankMe and the
    labels picked the same trial)."""
    if not math.isfinite(rho):
        first = f"The correlation is undefined: {note}."
    elif rho >= 0.5:
        first = "RankMe ranked the trials much as the labelled probe did: picking by RankMe is a reasonable label-free choice here."
    elif rho > 0:
        first = "RankMe agreed only weakly with the probe: treat its pick as a hint and check it with a few labels."
    else:
        first = "RankMe did not track the probe score here (a higher rank did not mean a better probe): do not tune by RankMe alone on this data."
    if not math.isfinite(regret):
        return [first]
    if regret == 0:
        return [first, "RankMe picked the trial the validation labels would have picked." if same_pick
                else "RankMe's pick scored as well as the validation labels' pick."]
    return [first, f"Trusting RankMe cost {regret:.3f} {metric} against picking by the validation labels."]


# ----------------------------------------------------------------------- one trial


class Items:
    """Items ``indices`` of a dataset: ``labels`` and ``groups`` are subset too, any other
    attribute is the dataset's."""

    def __init__(self, dataset: Any, indices: Sequence[int]):
        import numpy as np

        self.dataset, self.indices = dataset, np.asarray(indices, dtype=int)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        return self.dataset[int(self.indices[i])]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("dataset", "indices"):
            raise AttributeError(name)
        value = getattr(self.dataset, name)
        if name in ("labels", "groups") and value is not None:
            import numpy as np

            return np.asarray(value)[self.indices]
        return value


def holdout_split(dataset: Any, fraction: float, seed: int) -> tuple[Any, Any, str]:
    """``(train indices, held-out indices, "items" | "groups")``: ``fraction`` of the
    items (of the groups, when the dataset has a ``groups`` array) held out, seeded."""
    import numpy as np

    if not 0.0 < float(fraction) < 1.0:
        raise ConfigError(f"holdout must be in (0, 1), got {fraction}")
    n = len(dataset)
    groups = getattr(dataset, "groups", None)
    by = "items"
    keys = np.arange(n)
    if groups is not None:
        try:
            g = np.asarray(groups)
            if g.ndim == 1 and len(g) == n:
                keys, by = g, "groups"
        except Exception:  # a dataset's groups of another kind: split items
            pass
    units = np.unique(keys)
    rng = np.random.default_rng(seed)
    held_units = rng.permutation(units)[: max(1, int(round(float(fraction) * len(units))))]
    held = np.isin(keys, held_units)
    if held.sum() < 2 or held.all():
        raise DataError(
            f"the pretraining data has too few {by} ({len(units)}) to hold out {fraction:.0%} of them and train on the rest; "
            "give more data or another holdout"
        )
    return np.flatnonzero(~held), np.flatnonzero(held), by


def held_out_rankme(backbone: Any, dataset: Any, indices: Any, cfg: Mapping[str, Any], collate: Any, device: Any) -> float:
    """RankMe of the pooled (``eval.pool``; ``tokens`` -> mean) embeddings of ``indices``."""
    from .evaluate import item_embeddings, rankme

    pool = cfg["eval"]["pool"] if cfg["eval"]["pool"] != "tokens" else "mean"
    z = item_embeddings(backbone, dataset, indices, pool, int(cfg["eval"]["batch_size"]), collate, device)
    return rankme(z, float(cfg["train"]["rankme_eps"]))


def probe_score(backbone: Any, task: Any, cfg: Mapping[str, Any], collate: Any, device: Any, fraction: float) -> tuple[float, str]:
    """Linear probe on ``fraction`` of the validation task's probe-training items, scored
    on its validation items: (mean primary metric over ``eval.seeds`` draws, metric)."""
    import numpy as np

    from .evaluate import label_efficiency, task_features
    from .task_kinds import task_kind

    ecfg = cfg["eval"]
    metric = task_kind(task.kind).primary
    feats = task_features(backbone, task, ecfg, collate, device)
    rows = label_efficiency(feats, task, ["linear"], [fraction], max(1, int(ecfg["seeds"])), ecfg)
    return float(np.nanmean([r[metric] for r in rows])), metric


@dataclass
class _Context:
    """What every trial of a sweep shares (picklable, for worker processes)."""

    domain: str  # the domain's name
    pickled: bytes | None  # the Domain itself (a domain registered at run time), where it pickles
    data: Any  # the user's data: a path, an in-memory object, or None
    base: dict[str, Any]
    train_idx: Any
    rank_idx: Any
    task: str | None
    label_fraction: float


def _domain_of(ctx: _Context) -> Any:
    """In a worker: the pickled Domain where it unpickles, else the registry's."""
    from .plugins import get_domain

    if ctx.pickled is not None:
        try:
            return pickle.loads(ctx.pickled)
        except Exception:  # defined where a worker cannot import it: the plugins' own
            pass
    return get_domain(ctx.domain)


def _bundle_for(ctx: _Context, dom: Any, bundle: Any = None) -> tuple[Any, Any]:
    """The sweep's bundle: pretraining on the non-held-out items, the first task as its
    validation split; and the full pretraining dataset (for the held-out items)."""
    from .evaluate import validation_task
    from .train import load_bundle, split_data_object

    if bundle is None:
        obj, _ = split_data_object(ctx.data)
        bundle = load_bundle(dom, ctx.base, data=obj)
    full = bundle.pretrain
    tasks = {ctx.task: validation_task(bundle.tasks[ctx.task])} if ctx.task else {}
    return dataclasses.replace(bundle, pretrain=Items(full, ctx.train_idx), tasks=tasks), full


def _clean(obj: Any) -> Any:
    """NaN and infinities as null: the JSON files stay strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _dump(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_clean(obj), indent=1, default=str))
    os.replace(tmp, path)


def _run_trial(ctx: _Context, dom: Any, bundles: tuple[Any, Any], job: Mapping[str, Any]) -> dict[str, Any]:
    """Pretrain one trial, judge it, write its ``trial.json`` (the mark of a complete trial)."""
    from . import train as _train
    from .train import collate_of, pick_device

    bundle, full = bundles
    out = Path(job["dir"])
    began = time.perf_counter()
    rec: dict[str, Any] = {"trial": out.name, "overrides": job["overrides"], "rankme": None, "probe": None, "metric": None}
    cfg = job["config"]
    try:
        run = _train.pretrain(dom, config=cfg, out=out, bundle=bundle, echo=False, overwrite=job["overwrite"])
    except (TrainingDiverged, TrainingCollapsed) as exc:
        rec.update(status="diverged" if isinstance(exc, TrainingDiverged) else "collapsed", error=str(exc))
    else:
        device = pick_device(cfg["train"]["device"])
        collate = collate_of(bundle)
        encoder = run.model.encoder_for_eval(cfg["eval"]["encoder"])
        rec["rankme"] = held_out_rankme(encoder, full, ctx.rank_idx, cfg, collate, device)
        if ctx.task:
            rec["probe"], rec["metric"] = probe_score(encoder, bundle.tasks[ctx.task], cfg, collate, device, ctx.label_fraction)
        h = run.history
        rec.update(status="done", steps=len(h), final_loss=h[-1]["loss"] if h else None,
                   collapsed=any(r.get("collapsed") for r in h))
    rec["seconds"] = time.perf_counter() - began
    _dump(rec, out / TRIAL_FILE)
    return rec


_WORKER: dict[str, Any] = {}


def _worker_init(ctx: _Context, threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, int(threads)))
    one_line_warnings()
    dom = _domain_of(ctx)
    bundles = _bundle_for(ctx, dom)
    _WORKER.update(ctx=ctx, dom=dom, bundles=bundles)


def _worker_trial(job: Mapping[str, Any]) -> dict[str, Any]:
    return _run_trial(_WORKER["ctx"], _WORKER["dom"], _WORKER["bundles"], job)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# ------------------------------------------------------------------------- the sweep


def _spec_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    for key in ("domain", "holdout", "label_fraction", "seed", "quick"):
        if old.get(key) != new.get(key):
            return f"{key} {old.get(key)!r} -> {new.get(key)!r}"
    if old.get("trials") != new.get("trials"):
        return f"the trials ({len(old.get('trials') or [])} recorded, {len(new['trials'])} asked, or other values)"
    flat_old, flat_new = cfgmod._flat(old.get("config") or {}), cfgmod._flat(new["config"])
    for k in sorted(set(flat_old) | set(flat_new)):
        if k not in RUNTIME_KEYS and flat_old.get(k) != flat_new.get(k):
            return f"config {k} {flat_old.get(k)!r} -> {flat_new.get(k)!r}"
    return None


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def run_sweep(
    domain: Any,
    grid: Sequence[str] | None = None,
    random: int | None = None,
    space: Mapping[str, Any] | None = None,
    data: Any = None,
    config: Mapping[str, Any] | str | os.PathLike | None = None,
    overrides: Any = None,
    out: str | os.PathLike | None = None,
    jobs: int = 1,
    resume: bool = False,
    quick: bool = False,
    seed: int = 0,
    holdout: float = 0.2,
    label_fraction: float = 0.1,
    echo: bool = True,
) -> SweepResult:
    """Python twin of ``jepakit sweep DOMAIN``: pretrain one run per trial of the search
    space (``grid`` strings ``key=v1,v2`` / ``key=lo:hi``, or ``space``, a mapping of key to
    a list, a :class:`Range` or such a string; ``random=N`` draws N trials), judge each by
    RankMe on held-out unlabelled items, and where the data has labels, compare with a
    validation probe. Writes ``sweep.json``, ``sweep.md``, ``sweep.png`` and ``best`` into
    ``out``; see the module doc. On resume without a search space, the recorded trials."""
    from .plugins import get_domain
    from .train import build, load_bundle, resolve_config, split_data_object

    began = time.perf_counter()
    dom = get_domain(domain) if isinstance(domain, str) else domain
    if int(jobs) < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    if not 0.0 < float(label_fraction) <= 1.0:
        raise ConfigError(f"label_fraction must be in (0, 1], got {label_fraction}")
    out_dir = Path(out) if out is not None else Path("runs") / f"sweep-{dom.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    spec_path = out_dir / SPEC_FILE
    old_spec = None
    if resume and spec_path.is_file():
        try:
            old_spec = json.loads(spec_path.read_text())
        except (OSError, ValueError):
            raise JepakitError(f"{spec_path} cannot be read; start the sweep in another --out") from None

    # 1. every trial's config, before anything is written or trained
    obj, (config, overrides) = split_data_object(data, config, overrides)
    preset = dom.quick if quick else None
    base = resolve_config(dom, config, overrides, preset, obj if obj is not None else data)
    sp = build_space(grid, space)
    if not sp and random is None and old_spec is not None:
        trials = [dict(t) for t in old_spec.get("trials") or []]
    else:
        trials = expand(sp, random, seed)
    configs = []
    for t in trials:
        layer = trial_layer(t)
        if int(jobs) > 1:  # no per-step bars from parallel workers
            layer = {**layer, "train": {**layer.get("train", {}), "progress": False}}
        try:
            configs.append(resolve_config(dom, base, layer))
        except ConfigError as exc:
            raise ConfigError(f"trial {describe(t)}: {exc}") from None
    spec = _jsonable({
        "domain": dom.name, "trials": trials, "config": base, "holdout": float(holdout),
        "label_fraction": float(label_fraction), "seed": int(seed), "quick": bool(quick),
        "random": random, "space": {k: (v.text() if isinstance(v, Range) else v) for k, v in sp.items()},
    })

    # 2. the output folder: new and empty, or (resume) a sweep of the same spec
    if out_dir.exists() and not out_dir.is_dir():
        raise JepakitError(f"--out {out_dir} is a file, not a folder")
    held = sorted(p.name for p in out_dir.iterdir()) if out_dir.is_dir() else []
    if held and not resume:
        raise JepakitError(f"{out_dir} is not empty ({', '.join(held[:3])}{', ...' if len(held) > 3 else ''}); "
                           "pass --resume to continue the sweep it holds, or choose another --out")
    if resume and held and old_spec is None:
        raise JepakitError(f"--resume: {out_dir} holds no sweep ({SPEC_FILE} is missing); choose another --out")
    if old_spec is not None:
        diff = _spec_differences(old_spec, spec)
        if diff:
            raise JepakitError(f"--resume: {out_dir} holds another sweep ({diff}); run it with its own settings, or choose another --out")
    dirs = [out_dir / f"trial-{i + 1:03d}" for i in range(len(trials))]
    done: dict[int, dict[str, Any]] = {}
    for i, d in enumerate(dirs):
        if (d / TRIAL_FILE).is_file():
            try:
                done[i] = json.loads((d / TRIAL_FILE).read_text())
            except (OSError, ValueError):
                pass  # a damaged record: run the trial again
    pending = [i for i in range(len(trials)) if i not in done]

    # 3. the data, its held-out items and the first task's validation split
    bundle = load_bundle(dom, base, data=obj)
    train_idx, held_idx, by = holdout_split(bundle.pretrain, holdout, seed)
    rank_idx = held_idx
    cap = int(base["train"]["rankme_samples"])
    if len(rank_idx) > cap:
        import numpy as np

        rank_idx = np.sort(np.random.default_rng(seed + 1).choice(held_idx, cap, replace=False))
    task = next(iter(bundle.tasks), None)
    pickled = None
    if int(jobs) > 1 and len(pending) > 1:
        try:
            pickled = pickle.dumps(dom)
        except Exception:  # a worker finds it through the plugins' entry points
            pass
    ctx = _Context(dom.name, pickled, obj if obj is not None else data, base, train_idx, rank_idx, task, float(label_fraction))
    bundles = _bundle_for(ctx, dom, bundle)
    for i in pending:  # every component's arguments, before any training
        try:
            build(configs[i], bundles[0])
        except ConfigError as exc:
            raise ConfigError(f"trial {describe(trials[i])}: {exc}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    if old_spec is None:
        _dump(spec, spec_path)

    if echo:
        judge = f"RankMe of {len(rank_idx)} held-out items ({len(held_idx)} of {len(bundle.pretrain)} held out by {by})"
        probe = f"; probe: {task} validation split, linear, {label_fraction:.0%} labels" if task else "; no labelled task"
        skip = f"; {len(done)} complete, skipped" if done else ""
        print(f"[{dom.name}] sweep of {len(trials)} trials in {out_dir}: {judge}{probe}{skip}", flush=True)

    # 4. the trials
    jobs_list = [{"dir": str(dirs[i]), "overrides": trials[i], "config": configs[i], "overwrite": dirs[i].exists()} for i in pending]
    from .progress import LogProgress, progress

    bar = progress(total=len(trials), initial=len(done), desc=f"sweep {dom.name}", unit="trial") if echo and pending else None
    if isinstance(bar, LogProgress):
        bar.every = 1  # off a terminal: one line per trial

    def finished(i: int, rec: dict[str, Any]) -> None:
        done[i] = rec
        if bar is not None:
            post = {rec["trial"]: describe(rec["overrides"]),
                    "RankMe": "–" if rec["rankme"] is None else f"{rec['rankme']:.2f}"}
            if rec.get("probe") is not None:
                post[rec["metric"]] = f"{rec['probe']:.3f}"
            if rec["status"] != "done":
                post["status"] = rec["status"]
            post["seconds"] = f"{rec['seconds']:.1f}"
            if hasattr(bar, "write"):  # tqdm: keep each trial's line above the bar
                bar.write(f"[{dom.name}] " + ", ".join(f"{k} {v}" for k, v in post.items()))
            bar.set_postfix(post, refresh=False)
            bar.update(1)

    try:
        if int(jobs) == 1 or len(jobs_list) <= 1:
            for i, job in zip(pending, jobs_list):
                finished(i, _run_trial(ctx, dom, bundles, job))
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            workers = min(int(jobs), len(jobs_list))
            threads = max(1, _cores() // int(jobs))
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_worker_init, initargs=(ctx, threads)) as ex:
                futures = {ex.submit(_worker_trial, job): i for i, job in zip(pending, jobs_list)}
                try:
                    for fut in as_completed(futures):
                        finished(futures[fut], fut.result())
                except BaseException:
                    ex.shutdown(wait=True, cancel_futures=True)
                    raise
    except KeyboardInterrupt as exc:
        complete = sum((d / TRIAL_FILE).is_file() for d in dirs)
        why = str(exc).split("; resume with")[0]  # a trial's own resume hint is not the sweep's
        raise TrainingInterrupted(
            f"{why + '; ' if why else ''}sweep {out_dir} stopped with {complete} of {len(trials)} trials complete; "
            "resume with the same command and --resume", getattr(exc, "exit_code", 130),
        ) from None
    finally:
        if bar is not None:
            bar.close()

    # 5. the report
    records = [done[i] for i in range(len(trials))]
    summary = compare(records)
    metric = next((r["metric"] for r in records if r.get("metric")), None)
    result = SweepResult(
        dom.name, out_dir, records, summary["pick"], summary["label_pick"], metric, task, summary["spearman"],
        summary["spearman_note"], summary["regret"], time.perf_counter() - began,
    )
    result.summary = {
        "domain": dom.name, "out": str(out_dir), "metric": metric, "task": task, **summary,
        "holdout": {"fraction": float(holdout), "by": by, "held_out": int(len(held_idx)), "rankme_items": int(len(rank_idx)),
                    "pretrain_items": int(len(train_idx))},
        "label_fraction": float(label_fraction), "seconds": result.seconds, "trials": records,
    }
    _dump(result.summary, out_dir / "sweep.json")
    link_best(out_dir, result.pick)
    result.table = write_markdown(result, out_dir / "sweep.md")
    plot(result, out_dir / "sweep.png")
    if echo:
        print(result.table, flush=True)
        print(f"[{dom.name}] sweep: {result.seconds:.1f} s; pick {result.pick or '(none)'}; report {out_dir / 'sweep.md'}", flush=True)
    return result


def link_best(out_dir: Path, pick: str | None) -> None:
    """``OUT/best`` -> the picked trial's folder (``OUT/best.txt`` naming it where a
    symlink cannot be made); both removed when nothing was picked."""
    link, text = out_dir / "best", out_dir / "best.txt"
    if link.is_symlink() or link.is_file():
        link.unlink()
    text.unlink(missing_ok=True)
    if pick is None:
        return
    try:
        os.symlink(pick, link, target_is_directory=True)
    except (OSError, NotImplementedError):
        text.write_text(pick + "\n")


def write_markdown(result: SweepResult, path: Path) -> str:
    metric = result.metric
    head = f"| trial | overrides | RankMe | {metric + ' (validation)' if metric else 'probe'} | seconds |"
    lines = [head, "|---|---|---|---|---|"]
    for r in result.trials:
        name = r["trial"]
        marks = (["RankMe pick"] if name == result.pick else []) + (["label pick"] if name == result.label_pick and metric else [])
        cell = f"**{name}** ({', '.join(marks)})" if name == result.pick else f"{name} ({', '.join(marks)})" if marks else name
        rank = "–" if r.get("rankme") is None else f"{r['rankme']:.2f}"
        if r.get("status", "done") != "done":
            rank += f" ({r['status']})"
        probe = "–" if r.get("probe") is None else f"{r['probe']:.3f}"
        lines.append(f"| {cell} | {describe(r['overrides'])} | {rank} | {probe} | {r.get('seconds', 0.0):.1f} |")
    tab = "\n".join(lines)
    s = result.summary
    ho = s.get("holdout", {})
    md = [
        f"# jepakit sweep {result.domain}",
        "",
        f"{len(result.trials)} trials judged by RankMe of the pooled embeddings of {ho.get('rankme_items')} held-out unlabelled "
        f"items ({ho.get('held_out')} held out by {ho.get('by')}, never pretrained on). "
        + (f"Probe: task {result.task}, validation split of its training items (the test split is not read), linear, "
           f"{s.get('label_fraction', 0.1):.0%} labels, {metric}." if metric else "The data has no labelled task: no probe."),
        "",
        tab,
        "",
        f"Pick: {result.pick or '(none: no trial completed)'} (highest RankMe)"
        + (f"; label pick: {result.label_pick}." if result.label_pick else "."),
    ]
    if metric:
        rho = "nan" if not math.isfinite(result.spearman) else f"{result.spearman:.2f}"
        md.append(f"Spearman correlation between RankMe and {metric}: {rho} over {s.get('n_compared', 0)} trials"
                  + (f" ({result.spearman_note})." if result.spearman_note else "."))
        reg = "nan" if not math.isfinite(result.regret) else f"{result.regret:.3f}"
        md.append(f"Regret of RankMe's pick: {reg} {metric} (label pick's score minus RankMe pick's).")
        md.append("")
        md.append(" ".join(interpret(result.spearman, result.spearman_note, result.regret, metric, result.pick == result.label_pick)))
    md += ["", "![sweep](sweep.png)"]
    path.write_text("\n".join(md) + "\n")
    return "\n".join(md[4:-2])


def plot(result: SweepResult, path: Path) -> None:
    """RankMe against the probe score (picks marked), or RankMe per trial without labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [r for r in result.trials if _finite(r.get("rankme"))]
    fig, ax = plt.subplots(figsize=(6, 4))
    both = [r for r in recs if _finite(r.get("probe"))]
    if result.metric and both:
        ax.scatter([r["rankme"] for r in both], [r["probe"] for r in both], color="tab:blue", zorder=2)
        for r in both:
            ax.annotate(r["trial"].replace("trial-", ""), (r["rankme"], r["probe"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        for name, style in ((result.pick, dict(marker="*", s=220, color="tab:red", label="RankMe pick")),
                            (result.label_pick, dict(marker="o", s=160, facecolors="none", edgecolors="tab:green", linewidths=2, label="label pick"))):
            hit = [r for r in both if r["trial"] == name]
            if hit:
                ax.scatter([hit[0]["rankme"]], [hit[0]["probe"]], zorder=3, **style)
        rho = "nan" if not math.isfinite(result.spearman) else f"{result.spearman:.2f}"
        ax.set_xlabel("RankMe (held-out items)"), ax.set_ylabel(f"{result.metric} (validation, probe)")
        ax.set_title(f"{result.domain} sweep: Spearman {rho}"), ax.legend(fontsize=8)
    else:
        names = [r["trial"].replace("trial-", "") for r in result.trials]
        vals = [r["rankme"] if _finite(r.get("rankme")) else 0.0 for r in result.trials]
        colors = ["tab:red" if r["trial"] == result.pick else "tab:blue" for r in result.trials]
        ax.bar(names, vals, color=colors)
        ax.set_xlabel("trial"), ax.set_ylabel("RankMe (held-out items)"), ax.set_title(f"{result.domain} sweep (red: pick)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["Range", "SweepResult", "compare", "expand", "parse_grid", "run_sweep"]
