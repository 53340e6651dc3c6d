"""Trajectory files: ``.npz``, Parquet and HDF5, one file or a folder of them.

``.npz`` (numpy), either layout:

* **flat** -- ``observations`` (alias ``obs``) ``(N, *obs_shape)``, ``actions`` ``(N, a)``
  (or ``(N,)``), optional ``rewards`` ``(N,)``, ``states`` ``(N, s)`` (the true
  environment state, for probes) and ``state_names`` ``(s,)``; the episodes are cut by
  ``episode_ends`` ``(E,)`` (exclusive cumulative end rows, the last == N), or ``episode``
  ``(N,)`` ids (each episode's rows contiguous), or D4RL's ``terminals`` / ``timeouts``;
  none of these: the file is one episode. ``success`` ``(E,)`` flags each episode.
* **grouped** (HDF5-style) -- one group per episode, keys ``<episode>/observations``,
  ``<episode>/actions``, ``<episode>/rewards``, ``<episode>/states``, ``<episode>/success``.
  An episode's observations may be one longer than its actions (the final observation).

Parquet: one row per step, columns ``episode`` (optional: one episode), the observation as
a list column ``obs`` / ``observation`` or scalar columns ``obs_0 .. obs_{d-1}``, the action
as ``action`` (list) or ``action_0 ..``, optional ``reward``, ``state_<name>`` columns and a
boolean ``success`` (constant within an episode).

HDF5 (``.h5`` / ``.hdf5``, needs h5py: ``pip install "jepakit-control[full]"``): the
grouped layout as groups (Minari's ``episode_<i>/observations`` ...), or the flat layout
as datasets at the root.

Every bad file is one line naming it and the fix; a folder skips the bad files, says so,
and fails only when none can be read (:class:`jepakit.kit.Failures`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from jepakit.kit import DataError, Failures, read_each

from .episodes import Episode, split_flat, validate

SUFFIXES = {".npz": "npz", ".parquet": "parquet", ".pq": "parquet", ".h5": "hdf5", ".hdf5": "hdf5"}
OBS_KEYS = ("observations", "obs")
FLAT_KEYS = {"observations", "obs", "actions", "rewards", "states", "state_names", "episode_ends", "episode", "terminals",
             "timeouts", "success", "next_observations", "infos"}


def read_episodes(path: str | os.PathLike) -> tuple[list[Episode], list[str] | None]:
    """Every episode of a file or of the trajectory files in a folder (sorted by name),
    validated, and the state variables' names (None when the files give none)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES)
        if not files:
            raise DataError(f"{p}: no trajectory files (.npz, .parquet, .h5) in this folder")
        failures = Failures()
        episodes: list[Episode] = []
        names: list[str] | None = None
        for _, (eps, nm) in read_each(files, read_file, failures):
            episodes += eps
            names = names or nm
        if not episodes:
            raise failures.error(p, len(files))
        return check_consistent(episodes, str(p)), names
    episodes, names = read_file(p)
    return check_consistent(episodes, str(p)), names


def read_file(p: Path) -> tuple[list[Episode], list[str] | None]:
    kind = SUFFIXES.get(p.suffix.lower())
    if kind is None:
        raise DataError(f"{p}: unknown trajectory format {p.suffix!r}; use .npz, .parquet or .h5")
    try:
        if kind == "npz":
            return _read_npz(p)
        if kind == "parquet":
            return _read_parquet(p)
        return _read_hdf5(p)
    except DataError:
        raise
    except Exception as exc:  # a truncated or foreign file: one line naming it
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{p}: cannot read trajectories: {first}") from None


def _read_npz(p: Path) -> tuple[list[Episode], list[str] | None]:
    with np.load(p, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return from_arrays(arrays, str(p))


def from_arrays(arrays: dict[str, np.ndarray], src: str) -> tuple[list[Episode], list[str] | None]:
    """Episodes of a flat or grouped mapping of arrays (an ``.npz``'s or an HDF5 file's)."""
    grouped = [k for k in arrays if "/" in k]
    if grouped:
        groups: dict[str, dict[str, np.ndarray]] = {}
        for k in grouped:
            g, _, leaf = k.rpartition("/")
            groups.setdefault(g, {})[leaf] = arrays[k]
        names = _state_names(arrays.get("state_names"))
        eps = []
        for g in sorted(groups, key=_natural):
            a = groups[g]
            obs = next((a[k] for k in OBS_KEYS if k in a), None)
            if obs is None:
                raise DataError(f"{src}: episode group {g!r} has no 'observations' (has {sorted(a)})")
            success = a.get("success")
            eps.append(validate(Episode(obs, a.get("actions"), a.get("rewards"), a.get("states"),
                                        None if success is None else bool(np.asarray(success).reshape(-1)[0]), f"{src}:{g}")))
        return eps, names
    obs_key = next((k for k in OBS_KEYS if k in arrays), None)
    if obs_key is None:
        raise DataError(f"{src}: no 'observations' array (has {sorted(arrays)}); name the observations 'observations' "
                        "(flat) or '<episode>/observations' (grouped)")
    unknown = sorted(set(arrays) - FLAT_KEYS)
    if unknown:
        raise DataError(f"{src}: unknown array {unknown[0]!r}; valid: {', '.join(sorted(FLAT_KEYS))}")
    obs = arrays[obs_key]
    n = len(obs)
    for k in ("actions", "rewards", "states"):
        if k in arrays and len(arrays[k]) != n:
            raise DataError(f"{src}: {len(arrays[k])} rows of {k} for {n} observations; flat arrays need one row per step")
    spans = split_flat(n, src, arrays.get("episode_ends"), arrays.get("episode"), arrays.get("terminals"), arrays.get("timeouts"))
    success = arrays.get("success")
    if success is not None:
        success = np.asarray(success).reshape(-1)
        if len(success) != len(spans):
            raise DataError(f"{src}: {len(success)} success flags for {len(spans)} episodes; give one per episode")
    eps = []
    for i, (a, b) in enumerate(spans):
        eps.append(validate(Episode(
            obs[a:b], arrays["actions"][a:b] if "actions" in arrays else None, arrays["rewards"][a:b] if "rewards" in arrays else None,
            arrays["states"][a:b] if "states" in arrays else None, None if success is None else bool(success[i]), f"{src}:episode {i}",
        )))
    return eps, _state_names(arrays.get("state_names"))


def _state_names(a: Any) -> list[str] | None:
    return None if a is None else [str(x) for x in np.asarray(a).reshape(-1).tolist()]


def _natural(s: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def _read_parquet(p: Path) -> tuple[list[Episode], list[str] | None]:
    import pyarrow.parquet as pq

    table = pq.read_table(p)
    cols = table.column_names
    src = str(p)
    if table.num_rows == 0:
        raise DataError(f"{src}: the table is empty")

    def matrix(names: tuple[str, ...], prefix: str, what: str, required: bool) -> np.ndarray | None:
        for name in names:
            if name in cols:
                values = table.column(name).to_pylist()
                try:
                    return np.asarray(values, dtype=np.float64)
                except (ValueError, TypeError):
                    raise DataError(f"{src}: column {name!r} must hold equal-length lists of numbers (one {what} per row)") from None
        scalar = sorted((c for c in cols if re.fullmatch(rf"{prefix}_\d+", c)), key=_natural)
        if scalar:
            return np.stack([np.asarray(table.column(c).to_pylist(), dtype=np.float64) for c in scalar], axis=1)
        if required:
            raise DataError(f"{src}: no {what} column; give a list column {names[0]!r} or columns {prefix}_0, {prefix}_1, ...")
        return None

    obs = matrix(("obs", "observation", "observations"), "obs", "observation", True)
    actions = matrix(("action", "actions"), "action", "action", False)
    state_cols = [c for c in cols if c.startswith("state_")]
    states = np.stack([np.asarray(table.column(c).to_pylist(), dtype=np.float64) for c in state_cols], axis=1) if state_cols else None
    rewards = np.asarray(table.column("reward").to_pylist(), dtype=np.float64) if "reward" in cols else None
    ids = np.asarray(table.column("episode").to_pylist()) if "episode" in cols else None
    spans = split_flat(len(obs), src, episode=ids)
    success = np.asarray(table.column("success").to_pylist()) if "success" in cols else None
    eps = []
    for i, (a, b) in enumerate(spans):
        name = f"{src}:episode {ids[a] if ids is not None else i}"
        ok = None
        if success is not None:
            flags = set(success[a:b].tolist())
            if len(flags) != 1:
                raise DataError(f"{name}: 'success' changes within the episode; give one value per episode")
            ok = bool(flags.pop())
        eps.append(validate(Episode(obs[a:b], None if actions is None else actions[a:b], None if rewards is None else rewards[a:b],
                                    None if states is None else states[a:b], ok, name)))
    return eps, [c[len("state_"):] for c in state_cols] or None


def _read_hdf5(p: Path) -> tuple[list[Episode], list[str] | None]:
    try:
        import h5py
    except ImportError:
        raise DataError(f"{p}: reading HDF5 needs h5py; pip install \"jepakit-control[full]\" (or h5py), or convert to .npz") from None
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(p, "r") as f:
        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                arrays[name] = obj[()]
        f.visititems(visit)
    if "state_names" in arrays:
        arrays["state_names"] = np.asarray([x.decode() if isinstance(x, bytes) else str(x) for x in np.asarray(arrays["state_names"]).reshape(-1)])
    return from_arrays(arrays, str(p))


def check_consistent(episodes: list[Episode], where: str) -> list[Episode]:
    """All episodes share the observation shape and the action width: one line otherwise."""
    first = episodes[0]
    for ep in episodes[1:]:
        if ep.obs.shape[1:] != first.obs.shape[1:]:
            raise DataError(f"{ep.source}: observations of shape {ep.obs.shape[1:]} per step, but {first.source} has "
                            f"{first.obs.shape[1:]}; every episode of {where} must observe the same features")
        if ep.actions is not None and first.actions is not None and ep.actions.shape[1] != first.actions.shape[1]:
            raise DataError(f"{ep.source}: {ep.actions.shape[1]} action dimensions, but {first.source} has {first.actions.shape[1]}")
        if (ep.states is None) != (first.states is None) or (ep.states is not None and ep.states.shape[1] != first.states.shape[1]):
            raise DataError(f"{ep.source}: its true states differ from {first.source}'s (present in one, or another width); "
                            "give states for every episode or for none")
    return episodes


def write_episodes(path: str | os.PathLike, episodes: list[Episode], layout: str = "flat", state_names: list[str] | None = None) -> Path:
    """Write ``episodes`` to ``path`` (``.npz``: ``layout`` flat or grouped; ``.parquet``;
    ``.h5``: grouped), readable by :func:`read_episodes`."""
    p = Path(path)
    kind = SUFFIXES.get(p.suffix.lower())
    if kind == "npz":
        np.savez(p, **to_arrays(episodes, layout, state_names))
    elif kind == "hdf5":
        import h5py

        with h5py.File(p, "w") as f:
            for k, v in to_arrays(episodes, "grouped", state_names).items():
                f.create_dataset(k, data=v.astype("S") if v.dtype.kind == "U" else v)
    elif kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols: dict[str, list[Any]] = {"episode": [], "obs": [], "action": [], "reward": [], "success": []}
        names = state_names or [str(i) for i in range(episodes[0].states.shape[1])] if episodes[0].states is not None else []
        for n in names:
            cols[f"state_{n}"] = []
        for i, ep in enumerate(episodes):
            if ep.actions is None or len(ep.obs) != len(ep.actions):
                raise DataError(f"{ep.source}: Parquet holds one row per step: give one observation per action")
            for t in range(len(ep.actions)):
                cols["episode"].append(i)
                cols["obs"].append(ep.obs[t].reshape(-1).tolist())
                cols["action"].append(ep.actions[t].tolist())
                cols["reward"].append(float(ep.rewards[t]) if ep.rewards is not None else 0.0)
                cols["success"].append(bool(ep.success))
                for j, n in enumerate(names):
                    cols[f"state_{n}"].append(float(ep.states[t, j]))
        pq.write_table(pa.table(cols), p)
    else:
        raise DataError(f"{p}: unknown trajectory format {p.suffix!r}; use .npz, .parquet or .h5")
    return p


def to_arrays(episodes: list[Episode], layout: str = "flat", state_names: list[str] | None = None) -> dict[str, np.ndarray]:
    """The ``.npz`` arrays of ``episodes`` in the ``flat`` or ``grouped`` layout."""
    out: dict[str, np.ndarray] = {}
    if layout == "grouped":
        for i, ep in enumerate(episodes):
            out[f"episode_{i}/observations"] = ep.obs
            for k in ("actions", "rewards", "states"):
                if getattr(ep, k) is not None:
                    out[f"episode_{i}/{k}"] = getattr(ep, k)
            if ep.success is not None:
                out[f"episode_{i}/success"] = np.asarray([ep.success])
    elif layout == "flat":
        for ep in episodes:
            if ep.actions is not None and len(ep.obs) != len(ep.actions):
                raise DataError(f"{ep.source}: the flat layout holds one observation per action; use layout='grouped' "
                                "for episodes with a final observation")
        out["observations"] = np.concatenate([ep.obs for ep in episodes])
        if all(ep.actions is not None for ep in episodes):
            out["actions"] = np.concatenate([ep.actions for ep in episodes])
        if all(ep.rewards is not None for ep in episodes):
            out["rewards"] = np.concatenate([ep.rewards for ep in episodes])
        if all(ep.states is not None for ep in episodes):
            out["states"] = np.concatenate([ep.states for ep in episodes])
        out["episode_ends"] = np.cumsum([len(ep.obs) for ep in episodes]).astype(np.int64)
        if all(ep.success is not None for ep in episodes):
            out["success"] = np.asarray([ep.success for ep in episodes])
    else:
        raise DataError(f"unknown npz layout {layout!r}; use flat or grouped")
    if state_names:
        out["state_names"] = np.asarray(state_names)
    return out


__all__ = ["from_arrays", "read_episodes", "read_file", "to_arrays", "write_episodes"]
