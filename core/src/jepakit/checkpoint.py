"""Checkpoints without pickle: safetensors for tensors, JSON for everything else.

A run folder holds ``checkpoints/step-NNNNNNN/`` folders (``model.safetensors``,
``optim.safetensors``, ``state.json``) and a ``checkpoints/latest`` pointer that is
replaced atomically once a checkpoint is complete, so a crash mid-write never leaves
the run pointing at a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .errors import JepakitError


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
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    for name, value in meta.get("scalars", {}).items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(
    run_dir: Path, step: int, model: torch.nn.Module, opt: torch.optim.Optimizer | None, state: dict[str, Any], keep: int = 2
) -> Path:
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:07d}"
    tmp = root / f".tmp-step-{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(weights, str(tmp / "model.safetensors"))
    meta = dict(state, step=step)
    if opt is not None:
        tensors, opt_meta = optimizer_tensors(opt)
        save_file(tensors, str(tmp / "optim.safetensors"))
        meta["optimizer"] = opt_meta
    (tmp / "state.json").write_text(json.dumps(_jsonable(meta), indent=1))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    pointer = root / "latest.tmp"
    pointer.write_text(final.name)
    os.replace(pointer, root / "latest")
    old = sorted(p for p in root.glob("step-*") if p.is_dir() and p != final)
    for p in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def find_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint folder from a run folder, a ``checkpoints`` folder or the folder itself."""
    p = Path(path)
    for cand in (p, p / "checkpoints"):
        if (cand / "state.json").exists():
            return cand
        if (cand / "latest").exists():
            return cand / (cand / "latest").read_text().strip()
    raise JepakitError(f"no checkpoint found at {p} (expected a run folder or a checkpoints/step-* folder)")


def read_checkpoint(path: str | os.PathLike) -> tuple[Path, dict[str, Any], dict[str, torch.Tensor]]:
    ckpt = find_checkpoint(path)
    state = json.loads((ckpt / "state.json").read_text())
    weights = load_file(str(ckpt / "model.safetensors"))
    return ckpt, state, weights


def read_optimizer(ckpt: Path) -> dict[str, torch.Tensor]:
    f = Path(ckpt) / "optim.safetensors"
    return load_file(str(f)) if f.exists() else {}
