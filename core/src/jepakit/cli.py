"""``jepakit`` command line: a thin twin of the Python API (train.pretrain,
bench.run_bench, bench.run_evaluate, Domain.prepare, describe.describe, describe.config_text)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jepakit", description="JEPA pretraining, evaluation and benchmarks with domain plugins")
    p.add_argument("--version", action="version", version=f"jepakit {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("domains", help="list plugins, their domains and components")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--data", help="dataset path (default: the domain's embedded data)")
        sp.add_argument("--config", help="YAML file with config sections")
        sp.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="override one config key, e.g. model.width=128")
        sp.add_argument("--out", help="output folder")

    sp = sub.add_parser("pretrain", help="pretrain a JEPA encoder on a domain's data")
    sp.add_argument("domain")
    common(sp)
    sp.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    sp.add_argument("--overwrite", action="store_true", help="replace the run that --out holds (its files only)")

    sp = sub.add_parser("evaluate", help="probe a checkpoint on its domain's tasks")
    sp.add_argument("checkpoint")
    sp.add_argument("--data")
    sp.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    sp.add_argument("--out")

    sp = sub.add_parser("bench", help="pretrain and benchmark (all installed domains when none is named)")
    sp.add_argument("domains", nargs="*")
    sp.add_argument("--quick", action="store_true", help="small preset: about a minute per domain on 2 CPU cores")
    common(sp)

    sp = sub.add_parser("finetune", help="fine-tune a checkpoint's encoder on a fraction of a task's labels")
    sp.add_argument("checkpoint")
    sp.add_argument("--task", help="the domain's task (default: its first)")
    sp.add_argument("--fraction", type=float, default=0.1, help="fraction of the training labels (default 0.1)")
    sp.add_argument("--seed", type=int, default=0, help="which draw of the labels (and of the head's init)")
    sp.add_argument("--compare-scratch", action="store_true", help="also train the same architecture from scratch, same budget")
    sp.add_argument("--data")
    sp.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="eval.* or train.device, e.g. eval.ft_lr=3e-4")
    sp.add_argument("--out", help="output folder (default: RUN/finetune)")

    sp = sub.add_parser("prepare", help="convert a dataset to prepared arrays for fast loading")
    sp.add_argument("domain")
    sp.add_argument("src")
    sp.add_argument("out")
    sp.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="prepare option, e.g. rate=250")

    sp = sub.add_parser("export", help="write a run's encoder to a self-contained folder (safetensors, JSON, model card)")
    sp.add_argument("run", help="a run folder or a checkpoint folder")
    sp.add_argument("out", help="the export folder (new, empty or a previous export)")

    sp = sub.add_parser("embed", help="embed a dataset with an exported (or a run's) encoder into a .parquet or .npy file")
    sp.add_argument("checkpoint", help="an export folder, a run folder or a checkpoint folder")
    sp.add_argument("--data", required=True, help="the data to embed, read by the domain's loader")
    sp.add_argument("--out", required=True, help="output file: .parquet (id + embedding columns) or .npy (+ OUT.ids.json)")
    sp.add_argument("--pool", default="mean", help="tokens, or statistics joined by '+': mean, std, max, flat (default mean)")
    sp.add_argument("--segment", help="of a multi-modal (segmented) encoder: embed this segment's tokens alone")
    sp.add_argument("--batch-size", type=int, default=64, help="items per batch (default 64)")
    sp.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")

    sp = sub.add_parser("sweep", help="pretrain one run per setting of a grid; pick by RankMe on held-out items, checked against a validation probe")
    sp.add_argument("domain")
    sp.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                    help="values to sweep (repeat for a cartesian product); KEY=LO:HI[:int|log|lin] is a range for --random")
    sp.add_argument("--random", type=int, metavar="N", help="draw N distinct trials from the grid's values and ranges (seeded)")
    sp.add_argument("--jobs", type=int, default=1, metavar="J", help="trials in parallel processes (default 1)")
    sp.add_argument("--resume", action="store_true", help="continue the sweep in --out: skip complete trials, rerun the others")
    sp.add_argument("--quick", action="store_true", help="start from the domain's quick preset")
    sp.add_argument("--seed", type=int, default=0, help="seed of the held-out split and of --random (default 0)")
    sp.add_argument("--holdout", type=float, default=0.2, help="share of the pretraining items held out for RankMe (default 0.2)")
    sp.add_argument("--label-fraction", type=float, default=0.1, help="labels of the validation probe (default 0.1)")
    common(sp)

    sp = sub.add_parser("runs", help="list the runs under a folder: status, checkpoints (loss, RankMe), which to keep")
    sp.add_argument("dir", nargs="?", default="runs", help="a run folder or a folder of runs (default: runs)")
    sp.add_argument("--json", action="store_true", help="print the records as JSON")

    sp = sub.add_parser("describe", help="a component's arguments, defaults and the facts the core fills in")
    sp.add_argument("kind", help="tokenizer, masker, target, predictor, views, domain... (alone: list that kind's names)")
    sp.add_argument("name", nargs="?", help="the registered name (see jepakit domains)")

    sp = sub.add_parser("experiment", help="run a study of the objective itself (implicit-bias: deep linear JEPA vs MAE)")
    sp.add_argument("name", help="implicit-bias")
    sp.add_argument("rest", nargs=argparse.REMAINDER, help="the experiment's own options (jepakit experiment NAME --help)")

    sp = sub.add_parser("config", help="print the config a run of DOMAIN resolves to, with a help string per key")
    sp.add_argument("domain")
    sp.add_argument("--data", help="dataset path (default: the domain's embedded data)")
    sp.add_argument("--config", help="YAML file with config sections")
    sp.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="override one config key, e.g. model.width=128")
    sp.add_argument("--quick", action="store_true", help="with the domain's quick preset, as bench --quick runs it")
    return p


def _domains() -> int:
    from .plugins import plugins

    for info in plugins():
        version = f" {info.version}" if info.version else ""
        if info.error:
            print(f"{info.name}{version}: FAILED to load: {info.error}")
            continue
        print(f"{info.name}{version}")
        for kind, label in (("domain", "domains"), ("tokenizer", "tokenizers"), ("masker", "maskers"), ("target", "targets"),
                            ("predictor", "predictors"), ("loss", "losses"), ("regularizer", "regularizers"),
                            ("views", "view samplers")):
            names = info.components.get(kind)
            if names:
                print(f"  {label}: {', '.join(names)}")
    return 0


def _early_checks(args: argparse.Namespace) -> None:
    """The mistakes that need no torch (an unknown domain, a missing --data path, a
    missing checkpoint) answer before the training stack is imported (4 s here)."""
    from pathlib import Path

    from .errors import DataError, JepakitError
    from .plugins import get_domain

    for name in ([args.domain] if getattr(args, "domain", None) else []) + list(getattr(args, "domains", None) or []):
        get_domain(name)
    data = getattr(args, "data", None)
    if data is not None and not Path(data).exists():
        raise DataError(f"data path {data} does not exist")
    ckpt = getattr(args, "checkpoint", None)
    if ckpt is not None and not Path(ckpt).exists():
        raise DataError(f"checkpoint {ckpt} does not exist")
    out = getattr(args, "out", None) if args.command in ("pretrain", "evaluate", "bench", "finetune", "sweep") else None
    if out is not None:
        # a file where the output folder (or one above it) should be: say so before any work
        for folder in (Path(out), *Path(out).parents):
            if folder.exists():
                if not folder.is_dir():
                    what = "is a file" if folder == Path(out) else f"lies under {folder}, a file"
                    raise JepakitError(f"--out {out} {what}, not a folder; give a folder for the run's files")
                break


def _check_options(what: str, fn, kw: dict, skip: int = 0) -> None:
    """Every key of ``kw`` is a keyword ``fn`` accepts (its first ``skip`` parameters are
    positional): else one line naming the valid ones."""
    import inspect

    from .errors import ConfigError

    try:
        params = list(inspect.signature(fn).parameters.values())[skip:]
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    bad = [k for k in kw if k not in names]
    if bad:
        raise ConfigError(f"{what} has no option {bad[0]!r}; valid: {', '.join(names) or '(none)'}")


def _os_error(exc: OSError) -> str:
    """One line for an OSError met while writing (or reading) a run's files: what
    happened, to which file, and for a checkpoint, whether the previous one survives."""
    import errno
    from pathlib import Path

    where = exc.filename or ""
    reason = (exc.strerror or str(exc)).strip()
    path = Path(str(where)) if where else None
    in_ckpt = path is not None and "checkpoints" in path.parts
    ckpt_note = ""
    if in_ckpt:  # checkpoints are written to a .tmp folder, then renamed: the last complete one is untouched
        root = Path(*path.parts[: path.parts.index("checkpoints") + 1])
        try:
            prev = (root / "latest").read_text().strip()
        except OSError:
            prev = ""
        ckpt_note = f"; the previous checkpoint {root / prev} is intact" if prev else "; no checkpoint had been written yet"
    if exc.errno == errno.ENOSPC:
        what = f"writing checkpoint {where}" if in_ckpt else f"writing {where}" if where else "writing"
        return f"disk is full (no space left on device) {what}{ckpt_note}; free space and run again"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "read-only file system" if exc.errno == errno.EROFS else "permission denied"
        return f"cannot write {where}: {why}{ckpt_note}; choose another --out"
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        return f"cannot write {where}: a file is in the way of a folder ({reason}); choose another --out"
    if exc.errno == getattr(errno, "EDQUOT", None):
        return f"disk quota exceeded writing {where}{ckpt_note}"
    return f"{reason}: {where}{ckpt_note}" if where else reason


def _cmd_finetune(args: argparse.Namespace) -> int:
    from .finetune import finetune

    finetune(args.checkpoint, task=args.task, fraction=args.fraction, seed=args.seed, overrides=args.sets, data=args.data,
             out=args.out, compare_scratch=args.compare_scratch)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export_run

    out = export_run(args.run, args.out)
    print(f"exported {args.run} -> {out} (encoder.safetensors, encoder.json, MODEL_CARD.md)")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import run_sweep

    run_sweep(args.domain, grid=args.grid, random=args.random, data=args.data, config=args.config, overrides=args.sets,
              out=args.out, jobs=args.jobs, resume=args.resume, quick=args.quick, seed=args.seed, holdout=args.holdout,
              label_fraction=args.label_fraction)
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    from .export import check_output, embed_to_file

    check_output(args.out)  # before any work
    embed_to_file(args.checkpoint, args.data, args.out, pool=args.pool, batch_size=args.batch_size, device=args.device,
                  segment=args.segment)
    return 0


def _cmd_domains(args: argparse.Namespace) -> int:
    return _domains()


def _cmd_runs(args: argparse.Namespace) -> int:
    from .runs import list_runs, print_runs

    return print_runs(list_runs(args.dir), args.dir, as_json=args.json)


def _cmd_describe(args: argparse.Namespace) -> int:
    from .describe import describe

    print(describe(args.kind, args.name))
    return 0


def _cmd_experiment(args: argparse.Namespace) -> int:
    from .errors import ConfigError

    if args.name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {args.name!r}; valid: {', '.join(sorted(EXPERIMENTS))}")
    from importlib import import_module

    return int(import_module(EXPERIMENTS[args.name]).main(list(args.rest)) or 0)


def _cmd_config(args: argparse.Namespace) -> int:
    from .describe import config_text

    print(config_text(args.domain, args.config, args.sets, args.data, quick=args.quick), end="")
    return 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
    from .train import pretrain

    run = pretrain(args.domain, data=args.data, config=args.config, overrides=args.sets, out=args.out, resume=args.resume, overwrite=args.overwrite)
    last = run.history[-1]["loss"] if run.history else float("nan")
    print(f"pretrained {run.domain}: {len(run.history)} steps, final loss {last:.4f}, checkpoint {run.checkpoint}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .bench import run_evaluate

    run_evaluate(args.checkpoint, data=args.data, overrides=args.sets, out=args.out)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import installed_domains, run_bench
    from .errors import JepakitError

    names = args.domains or installed_domains()
    if not names:
        print("error: no domain is installed: pip install a plugin such as jepakit-ecg", file=sys.stderr)
        return 2
    if len(names) > 1 and args.data:
        print("error: --data applies to one domain; name it", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        out = args.out if len(names) == 1 or args.out is None else os.path.join(args.out, name)
        try:
            run_bench(name, quick=args.quick, data=args.data, config=args.config, overrides=args.sets, out=out)
        except JepakitError as exc:
            if len(names) == 1:
                raise
            # one domain's failure must not hide the others' results
            print(f"error: bench {name}: {exc}", file=sys.stderr)
            failed.append(name)
    if failed:
        print(f"bench failed for: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from .config import parse_value
    from .errors import JepakitError
    from .plugins import get_domain

    dom = get_domain(args.domain)
    if dom.prepare is None:
        raise JepakitError(f"domain {dom.name!r} has no prepare step")
    kw = {}
    for item in args.sets:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise JepakitError(f"--set expects option=value, got {item!r}")
        kw[key.strip()] = parse_value(value)
    _check_options(f"domain {dom.name!r} prepare", dom.prepare, kw, skip=2)
    path = dom.prepare(args.src, args.out, **kw)
    print(f"prepared {args.src} -> {path or args.out}")
    return 0


# experiments on the objective itself, not on a domain: name -> module with main(argv)
EXPERIMENTS = {"implicit-bias": "jepakit.experiments.implicit_bias"}

# subcommands that need no early checks (no domain, data or --out of a run)
_UNCHECKED = {"domains": _cmd_domains, "runs": _cmd_runs, "describe": _cmd_describe, "experiment": _cmd_experiment}
COMMANDS = {
    **_UNCHECKED, "config": _cmd_config, "pretrain": _cmd_pretrain, "evaluate": _cmd_evaluate, "bench": _cmd_bench,
    "finetune": _cmd_finetune, "export": _cmd_export, "embed": _cmd_embed, "sweep": _cmd_sweep, "prepare": _cmd_prepare,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .console import one_line_warnings
    from .errors import JepakitError

    one_line_warnings()
    try:
        if args.command not in _UNCHECKED:
            _early_checks(args)
        return COMMANDS[args.command](args)
    except JepakitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # --out read-only or a file, a full disk (ENOSPC), a missing file
        print(f"error: {_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # TrainingInterrupted: where the checkpoint is, how to resume
        print(str(exc) or "interrupted", file=sys.stderr)
        return getattr(exc, "exit_code", 130)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
