"""The control domain's own evaluations (``jepakit.Evaluation``): a policy per encoder,
scored by its action-chunk error on held-out episodes (``actions``) and by its
closed-loop return and success in the simulator (``closed-loop``).

The policy of an encoder:

* ``actions`` and ``closed-loop``: every encoder (ACT-JEPA's, action-only's, JEPA-only's,
  random init; the raw-state baseline of :mod:`jepakit_control.baselines`) gets the same
  head architecture fitted on its *frozen* features of ``fraction`` of the
  demonstrations (whole episodes, drawn with ``seed``), ``eval.sup_steps`` AdamW steps of
  ``eval.sup_batch_size`` windows at ``eval.sup_lr``: one budget, so the rows compare
  representations;
* ``closed-loop-own``: a model whose pretraining imitated actions (``loss.action_weight >
  0``) acts through its own action head on its online encoder, as trained end to end (its
  ``n_labels`` are the demonstrations that pretraining saw), with that head's action MSE;
  encoders without one repeat their ``closed-loop`` row. Measured before this split, the
  own heads trailed the fitted ones at 8 demonstrations (ACT-JEPA success 0.00, action-only
  0.68, fitted on JEPA-only 0.93): 600 pretraining steps show an own head 19k-38k labelled
  windows, a fitted head 384k.

Features are always the encoder over the past steps alone (``keep`` = the window), the
view the action head had in pretraining; the future steps never enter. Closed loop: the
policy re-plans every step and applies the first action of its chunk (receding
horizon), over ``data.rollouts`` simulator episodes from seeds ``100000 + 1000 seed + i``
(disjoint from the data's seeds), the same episodes for every method.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from torch import nn

from jepakit.kit import notice

from .episodes import Windows
from .losses import ActionHead, pooled

_CACHE: OrderedDict[tuple, tuple[Any, ...]] = OrderedDict()


class Policy:
    """``encoder`` (a backbone: ``encoder(batch, keep)``) + ``head`` -> action chunks."""

    def __init__(self, encoder: nn.Module, head: ActionHead, window: int, n_labels: int, own: bool,
                 low: Any = -np.inf, high: Any = np.inf):
        self.encoder, self.head, self.window, self.n_labels, self.own = encoder, head, int(window), int(n_labels), own
        self.low, self.high = np.asarray(low, dtype=np.float32), np.asarray(high, dtype=np.float32)
        # the bench puts encoders on its device (train.device): the head and the windows follow
        self.device = next(iter([*encoder.parameters(), *encoder.buffers()]), torch.empty(0)).device
        self.head.to(self.device)

    @torch.no_grad()
    def tokens(self, obs: torch.Tensor) -> torch.Tensor:
        obs = obs.to(self.device)
        keep = torch.arange(self.window, device=self.device).expand(obs.shape[0], -1)
        h = self.encoder({"obs": obs}, keep)
        return h[:, getattr(self.encoder, "num_prefix", 0):]

    @torch.no_grad()
    def chunks(self, obs: np.ndarray | torch.Tensor, batch_size: int = 512) -> np.ndarray:
        """``(n, window, *obs_shape)`` -> ``(n, chunk, action_dim)`` actions, raw units."""
        obs = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
        was = self.encoder.training
        self.encoder.eval()
        self.head.eval()
        try:
            out = [self.head.actions(self.tokens(obs[i : i + batch_size])).float().cpu() for i in range(0, len(obs), batch_size)]
        finally:
            self.encoder.train(was)
        # within the range the demonstrations span (the simulator's torque bounds): a head
        # fitted on 1-2 demonstrations extrapolates to |u| ~ 10 off their states, which the
        # simulator would clip anyway and which would otherwise dominate the action error
        return np.clip(torch.cat(out).numpy(), self.low, self.high)


def _control(bundle: Any):
    data = getattr(bundle.pretrain, "control", None)
    if data is None:
        from jepakit.kit import DataError

        raise DataError("the control evaluations need the control domain's own data (bundle.pretrain.control)")
    return data


def _windows(data: Any, episodes: list, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    w = Windows(episodes, data.info["window"], data.info["chunk"], stride=stride)
    items = [w[i] for i in range(len(w))]
    return np.stack([it["obs"] for it in items]), np.stack([it["actions"] for it in items])


def demo_subset(n_demos: int, fraction: float, seed: int) -> np.ndarray:
    """Positions of ``fraction`` of ``n_demos`` demonstrations (at least one), by ``seed``."""
    k = n_demos if fraction >= 1.0 else max(1, int(round(fraction * n_demos)))
    return np.sort(np.random.default_rng(seed).permutation(n_demos)[:k])


def fit_head(encoder: nn.Module, data: Any, fraction: float, seed: int, config: dict[str, Any], pool: str = "mean+last",
             hidden: int = 128) -> Policy:
    """An action head fitted on ``encoder``'s frozen features of the chosen demonstrations."""
    info, ecfg = data.info, config["eval"]
    picked = [data.train[data.demos[i]] for i in demo_subset(len(data.demos), fraction, seed)]
    if not picked:
        from jepakit.kit import DataError

        raise DataError("no demonstration to fit an action head on (data.demos is 0)")
    width = int(encoder.width)
    head = ActionHead(width, info["window"], info["chunk"], info["action_dim"], hidden, pool, info["action_mean"], info["action_std"])
    policy = Policy(encoder, head, info["window"], len(picked), own=False, low=info["action_low"], high=info["action_high"])
    obs, acts = _windows(data, picked)
    feats = torch.cat([pooled(policy.tokens(torch.as_tensor(obs[i : i + 512])).float(), pool) for i in range(0, len(obs), 512)])
    y = head.standardise(torch.as_tensor(acts).to(policy.device))
    g = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))
    head.net.apply(_reset)
    opt = torch.optim.AdamW(head.net.parameters(), lr=float(ecfg["sup_lr"]), weight_decay=1e-4)
    steps, bs = int(ecfg["sup_steps"]), int(ecfg["sup_batch_size"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    head.train()
    for _ in range(steps):
        idx = torch.randint(0, len(feats), (min(bs, len(feats)),), generator=g)
        loss = (head.from_features(feats[idx]) - y[idx]).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    head.eval()
    return policy


def _reset(m: nn.Module) -> None:
    if hasattr(m, "reset_parameters"):
        m.reset_parameters()


def has_own_head(model: Any) -> bool:
    """Whether ``model``'s pretraining trained its action head (``loss.action_weight`` > 0)."""
    head = getattr(getattr(model, "loss", None), "head", None)
    return model is not None and isinstance(head, ActionHead) and float(getattr(model.loss, "action_weight", 0.0)) > 0


def policy_for(encoder: nn.Module, model: Any, bundle: Any, fraction: float, seed: int, config: dict[str, Any],
               own: bool = False) -> Policy:
    """The policy of an encoder (see the module doc): with ``own`` the model's own head
    where its pretraining trained one, else the head fitted on the frozen encoder. Cached
    per (encoder, model, bundle, fraction, seed, own) so that the evaluations score the
    same fitted head."""
    data = _control(bundle)
    own = bool(own) and has_own_head(model) and bool(data.demos)
    key = (id(encoder), id(model), id(bundle), float(fraction), int(seed), own)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is encoder and hit[1] is model:
        return hit[2]
    head = getattr(getattr(model, "loss", None), "head", None)
    if own:
        policy = Policy(model.backbone, head, data.info["window"], len(data.demos), own=True, low=data.info["action_low"],
                        high=data.info["action_high"])
    else:
        pool = head.pool if isinstance(head, ActionHead) else "mean+last"
        hidden = head.net[0].out_features if isinstance(head, ActionHead) else 128
        policy = fit_head(encoder, data, fraction, seed, config, pool, hidden)
    _CACHE[key] = (encoder, model, policy)
    while len(_CACHE) > 8:
        _CACHE.popitem(last=False)
    return policy


def score_actions(policy: Policy, data: Any) -> dict[str, float]:
    """MSE of the predicted chunks against the held-out episodes' demonstrated ones."""
    obs, acts = _windows(data, data.test)
    pred = policy.chunks(obs)
    err = (pred - acts) ** 2
    return {"mse": float(err.mean()), "mse_first": float(err[:, 0].mean()), "windows": float(len(obs))}


_SCORES: OrderedDict[tuple, tuple[Policy, dict[str, float]]] = OrderedDict()


def score_closed_loop(policy: Policy, data: Any, seed: int) -> dict[str, float]:
    """Closed-loop scores of ``policy`` on seed set ``seed`` (cached per policy object: the
    ``closed-loop-own`` row of an encoder without its own head is its ``closed-loop`` row)."""
    key = (id(policy), int(seed))
    hit = _SCORES.get(key)
    if hit is not None and hit[0] is policy:
        return dict(hit[1])
    scores = _score_closed_loop(policy, data, seed)
    _SCORES[key] = (policy, scores)
    while len(_SCORES) > 16:
        _SCORES.popitem(last=False)
    return dict(scores)


def _score_closed_loop(policy: Policy, data: Any, seed: int) -> dict[str, float]:
    from . import sim

    info = data.info
    seeds = [100_000 + 1000 * int(seed) + i for i in range(int(info["rollouts"]))]
    res = sim.rollout(lambda w: policy.chunks(w)[:, 0], seeds, info["window"], int(info.get("episode_steps") or 200),
                      info.get("observe") or "angle")
    return {"return": float(res.returns.mean()), "episodes_sd": float(res.returns.std()), "success": float(res.success.mean())}


def action_error(encoder, model, bundle, fraction, seed, config) -> dict[str, float]:
    """``actions`` evaluation: chunk MSE (raw action units) on the held-out episodes."""
    policy = policy_for(encoder, model, bundle, fraction, seed, config)
    return {**score_actions(policy, _control(bundle)), "own_head": float(policy.own), "n_labels": policy.n_labels}


def closed_loop(encoder, model, bundle, fraction, seed, config) -> dict[str, float]:
    """``closed-loop`` evaluation: mean return and success rate over seeded simulator
    episodes of the head fitted on the frozen encoder (the same budget for every encoder)."""
    return _closed_loop(encoder, model, bundle, fraction, seed, config, own=False)


def closed_loop_own(encoder, model, bundle, fraction, seed, config) -> dict[str, float]:
    """``closed-loop-own`` evaluation: the same with the model's own action head where its
    pretraining trained one (ACT-JEPA, action-only: the policy as trained end to end),
    with that head's held-out action MSE; other encoders repeat their ``closed-loop`` row."""
    out = _closed_loop(encoder, model, bundle, fraction, seed, config, own=True)
    policy = policy_for(encoder, model, bundle, fraction, seed, config, own=True)
    return {**out, "mse": score_actions(policy, _control(bundle))["mse"]}


def _closed_loop(encoder, model, bundle, fraction, seed, config, own: bool) -> dict[str, float]:
    data = _control(bundle)
    policy = policy_for(encoder, model, bundle, fraction, seed, config, own)
    if data.info.get("env") is None:
        notice("closed-loop: these episodes name no simulator (set data.env to the gymnasium id they come from); "
               "return and success are left empty (NaN)")
        return {"return": float("nan"), "success": float("nan"), "own_head": float(policy.own), "n_labels": policy.n_labels}
    return {**score_closed_loop(policy, data, seed), "own_head": float(policy.own), "n_labels": policy.n_labels}


__all__ = ["Policy", "action_error", "closed_loop", "closed_loop_own", "demo_subset", "has_own_head", "fit_head", "policy_for", "score_actions", "score_closed_loop"]
