"""Fixture writers for tests and examples: small trajectory files whose every row says
where it came from, so a window that mixes episodes or misaligns actions is visible."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .episodes import Episode
from .io import to_arrays, write_episodes


def tagged_episodes(lengths: list[int], obs_dim: int = 3, action_dim: int = 2, final_obs: bool = False,
                    states: bool = True) -> list[Episode]:
    """Episodes whose observation at step ``t`` of episode ``e`` is ``[e, t, ...]``, whose
    action is ``[e, t + 0.5, ...]`` (taken at ``o[t]``) and whose state is ``[e, t]``;
    ``final_obs`` adds the observation after the last action (Minari)."""
    eps = []
    for e, n in enumerate(lengths):
        m = n + 1 if final_obs else n
        obs = np.zeros((m, obs_dim), dtype=np.float32)
        obs[:, 0], obs[:, 1] = e, np.arange(m)
        if obs_dim > 2:
            obs[:, 2:] = np.random.default_rng(e).normal(size=(m, obs_dim - 2))
        act = np.zeros((n, action_dim), dtype=np.float32)
        act[:, 0] = e
        if action_dim > 1:
            act[:, 1] = np.arange(n) + 0.5
        st = np.stack([np.full(m, e, dtype=np.float32), np.arange(m, dtype=np.float32)], axis=1) if states else None
        eps.append(Episode(obs, act, np.arange(n, dtype=np.float64), st, bool(e % 2 == 0), f"tagged:{e}"))
    return eps


def write_tagged(path: str | os.PathLike, lengths: list[int], layout: str = "flat", **kw) -> Path:
    """:func:`tagged_episodes` written to ``path`` (``.npz`` flat/grouped, ``.parquet``, ``.h5``)."""
    return write_episodes(path, tagged_episodes(lengths, **kw), layout, state_names=["episode", "step"])


def write_broken(path: str | os.PathLike, what: str) -> Path:
    """A flat ``.npz`` with one defect: ``nan`` (a NaN action), ``lengths`` (one action
    short), ``ends`` (episode_ends past the rows), ``split`` (an episode id that comes back),
    ``keys`` (no observations)."""
    arrays = to_arrays(tagged_episodes([6, 5]))
    if what == "nan":
        arrays["actions"][3, 0] = np.nan
    elif what == "lengths":
        arrays["actions"] = arrays["actions"][:-1]
    elif what == "ends":
        arrays["episode_ends"] = np.array([6, 20])
    elif what == "split":
        arrays.pop("episode_ends")
        arrays.pop("success")
        arrays["episode"] = np.array([0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1])
    elif what == "keys":
        arrays["frames"] = arrays.pop("observations")
    else:
        raise ValueError(f"unknown defect {what!r}")
    np.savez(path, **arrays)
    return Path(path)


__all__ = ["tagged_episodes", "write_broken", "write_tagged"]
