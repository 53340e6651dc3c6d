"""The embedded source: gymnasium's ``Pendulum-v1`` (classic control, no rendering, offline)
with a scripted expert, demonstrations and failed episodes, and batched closed-loop
rollouts of a policy.

Pendulum: angle ``th`` (0 upright), velocity ``thd``, torque ``u`` in [-2, 2], 200 steps of
0.05 s, ``thd' = 15 sin th + 3 u`` (g = 10, m = l = 1), reward ``-(th^2 + 0.1 thd^2 +
0.001 u^2)``; episodes start at a uniform angle and ``|thd| <= 1``. By default the learner
observes ``(cos th, sin th)`` only (``observe="angle"``): the velocity is hidden, so a
policy must infer it from its window of past observations, and the state probe asks the
representation for it (the world-model claim). ``observe="full"`` is gymnasium's
observation ``(cos th, sin th, thd)``.

Expert (measured over 40 seeded episodes, see the README's Tuning section): energy
pumping ``u = clip(0.2 (E* - E) thd, -2, 2)`` with ``E = thd^2 / 2 + 15 cos th`` (``dE/dt = 3 u
thd``, ``E* = 15`` upright at rest) until ``|th| < 0.6``, then PD ``u = -(10 th + 2 thd)``
(closed loop ``th'' = -15 th - 6 thd``: 3.9 rad/s, damping 0.77). Return -138, success 100 %,
upright after 24 steps (median); random torques: -1178. The bang-bang pump ``2 sign(thd (E*
- E))`` does as well in the simulator (-135) but chatters near ``E*``: behaviour cloning of
it reached an action MSE of 0.40 and a return of -1240 from 32 demonstrations (it
averages the chatter to a torque too weak to swing up). Failed episodes come from the
same expert with its torque delayed 3-4 steps and Gaussian noise (delay 4: return -922,
success 0 %; delay 3 + noise 0.5: success 10 %); each episode is flagged by its outcome,
not by how it was made.

Success: ``|th| < 0.3`` over each step of the episode's last quarter (50 of 200 steps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .episodes import Episode

ENV_ID = "Pendulum-v1"
STATE_NAMES = ["cos_theta", "sin_theta", "thetadot"]
SUCCESS_ANGLE = 0.3


def angle_normalize(x: np.ndarray | float) -> np.ndarray | float:
    return (np.asarray(x) + np.pi) % (2 * np.pi) - np.pi


def expert_action(th: float, thd: float) -> float:
    """The scripted expert's torque (see the module doc)."""
    th = float(angle_normalize(th))
    if abs(th) < 0.6:
        u = -(10.0 * th + 2.0 * thd)
    else:  # energy pumping, saturated-linear: bang-bang (2 sign(.)) chatters where E ~ E*, which cloning averages away
        energy = 0.5 * thd * thd + 15.0 * np.cos(th)
        u = 0.2 * (15.0 - energy) * thd
    return float(np.clip(u, -2.0, 2.0))


def observe(state: np.ndarray, how: str) -> np.ndarray:
    th, thd = float(state[0]), float(state[1])
    if how == "angle":
        return np.array([np.cos(th), np.sin(th)], dtype=np.float32)
    return np.array([np.cos(th), np.sin(th), thd], dtype=np.float32)


def true_state(state: np.ndarray) -> np.ndarray:
    th, thd = float(state[0]), float(state[1])
    return np.array([np.cos(th), np.sin(th), thd], dtype=np.float32)


def make_env(env_id: str = ENV_ID):
    import gymnasium as gym

    if env_id != ENV_ID:
        from jepakit.kit import ConfigError

        raise ConfigError(f"data.env: the embedded expert and closed-loop evaluation know {ENV_ID} only, got {env_id!r}")
    return gym.make(env_id).unwrapped  # no TimeLimit: the episode length is ours (steps)


def success_of(angles: np.ndarray) -> bool:
    angles = np.asarray(angles)
    tail = np.abs(angle_normalize(angles))[-max(1, len(angles) // 4):]
    return bool((tail < SUCCESS_ANGLE).all())


def expert_episode(seed: int, steps: int = 200, how: str = "angle", noise: float = 0.0, delay: int = 0,
                   source: str = "pendulum", record: str = "applied", max_speed: float = 1.0) -> Episode:
    """One episode of the expert from ``env.reset(seed=seed)`` (initial speed up to
    ``max_speed``), its torque delayed by ``delay`` steps and perturbed by Gaussian
    ``noise``. ``record``: ``applied`` records the torque the simulator applied (clipped to
    [-2, 2]); ``expert`` records the expert's own command at each visited state while the
    noisy one is applied (DART: demonstrations that show how to recover from the states
    a cloned policy's errors lead to); ``steps + 1`` observations."""
    env = make_env()
    env.reset(seed=int(seed), options={"y_init": float(max_speed)})
    rng = np.random.default_rng(int(seed) + 7_777)
    queue = [0.0] * int(delay)
    obs, acts, rews, states, angles = [], [], [], [], []
    for _ in range(int(steps)):
        s = np.array(env.state, dtype=np.float64)
        obs.append(observe(s, how))
        states.append(true_state(s))
        command = expert_action(s[0], s[1])
        queue.append(command + noise * rng.normal())
        u = float(np.clip(queue.pop(0), -2.0, 2.0))
        _, r, *_ = env.step(np.array([u], dtype=np.float32))
        acts.append([command if record == "expert" else u])
        rews.append(r)
        angles.append(env.state[0])
    s = np.array(env.state, dtype=np.float64)
    obs.append(observe(s, how))
    states.append(true_state(s))
    return Episode(np.stack(obs), np.asarray(acts, dtype=np.float32), np.asarray(rews, dtype=np.float64), np.stack(states),
                   success_of(np.asarray(angles)), f"{source}:seed {seed}", {"seed": int(seed), "noise": noise, "delay": delay})


def generate(n_expert: int, n_noisy: int, seed: int, steps: int = 200, how: str = "angle", expert_noise: float = 0.5,
             source: str = "pendulum", max_speed: float = 1.0) -> list[Episode]:
    """``n_expert`` expert demonstrations (DART: torque noise ``expert_noise`` applied, the
    expert's command recorded) then ``n_noisy`` perturbed episodes (delay 3-4 steps, noise
    0-1, the applied torque recorded), from seeds ``seed, seed + 1, ...``."""
    rng = np.random.default_rng(int(seed))
    eps = [expert_episode(seed + i, steps, how, expert_noise, 0, source, "expert", max_speed) for i in range(n_expert)]
    for j in range(n_noisy):
        delay, noise = int(rng.integers(3, 5)), float(rng.uniform(0.0, 1.0))
        eps.append(expert_episode(seed + n_expert + j, steps, how, noise, delay, source))
    return eps


@dataclass
class RolloutResult:
    returns: np.ndarray
    success: np.ndarray


def rollout(policy: Callable[[np.ndarray], np.ndarray], seeds: list[int], window: int, steps: int = 200,
            how: str = "angle") -> RolloutResult:
    """Closed-loop episodes from ``env.reset(seed=s)`` for each of ``seeds``, run side by
    side: ``policy(obs_windows (n, window, d)) -> (n, action_dim)`` torques each step, its
    window edge-padded with the first observation as in training."""
    envs = [make_env() for _ in seeds]
    for env, s in zip(envs, seeds):
        env.reset(seed=int(s))
    hist = [[observe(np.array(env.state), how)] for env in envs]
    returns = np.zeros(len(envs))
    angles = np.zeros((len(envs), steps))
    for t in range(steps):
        # the last `window` observations, steps before the start repeating the first (as in training)
        win = np.stack([np.stack([h[max(0, j)] for j in range(len(h) - window, len(h))]) for h in hist])
        u = np.clip(np.asarray(policy(win), dtype=np.float64).reshape(len(envs), -1)[:, 0], -2.0, 2.0)
        for i, env in enumerate(envs):
            _, r, *_ = env.step(np.array([u[i]], dtype=np.float32))
            returns[i] += r
            angles[i, t] = env.state[0]
            hist[i].append(observe(np.array(env.state), how))
    return RolloutResult(returns, np.array([success_of(a) for a in angles]))


__all__ = ["ENV_ID", "STATE_NAMES", "expert_action", "expert_episode", "generate", "make_env", "rollout", "success_of"]
