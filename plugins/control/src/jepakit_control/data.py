"""``load``: demonstration episodes (files or the embedded simulator) -> windows to pretrain
on, state-probe tasks, and what the evaluations need (demonstrations, held-out episodes).

Which episodes do what:

* **training episodes** -- every episode but the held-out ones; their windows are the
  pretraining items (the JEPA loss uses all of them, failures included: ACT-JEPA's point
  that self-supervision can use data an imitation loss cannot);
* **demonstrations** -- the first ``demos`` training episodes (in a seeded order) that
  have actions and did not fail (``success`` not False): the only ones whose actions are
  imitated (the items' ``labelled``), and what label efficiency counts;
* **held-out episodes** -- the embedded test episodes (expert runs from other seeds), or
  ``test_fraction`` of a user's episodes (whole episodes): action-prediction error, and the
  state probes' test items. The closed-loop evaluation starts new simulator episodes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jepakit.kit import ConfigError, DataError, check, notice

from .episodes import Episode, Windows


@dataclass
class ControlData:
    """What the evaluations read off a bundle (``bundle.pretrain.control``)."""

    train: list[Episode]
    demos: list[int]  # indices into train
    test: list[Episode]
    info: dict[str, Any]


def load(
    path: Any = None,
    window: int = 8,
    chunk: int = 8,
    demos: int | None = None,
    labelled_share: float | None = 0.5,
    test_fraction: float = 0.2,
    probes: Sequence[str] | None = None,
    probe_stride: int = 4,
    rollouts: int = 20,
    env: str | None = None,
    observe: str = "angle",
    steps: int = 200,
    episodes: int = 60,
    noisy_episodes: int = 60,
    test_episodes: int = 20,
    expert_noise: float = 0.5,
    max_speed: float = 1.0,
    seed: int = 0,
    fitted: Mapping[str, Any] | None = None,
):
    """The ``control`` domain's data (see the module doc and the README's data keys)."""
    from jepakit import DataBundle, Task

    window, chunk = int(window), int(chunk)
    check(window >= 1 and chunk >= 1, f"data.window and data.chunk must be >= 1, got {window} and {chunk}")
    check(demos is None or int(demos) >= 0, f"data.demos must be >= 0 or null (all), got {demos}")
    check(labelled_share is None or 0.0 < float(labelled_share) <= 1.0, f"data.labelled_share must be in (0, 1] or null, got {labelled_share}")
    check(0.0 < float(test_fraction) < 1.0, f"data.test_fraction must be in (0, 1), got {test_fraction}")
    check(int(probe_stride) >= 1 and int(rollouts) >= 1, f"data.probe_stride and data.rollouts must be >= 1, got {probe_stride}, {rollouts}")
    from . import sim

    check(observe in ("angle", "full"), f"data.observe must be angle or full, got {observe!r}")
    if env is not None and env != sim.ENV_ID:
        raise ConfigError(f"data.env: the closed-loop evaluation knows {sim.ENV_ID} only (its expert and observations), "
                          f"got {env!r}; leave data.env unset to skip the closed loop")
    if path is None:
        train = sim.generate(int(episodes), int(noisy_episodes), 1000 + int(seed) * 100_000, int(steps), observe,
                             float(expert_noise), max_speed=float(max_speed))
        # held out: the expert's own episodes, no noise (what the action error compares with)
        test = sim.generate(int(test_episodes), 0, 50_000 + int(seed) * 100_000, int(steps), observe, 0.0, "pendulum-test")
        state_names: list[str] | None = list(sim.STATE_NAMES)
        env = env or sim.ENV_ID
        where = f"{sim.ENV_ID} expert ({observe} observed)"
        default_probes = ["thetadot", "future:cos_theta", "future:sin_theta", "future:thetadot"]
    else:
        from .io import read_episodes

        if isinstance(path, (list, tuple)) and path and isinstance(path[0], Episode):
            from .episodes import validate

            eps, state_names = [validate(e) for e in path], None
        else:
            eps, state_names = read_episodes(path)
        if len(eps) < 2:
            raise DataError(f"{path}: {len(eps)} episode; held-out episodes need at least 2 (one to train on, one to test)")
        rng = np.random.default_rng(int(seed))
        order = rng.permutation(len(eps))
        n_test = min(len(eps) - 1, max(1, int(round(float(test_fraction) * len(eps)))))
        test_idx = set(order[:n_test].tolist())
        train = [e for i, e in enumerate(eps) if i not in test_idx]
        test = [e for i, e in enumerate(eps) if i in test_idx]
        where = str(path) if not isinstance(path, (list, tuple)) else f"{len(eps)} in-memory episodes"
        default_probes = None
        if train[0].states is not None and state_names is None:
            state_names = [f"s{i}" for i in range(train[0].states.shape[1])]
    short = [e.source for e in train + test if e.last_window(chunk) < 0]
    if short:
        notice(f"{len(short)} episode(s) shorter than chunk + 1 = {chunk + 1} steps give no window and are left out "
               f"(first: {short[0]}); lower data.chunk to use them")
        train = [e for e in train if e.last_window(chunk) >= 0]
        test = [e for e in test if e.last_window(chunk) >= 0]
    if not train or not test:
        raise DataError(f"{where}: no {'training' if not train else 'held-out'} episode is longer than chunk + 1 = {chunk + 1} steps")

    order = np.random.default_rng(int(seed) + 1).permutation(len(train)) if path is not None else np.arange(len(train))
    candidates = [int(i) for i in order if train[i].actions is not None and train[i].success is not False]
    n_demos = len(candidates) if demos is None else int(demos)
    if n_demos > len(candidates):
        raise ConfigError(f"data.demos is {n_demos} but {where} has {len(candidates)} training episodes with actions that did "
                          f"not fail; give data.demos <= {len(candidates)}")
    demo_idx = sorted(candidates[:n_demos])
    labelled = [i in set(demo_idx) for i in range(len(train))]
    held = [e for e in test if e.actions is not None and e.success is not False]

    fitted = dict(fitted or {})
    all_obs = np.concatenate([e.obs.reshape(len(e.obs), -1) for e in train])
    obs_mean = fitted.get("obs_mean") or all_obs.mean(0).tolist()
    obs_std = fitted.get("obs_std") or np.maximum(all_obs.std(0), 1e-3).tolist()
    acts = [train[i].actions for i in demo_idx] or [e.actions for e in train if e.actions is not None]
    if not acts:
        raise DataError(f"{where}: no episode has actions; ACT-JEPA needs demonstrations with actions")
    all_acts = np.concatenate(acts)
    action_mean = fitted.get("action_mean") or all_acts.mean(0).tolist()
    action_std = fitted.get("action_std") or np.maximum(all_acts.std(0), 1e-3).tolist()
    info: dict[str, Any] = {
        "obs_shape": list(train[0].obs.shape[1:]), "action_dim": int(all_acts.shape[1]), "window": window, "chunk": chunk,
        "obs_mean": [float(x) for x in obs_mean], "obs_std": [float(x) for x in obs_std],
        "action_mean": [float(x) for x in action_mean], "action_std": [float(x) for x in action_std],
        "action_low": fitted.get("action_low") or all_acts.min(0).tolist(),
        "action_high": fitted.get("action_high") or all_acts.max(0).tolist(),
        # the simulator of the closed-loop evaluation (files: only when data.env names it, with
        # data.observe / data.steps saying what the files' observations and episodes are)
        "env": env, "observe": observe, "episode_steps": int(steps),
        "rollouts": int(rollouts), "demos": len(demo_idx), "state_names": state_names,
    }
    pretrain = Windows(train, window, chunk, labelled, labelled_share if demo_idx else None)
    pretrain.control = ControlData(train, demo_idx, held, info)  # type: ignore[attr-defined]

    tasks: dict[str, Any] = {}
    for spec in list(probes) if probes is not None else (default_probes or _all_probes(state_names)):
        future, _, name = spec.rpartition(":")
        if future not in ("", "future") or state_names is None or name not in state_names:
            raise ConfigError(f"data.probes: {spec!r} is not a state variable or 'future:<variable>'; variables: "
                              f"{', '.join(state_names or []) or '(the data has no states)'}")
        j, ahead = state_names.index(name), chunk if future else 0
        label = _state_label(j, ahead)
        tasks[spec.replace(":", "-")] = Task(
            Windows(train, window, chunk, stride=int(probe_stride), label=label, with_future=False),
            Windows(test, window, chunk, stride=int(probe_stride), label=label, with_future=False), "regression",
            description=f"{name} at t{'+' + str(ahead) if ahead else ''} (true environment state)",
        )
    if not tasks:  # no true states: the next action, linearly, from the frozen features
        tasks["next-action"] = Task(
            Windows([e for e in train if e.actions is not None], window, chunk, stride=int(probe_stride), label=_action_label,
                    with_future=False),
            Windows(held or test, window, chunk, stride=int(probe_stride), label=_action_label, with_future=False), "regression",
            description="the first dimension of the next action",
        )
    n_fail = sum(e.success is False for e in train)
    describe = (f"{where}: {len(train)} training episodes ({len(demo_idx)} demonstrations with actions, {n_fail} failed), "
                f"{len(test)} held out; windows of {window} past steps, chunks of {chunk}")
    return DataBundle(pretrain=pretrain, info=info, tasks=tasks, describe=describe)


def _all_probes(state_names: list[str] | None) -> list[str]:
    return [] if state_names is None else [*state_names, *(f"future:{n}" for n in state_names)]


class _state_label:  # noqa: N801 - a picklable closure (DataLoader workers)
    def __init__(self, j: int, ahead: int):
        self.j, self.ahead = j, ahead

    def __call__(self, ep: Episode, t: int) -> float:
        return float(ep.states[t + self.ahead, self.j])


def _action_label(ep: Episode, t: int) -> float:
    return float(ep.actions[t, 0])


__all__ = ["ControlData", "load"]
