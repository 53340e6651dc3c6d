"""Checkpoints without pickle: safetensors for tensors, JSON for everything else.

A run folder holds ``checkpoints/step-NNNNNNN/`` folders and a ``checkpoints/latest``
pointer. A checkpoint folder holds ``model.safetensors``, ``optim.safetensors``,
``state.json`` and ``manifest.json``: the sha256 and size of each file, the dtype and
shape of each tensor and the step, verified on every load. ``state.json`` holds the
run's config, its data facts (``info``) and its loader's state (``bundle_state``, see
:func:`bundle_state`).

Writing: the files go to ``.tmp-step-N/`` and are fsynced, the folder is fsynced and
renamed to ``step-N/``, the parent is fsynced, and only then ``latest`` is replaced
atomically (and fsynced), so a crash at any point leaves ``latest`` naming a complete
checkpoint; stale ``.tmp-*`` leftovers are removed at the next save or resume.
Non-finite weights or optimizer state are never written.

Reading: ``latest`` is followed only when it holds a plain ``step-N`` name of an
existing child folder. A damaged checkpoint (a failed checksum, a missing file, a step
that disagrees with its folder or exceeds ``train.steps``, non-finite weights) is
skipped for the previous intact one, with one line saying so; with none intact, one
error line.

The loss history is not part of a checkpoint's state (that made checkpoint I/O grow
quadratically with the run): each save appends the new records to the run folder's
``history.jsonl``, and a checkpoint of step ``S`` reads back the records of steps <= S
(the latest written record of each step wins, so a resumed run's records replace those
of an abandoned attempt).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from .errors import JepakitError, TrainingDiverged, notice

FORMAT = 1
MANIFEST = "manifest.json"
HISTORY = "history.jsonl"
_NAME = re.compile(r"step-(\d+)")


BUNDLE_STATE = "bundle_state"  # the key of DataBundle.state in state.json and encoder.json


def bundle_state(saved: Mapping[str, Any]) -> dict[str, Any]:
    """The loader's :attr:`~jepakit.contract.DataBundle.state` saved in a checkpoint's
    ``state.json`` or an export's ``encoder.json`` (``saved``), to hand back to the loader.

    Those written before bundle state existed hold only ``info``: that is handed back
    instead, because the loaders that reused saved data then (a table's schema, a LiDAR
    window) were given the saved ``info`` and read their keys from it, and read the same
    keys from ``state`` now; so an old checkpoint reads its data as it did."""
    if BUNDLE_STATE in saved:
        return dict(saved[BUNDLE_STATE] or {})
    return dict(saved.get("info") or {})


class CheckpointDamaged(JepakitError):
    """A checkpoint folder failed verification; the message is the reason."""


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if isinstance(value, dict):
            return {str(k): _jsonable(v) for k, v in value.items() if _is_jsonable(v)}
        return None


def _is_jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return isinstance(value, dict)


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, state in sd["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Restore the optimizer's per-parameter state (moments, step counts). Its
    hyperparameters (lr, betas, weight decay...) stay those ``opt`` was built with from
    the config: a checkpoint's copy of them is not trusted."""
    current = opt.state_dict()["param_groups"]
    saved = meta.get("param_groups") or []
    if [len(g["params"]) for g in saved] != [len(g["params"]) for g in current]:
        raise JepakitError("the checkpoint's optimizer state does not match the model's parameters")
    params = [p for g in opt.param_groups for p in g["params"]]
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        pid, key = name.split(".", 1)
        pid = int(pid)
        if not 0 <= pid < len(params) or (value.ndim > 0 and value.shape != params[pid].shape):
            raise JepakitError(f"the checkpoint's optimizer state {name} does not match the model's parameters")
        state.setdefault(pid, {})[key] = value
    for name, value in meta.get("scalars", {}).items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": current})


# -- writing ---------------------------------------------------------------------------


def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and fsync it."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a folder
        pass
    finally:
        os.close(fd)


def _nonfinite(tensors: dict[str, torch.Tensor]) -> str | None:
    for name, t in tensors.items():
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
            return name
    return None


def _describe(tensors: dict[str, torch.Tensor]) -> dict[str, list[Any]]:
    return {name: [str(t.dtype).removeprefix("torch."), list(t.shape)] for name, t in sorted(tensors.items())}


def _step_of(path: Path | str | None) -> int | None:
    m = _NAME.fullmatch(Path(path).name) if path is not None else None
    return int(m.group(1)) if m else None


def _root(run_dir: str | os.PathLike) -> Path:
    p = Path(run_dir)
    return p if p.name == "checkpoints" else p / "checkpoints"


def remove_stale(run_dir: str | os.PathLike) -> None:
    """Remove what an interrupted save left in ``run_dir/checkpoints``: ``.tmp-*``
    folders and a ``latest.tmp``. Only the run's one writer may call this."""
    root = _root(run_dir)
    if not root.is_dir():
        return
    for p in root.glob(".tmp-*"):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    (root / "latest.tmp").unlink(missing_ok=True)


def save_checkpoint(
    run_dir: Path,
    step: int,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer | None,
    state: dict[str, Any],
    keep: int = 2,
    last_good: Path | None = None,
) -> Path:
    """Write ``run_dir/checkpoints/step-N`` and point ``latest`` at it; keep the newest
    ``keep`` checkpoints (later ones, left from an abandoned attempt, are removed).

    ``state["history"]`` (the full loss history) goes to ``run_dir/history.jsonl``:
    the records after ``last_good`` (the previous checkpoint of this run, or the one it
    resumed from) are appended; without ``last_good`` the file is rewritten.
    Raises :class:`TrainingDiverged`, writing nothing, when weights or optimizer state
    are not finite; its message names ``last_good``."""
    run_dir = Path(run_dir)
    root = run_dir / "checkpoints"
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    opt_tensors, opt_meta = optimizer_tensors(opt) if opt is not None else ({}, None)
    for what, tensors in (("weights", weights), ("optimizer state", opt_tensors)):
        bad = _nonfinite(tensors)
        if bad is not None:
            where = f"the last good checkpoint is {last_good}" if last_good else "no checkpoint was written yet"
            raise TrainingDiverged(
                f"the {what} became non-finite ({bad}) by step {step}, so its checkpoint was not written; {where}. "
                "Lower train.lr or train.clip, or check the data for NaN"
            )
    meta = dict(state)
    history = meta.pop("history", None)
    meta.update(step=step, format=FORMAT)
    if opt_meta is not None:
        meta["optimizer"] = opt_meta
    blobs = {"model.safetensors": save_bytes(weights)}
    described = {"model.safetensors": _describe(weights)}
    if opt is not None:
        blobs["optim.safetensors"] = save_bytes(opt_tensors)
        described["optim.safetensors"] = _describe(opt_tensors)
    blobs["state.json"] = json.dumps(_jsonable(meta), indent=1).encode()

    root.mkdir(parents=True, exist_ok=True)
    remove_stale(run_dir)
    final = root / f"step-{step:07d}"
    tmp = root / f".tmp-step-{step:07d}"
    tmp.mkdir()
    files = {}
    for name, data in blobs.items():
        write_durably(tmp / name, data)
        files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    manifest = {"format": FORMAT, "step": step, "files": files, "tensors": described}
    write_durably(tmp / MANIFEST, json.dumps(manifest, indent=1).encode())
    _fsync_dir(tmp)
    if final.exists():  # an earlier attempt's checkpoint of this step: moved aside whole
        old = root / f".tmp-old-{final.name}"
        os.replace(final, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(tmp, final)
    _fsync_dir(root)
    if isinstance(history, list):
        log_history(run_dir, history, step, last_good)
    pointer = root / "latest.tmp"
    write_durably(pointer, final.name.encode())
    os.replace(pointer, root / "latest")
    _fsync_dir(root)
    others = sorted((s, p) for p in root.glob("step-*") if p.is_dir() and p != final and (s := _step_of(p)) is not None)
    older = [p for s, p in others if s < step]
    drop = [p for s, p in others if s > step] + older[: max(0, len(older) - (keep - 1))]
    for p in drop:
        shutil.rmtree(p, ignore_errors=True)
    return final


def log_history(run_dir: Path, history: list[dict[str, Any]], step: int, last_good: Path | None) -> None:
    """Append the records of steps after ``last_good`` up to ``step`` to
    ``run_dir/history.jsonl`` (rewrite it whole without ``last_good``), fsynced."""
    path = Path(run_dir) / HISTORY
    since = _step_of(last_good)
    recs = [r for r in history if isinstance(r, dict) and isinstance(r.get("step"), int) and r["step"] <= step]
    if since is None or not path.exists():
        tmp = path.with_name(HISTORY + ".tmp")
        write_durably(tmp, "".join(json.dumps(_jsonable(r)) + "\n" for r in recs).encode())
        os.replace(tmp, path)
        return
    lines = "".join(json.dumps(_jsonable(r)) + "\n" for r in recs if r["step"] > since)
    with open(path, "ab+") as f:
        if f.tell() and (f.seek(-1, os.SEEK_END), f.read(1))[1] != b"\n":
            lines = "\n" + lines  # a record cut short by a kill stays on its own line
        f.write(lines.encode())
        f.flush()
        os.fsync(f.fileno())


def read_history(run_dir: str | os.PathLike, step: int) -> list[dict[str, Any]] | None:
    """The records of steps 1..``step`` in ``run_dir/history.jsonl`` (None without one)."""
    path = Path(run_dir) / HISTORY
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    by_step: dict[int, dict[str, Any]] = {}
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("step"), int) and 0 < rec["step"] <= step:
            by_step[rec["step"]] = rec
    return [by_step[s] for s in sorted(by_step)]


def checkpoint_history(ckpt: Path, state: dict[str, Any]) -> list[dict[str, Any]]:
    """The loss history up to checkpoint ``ckpt`` (``state`` its state)."""
    if isinstance(state.get("history"), list):  # written before history.jsonl
        return list(state["history"])
    run_dir = Path(ckpt).parent.parent
    step = int(state.get("step", 0))
    recs = read_history(run_dir, step)
    if recs is None:
        if step:
            notice(f"{run_dir / HISTORY} is missing; the loss history before step {step} is lost")
        return []
    if len(recs) < step:
        notice(f"{run_dir / HISTORY} holds {len(recs)} of the first {step} steps' records; the loss history is incomplete")
    return recs


# -- reading ---------------------------------------------------------------------------


def _is_checkpoint_dir(p: Path) -> bool:
    return p.is_dir() and ((p / "state.json").exists() or (p / MANIFEST).exists() or _step_of(p) is not None)


def _plain_dir(p: Path) -> bool:
    """A folder of its own, not a link that could lead out of the run folder."""
    return p.is_dir() and not p.is_symlink()


def _candidates(root: Path) -> tuple[list[Path], str | None]:
    """The checkpoints of ``root`` to try, best first: the one ``latest`` names, then
    the earlier ones, newest first; and what was wrong with ``latest``, if anything."""
    found = sorted(((s, p) for p in root.iterdir() if (s := _step_of(p)) is not None and _plain_dir(p)), reverse=True)
    pointer = root / "latest"
    if not pointer.exists() and not pointer.is_symlink():
        return [p for _, p in found], None
    problem = None
    try:
        name = pointer.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        name, problem = None, f"cannot be read ({getattr(exc, 'strerror', None) or type(exc).__name__})"
    if name is not None:
        if _NAME.fullmatch(name) is None:
            problem = f"holds {name[:80]!r}, not the name of a step-N folder beside it"
        elif not _plain_dir(root / name):
            problem = f"names {name}, which does not exist" if not (root / name).exists() else f"names {name}, a link"
        else:
            first = _step_of(name)
            return [root / name] + [p for s, p in found if s < first], None
    return [p for _, p in found], f"{pointer} {problem}"


def _read_bytes(ckpt: Path, name: str) -> bytes:
    try:
        return (ckpt / name).read_bytes()
    except FileNotFoundError:
        raise CheckpointDamaged(f"{name} is missing") from None
    except OSError as exc:
        raise CheckpointDamaged(f"{name} cannot be read: {exc.strerror or exc}") from None


def _load_tensors(data: bytes, name: str, manifest: dict[str, Any] | None) -> dict[str, torch.Tensor]:
    try:
        tensors = load_bytes(data)
    except Exception:  # safetensors raises its own error types on a bad header
        raise CheckpointDamaged(f"{name} is not a readable safetensors file") from None
    expected = (manifest or {}).get("tensors", {}).get(name)
    if manifest is not None and _describe(tensors) != expected:
        raise CheckpointDamaged(f"{name} holds other tensors, dtypes or shapes than manifest.json lists")
    bad = _nonfinite(tensors)
    if bad is not None:
        raise CheckpointDamaged(f"{name} holds non-finite values in {bad}")
    return tensors


def _verified(ckpt: Path, optimizer: bool) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The state and weights of ``ckpt`` after verification (and its optimizer file's,
    with ``optimizer``); raises :class:`CheckpointDamaged` with the reason."""
    manifest = None
    if (ckpt / MANIFEST).exists() or not (ckpt / "state.json").exists():
        try:
            manifest = json.loads(_read_bytes(ckpt, MANIFEST))
        except ValueError:
            manifest = None
        if not (
            isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) and isinstance(manifest.get("step"), int)
            and isinstance(manifest.get("tensors"), dict)
        ):
            raise CheckpointDamaged(f"{MANIFEST} is unreadable")

    def read(name: str) -> bytes:
        if manifest is not None and name not in manifest["files"]:
            raise CheckpointDamaged(f"{name} is not listed in {MANIFEST}")
        data = _read_bytes(ckpt, name)
        if manifest is not None:
            entry = manifest["files"][name]
            if not isinstance(entry, dict) or len(data) != entry.get("bytes") or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
                raise CheckpointDamaged(f"{name} fails its sha256 check")
        return data

    try:
        state = json.loads(read("state.json"))
    except ValueError:
        raise CheckpointDamaged("state.json is not valid JSON") from None
    if not isinstance(state, dict):
        raise CheckpointDamaged("state.json is not a JSON object")
    step = state.get("step")
    if not isinstance(step, int) or isinstance(step, bool):
        raise CheckpointDamaged("state.json holds no integer step")
    if step < 0:
        raise CheckpointDamaged(f"its step {step} is negative")
    if _step_of(ckpt) is not None and step != _step_of(ckpt):
        raise CheckpointDamaged(f"its step {step} does not match its folder name")
    if manifest is not None and step != manifest["step"]:
        raise CheckpointDamaged(f"its step {step} does not match {MANIFEST}")
    try:
        total = int(state["config"]["train"]["steps"])
    except (KeyError, TypeError, ValueError):
        total = None
    if total is not None and step > total:
        raise CheckpointDamaged(f"its step {step} exceeds train.steps {total}")
    weights = _load_tensors(read("model.safetensors"), "model.safetensors", manifest)
    if optimizer and "optimizer" in state:
        _load_tensors(read("optim.safetensors"), "optim.safetensors", manifest)
    if manifest is None:
        notice(f"checkpoint {ckpt} has no {MANIFEST} (an older jepakit wrote it): its files cannot be verified")
    return state, weights


def find_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint folder from a run folder, a ``checkpoints`` folder or the folder
    itself (not verified: see :func:`read_checkpoint`)."""
    p = Path(path)
    if _is_checkpoint_dir(p) and not (p / "checkpoints").is_dir():
        return p
    root = _root(p)
    cands, problem = _candidates(root) if root.is_dir() else ([], None)
    if not cands:
        raise JepakitError(f"no checkpoint found at {p} (expected a run folder or a checkpoints/step-* folder)")
    if problem:
        notice(f"{problem}; using {cands[0]}")
    return cands[0]


def read_checkpoint(path: str | os.PathLike, optimizer: bool = False) -> tuple[Path, dict[str, Any], dict[str, torch.Tensor]]:
    """``(folder, state, weights)`` of the latest intact checkpoint of a run folder (or
    of the checkpoint folder ``path`` itself, which must then be intact). ``optimizer``:
    the optimizer file must be intact too (to resume; evaluation needs only weights)."""
    p = Path(path)
    if _is_checkpoint_dir(p) and not (p / "checkpoints").is_dir():
        try:
            state, weights = _verified(p, optimizer)
        except CheckpointDamaged as exc:
            raise JepakitError(f"checkpoint {p} is damaged ({exc})") from None
        return p, state, weights
    root = _root(p)
    cands, problem = _candidates(root) if root.is_dir() else ([], None)
    if not cands:
        raise JepakitError(f"no checkpoint found at {p} (expected a run folder or a checkpoints/step-* folder)")
    damaged: list[str] = []
    for ckpt in cands:
        try:
            state, weights = _verified(ckpt, optimizer)
        except CheckpointDamaged as exc:
            damaged.append(f"checkpoint {ckpt} is damaged ({exc})")
            continue
        if problem or damaged:
            notice("; ".join(([problem] if problem else []) + damaged) + f"; using {ckpt}")
        return ckpt, state, weights
    raise JepakitError(f"no intact checkpoint in {root}: " + "; ".join(([problem] if problem else []) + damaged))


def verify_checkpoint(path: str | os.PathLike, optimizer: bool = False) -> str | None:
    """Why the checkpoint folder ``path`` is damaged, or None when it is intact."""
    try:
        _verified(Path(path), optimizer)
    except CheckpointDamaged as exc:
        return str(exc)
    return None


def read_optimizer(ckpt: Path) -> dict[str, torch.Tensor]:
    """The optimizer tensors of ``ckpt`` (verified against its manifest)."""
    ckpt = Path(ckpt)
    if not (ckpt / MANIFEST).exists():
        f = ckpt / "optim.safetensors"
        return load_bytes(f.read_bytes()) if f.exists() else {}
    manifest = json.loads((ckpt / MANIFEST).read_text())
    if "optim.safetensors" not in manifest["files"]:
        return {}
    data = _read_bytes(ckpt, "optim.safetensors")
    if hashlib.sha256(data).hexdigest() != manifest["files"]["optim.safetensors"]["sha256"]:
        raise JepakitError(f"checkpoint {ckpt} is damaged (optim.safetensors fails its sha256 check)")
    return _load_tensors(data, "optim.safetensors", manifest)
