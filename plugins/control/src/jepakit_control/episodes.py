"""Episodes and the windows cut from them (numpy only).

An :class:`Episode` holds one trajectory in the D4RL convention: ``obs[t]`` is the
observation at which ``actions[t]`` was taken, so both have one row per step; a final
observation (the one after the last action, as Minari stores ``L + 1`` observations) may
follow. A window at step ``t`` is what ACT-JEPA trains on and what a policy sees:

* ``obs``: the ``T`` observations ``o[t-T+1 .. t]`` (the current one last); steps before
  the episode's start repeat ``o[0]`` (edge padding, as a policy at step 0 has seen only
  ``o[0]``), never another episode's rows;
* ``actions``: the chunk ``a[t .. t+k-1]`` taken from ``o[t]`` on;
* ``future``: ``o[t+1 .. t+k]``, the observations those actions led to.

So ``t`` runs over ``0 .. min(n_obs - 1 - k, n_actions - k)``: a window never reaches past
its episode's end and never into the next episode (``tests/control``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jepakit.kit import DataError


@dataclass
class Episode:
    """One trajectory. ``obs`` ``(L or L + 1, *obs_shape)``; ``actions`` ``(L, action_dim)``
    or None (an episode without actions: JEPA data only); ``rewards`` ``(L,)``; ``states``
    ``(L or L + 1, state_dim)`` the true environment state (probes); ``success`` True /
    False / None (unknown); ``source`` names the file and episode in messages."""

    obs: np.ndarray
    actions: np.ndarray | None = None
    rewards: np.ndarray | None = None
    states: np.ndarray | None = None
    success: bool | None = None
    source: str = "episode"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        """Steps with an action (observations when there are no actions)."""
        return len(self.actions) if self.actions is not None else len(self.obs) - 1

    def last_window(self, chunk: int) -> int:
        """The last step ``t`` a window of ``chunk`` future steps can start at (-1: none)."""
        n_act = len(self.actions) if self.actions is not None else len(self.obs)
        return min(len(self.obs) - 1 - chunk, n_act - chunk)


def validate(ep: Episode) -> Episode:
    """``ep`` with float32 arrays, or a one-line :class:`DataError` naming ``ep.source``
    and the fix (unequal lengths, NaN/Inf, wrong shapes)."""
    src = ep.source
    obs = np.asarray(ep.obs)
    if obs.ndim < 2 or len(obs) < 2:
        raise DataError(f"{src}: observations must be (steps, features...) with >= 2 steps, got shape {obs.shape}")
    if not np.issubdtype(obs.dtype, np.number) or np.issubdtype(obs.dtype, np.complexfloating):
        raise DataError(f"{src}: observations must be real numbers, got dtype {obs.dtype}")
    obs = obs.astype(np.float32)
    _finite(obs, src, "observations")
    actions = None
    if ep.actions is not None:
        actions = np.asarray(ep.actions)
        if actions.ndim == 1:  # one action dimension stored flat
            actions = actions[:, None]
        if actions.ndim != 2:
            raise DataError(f"{src}: actions must be (steps, action_dim), got shape {actions.shape}")
        if not np.issubdtype(actions.dtype, np.number) or np.issubdtype(actions.dtype, np.complexfloating):
            raise DataError(f"{src}: actions must be real numbers (continuous control), got dtype {actions.dtype}")
        actions = actions.astype(np.float32)
        _finite(actions, src, "actions")
        if len(obs) not in (len(actions), len(actions) + 1):
            raise DataError(
                f"{src}: {len(obs)} observations and {len(actions)} actions; give one observation per action "
                f"(D4RL) or one more (the final observation, Minari)"
            )
    rewards = None
    if ep.rewards is not None:
        rewards = np.asarray(ep.rewards, dtype=np.float64).reshape(-1)
        _finite(rewards, src, "rewards")
        n = len(actions) if actions is not None else len(obs)
        if len(rewards) != n:
            raise DataError(f"{src}: {len(rewards)} rewards for {n} steps; give one reward per step")
    states = None
    if ep.states is not None:
        states = np.asarray(ep.states, dtype=np.float32)
        if states.ndim == 1:
            states = states[:, None]
        _finite(states, src, "states")
        if len(states) != len(obs):
            raise DataError(f"{src}: {len(states)} states for {len(obs)} observations; give one state per observation")
    success = None if ep.success is None else bool(ep.success)
    return Episode(obs, actions, rewards, states, success, src, dict(ep.meta))


def _finite(a: np.ndarray, src: str, what: str) -> None:
    bad = ~np.isfinite(a.reshape(len(a), -1)).all(axis=1)
    if bad.any():
        steps = np.flatnonzero(bad)
        more = f" (and {len(steps) - 1} more)" if len(steps) > 1 else ""
        raise DataError(f"{src}: NaN or Inf in {what} at step {int(steps[0])}{more}; repair or drop those steps before loading")


def split_flat(n: int, src: str, episode_ends: Any = None, episode: Any = None, terminals: Any = None,
               timeouts: Any = None) -> list[tuple[int, int]]:
    """``(start, stop)`` row ranges of the episodes in ``n`` flat rows, from one of:
    ``episode_ends`` (exclusive cumulative ends, the last == ``n``; diffusion policy's
    replay buffer), ``episode`` (an id per row, each episode's rows contiguous),
    ``terminals`` / ``timeouts`` (D4RL: a row that ends an episode); none: one episode."""
    if episode_ends is not None:
        ends = np.asarray(episode_ends).reshape(-1)
        if not np.issubdtype(ends.dtype, np.integer):
            raise DataError(f"{src}: episode_ends must be integers (exclusive end rows), got dtype {ends.dtype}")
        ends = ends.astype(np.int64)
        if len(ends) == 0 or (np.diff(np.concatenate([[0], ends])) <= 0).any() or ends[-1] != n:
            raise DataError(f"{src}: episode_ends must rise strictly and end at the row count {n}, got {ends[:5].tolist()}...{ends[-1:].tolist()}")
        starts = np.concatenate([[0], ends[:-1]])
        return [(int(a), int(b)) for a, b in zip(starts, ends)]
    if episode is not None:
        ids = np.asarray(episode).reshape(-1)
        if len(ids) != n:
            raise DataError(f"{src}: {len(ids)} episode ids for {n} rows; give one per row")
        change = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        bounds = np.concatenate([[0], change, [n]])
        runs = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        seen: dict[Any, int] = {}
        for a, _ in runs:
            key = ids[a].item()
            if key in seen:
                raise DataError(f"{src}: episode {key!r} is split (rows from {seen[key]} and from {a}); sort the rows by episode, "
                                "then by step")
            seen[key] = a
        return runs
    if terminals is not None or timeouts is not None:
        done = np.zeros(n, dtype=bool)
        for flags in (terminals, timeouts):
            if flags is not None:
                f = np.asarray(flags).reshape(-1)
                if len(f) != n:
                    raise DataError(f"{src}: {len(f)} terminal/timeout flags for {n} rows; give one per row")
                done |= f.astype(bool)
        ends = np.flatnonzero(done) + 1
        if len(ends) == 0 or ends[-1] != n:
            ends = np.concatenate([ends, [n]])  # the rows after the last flagged end: an unfinished episode, kept
        starts = np.concatenate([[0], ends[:-1]])
        return [(int(a), int(b)) for a, b in zip(starts, ends)]
    return [(0, n)]


class Windows:
    """Map-style dataset of the windows of ``episodes`` (see the module doc).

    ``rows``: ``(n, 2)`` of ``(episode, t)``. ``labelled``: per episode, whether its
    actions are imitated (the action loss reads them); the item's ``labelled`` is 0/1.
    ``labelled_share``: None keeps every window once; a share in (0, 1) repeats the
    labelled windows so they are about that share of the rows (few demonstrations among
    many unlabelled episodes would otherwise give the action loss a handful of items a
    batch); 1.0 keeps the labelled windows only (behaviour cloning). ``stride`` keeps every
    ``stride``-th window of an episode. ``label``: a callable ``(episode, t) -> float``
    adding a probe label; ``future_keys``: include ``future`` and ``actions``.
    """

    def __init__(self, episodes: list[Episode], window: int, chunk: int, labelled: list[bool] | None = None,
                 labelled_share: float | None = None, stride: int = 1, label: Any = None, with_future: bool = True):
        self.episodes, self.window, self.chunk = episodes, int(window), int(chunk)
        self.labelled = [False] * len(episodes) if labelled is None else [bool(x) for x in labelled]
        self.label, self.with_future = label, bool(with_future)
        rows = [(e, t) for e, ep in enumerate(episodes) for t in range(0, ep.last_window(self.chunk) + 1, max(1, int(stride)))]
        if not rows:
            raise DataError(f"no episode is longer than chunk + 1 = {self.chunk + 1} steps; lower data.chunk")
        arr = np.asarray(rows, dtype=np.int64)
        lab = np.asarray([self.labelled[e] for e, _ in rows], dtype=bool)
        if labelled_share is not None:
            share = float(labelled_share)
            if not lab.any():
                raise DataError("data.labelled_share is set but no episode has actions to imitate (data.demos is 0 or no "
                                "episode succeeded)")
            if share >= 1.0:
                arr = arr[lab]
            elif share > 0:
                n_l, n_u = int(lab.sum()), int((~lab).sum())
                reps = max(1, int(round(share * n_u / ((1.0 - share) * n_l)))) if n_u else 1
                arr = np.concatenate([arr[~lab], np.repeat(arr[lab], reps, axis=0)])
                arr = arr[np.lexsort((arr[:, 1], arr[:, 0]))]
        self.rows = arr
        self.obs_shape = episodes[0].obs.shape[1:]
        ad = next((ep.actions.shape[1] for ep in episodes if ep.actions is not None), 1)
        self.action_dim = int(ad)

    def __len__(self) -> int:
        return len(self.rows)

    def item(self, e: int, t: int) -> dict[str, Any]:
        ep = self.episodes[e]
        past = np.clip(np.arange(t - self.window + 1, t + 1), 0, None)  # edge padding at the episode's start only
        out: dict[str, Any] = {"obs": ep.obs[past]}
        if self.with_future:
            out["future"] = ep.obs[t + 1 : t + 1 + self.chunk]
            if ep.actions is not None:
                out["actions"] = ep.actions[t : t + self.chunk]
                out["labelled"] = np.float32(self.labelled[e])
            else:  # nothing to imitate: the action loss selects labelled items only, these never count
                out["actions"] = np.zeros((self.chunk, self.action_dim), dtype=np.float32)
                out["labelled"] = np.float32(0.0)
        if self.label is not None:
            out["label"] = np.float32(self.label(ep, t))
        return out

    def __getitem__(self, i: int) -> dict[str, Any]:
        e, t = self.rows[int(i)]
        return self.item(int(e), int(t))

    @property
    def labels(self) -> np.ndarray:
        """Every item's probe label (the core reads them without building items)."""
        return np.asarray([self.label(self.episodes[int(e)], int(t)) for e, t in self.rows], dtype=np.float32)


__all__ = ["Episode", "Windows", "split_flat", "validate"]
