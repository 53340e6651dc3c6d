"""The core's fixed config sections as typed dataclasses, one declaration per key.

Each key of ``loss``, ``model``, ``train`` and ``eval`` is declared once, here: its Python
type, its default, its :mod:`spec <jepakit.specs>` (type and range, which
:func:`jepakit.schema.validate` checks every merged config against) and its help string
(``jepakit config DOMAIN`` prints it beside the value). :data:`jepakit.config.DEFAULTS`,
:data:`jepakit.schema.SCHEMA` and :data:`jepakit.schema.HELP` are read off these classes,
so the three can never disagree. Configs stay plain nested dicts (YAML files, ``--set``,
the layered merge and checkpoints carry them); :func:`typed` gives a merged config's
section as its dataclass, for code that wants attributes and types::

    train = typed(cfg, "train")      # TrainSection(steps=1000, batch_size=32, ...)
    train.steps, train.lr

The numbers behind the defaults are in the help strings (and the README's "Tuning").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .specs import (
    HEADS,
    NAME,
    POS,
    SIGREG_ON,
    Bool,
    Choice,
    Float,
    Fraction,
    Int,
    ListOf,
    Maybe,
    Pool,
    Spec,
    Str,
    Warmup,
)


def option(default: Any, spec: Spec, help: str) -> Any:
    """A declared key: its default (a list default is copied per instance), the spec that
    validates it and its one-line help."""
    meta = {"spec": spec, "help": help}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda d=default: list(d), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass
class LossSection:
    """the jepa recipe's prediction loss and its short-form regularizers"""

    name: str = option('smooth_l1', NAME, 'a registered loss (smooth_l1, l1, mse, cosine...); keys it declares are its own arguments')
    # sigreg > 0: SIGReg on the online encoder's full-view embeddings, mixed in as
    # (1 - sigreg) * loss + sigreg * SIGReg (I-JEPA + SIGReg); var_weight / cov_weight:
    # VICReg's variance hinge and covariance term on the context tokens, both across
    # samples at each position; the three are short forms of the regularizers section's
    var_weight: float = option(0.0, Float(0.0), "weight of VICReg's variance hinge on the context tokens, across samples at each position (0: off)")
    var_gamma: float = option(1.0, Float(0.0, lo_open=True), "the variance hinge's target standard deviation")
    cov_weight: float = option(0.0, Float(0.0), "weight of VICReg's covariance term on the context tokens, across samples at each position (0: off)")
    sigreg: float = option(0.0, Float(0.0, 1.0), "> 0: SIGReg on the online encoder's full-view embeddings, (1 - sigreg) * loss + sigreg * SIGReg")
    sigreg_on: str = option('pooled', Choice(*SIGREG_ON), 'what loss.sigreg tests: pooled, positions or pooled+positions (jepakit.sigreg.view_sigreg)')
    sigreg_slices: int = option(1024, Int(1), "random directions of loss.sigreg's test (1024, LeJEPA's reference)")


@dataclass
class ModelSection:
    """encoder and predictor sizes"""

    # a timm ViT name sets width, depth, heads and mlp_ratio (jepakit.archs); no weights
    arch: str | None = option(None, Maybe(Str(), "none: the sizes below"),
                              "a timm ViT (vit_tiny_patch16_224, vit_small_patch16_224...) whose width, depth, heads and "
                              "mlp_ratio the encoder takes; no weights are ever loaded")
    width: int = option(192, Int(1), 'encoder width (token features); divisible by model.heads')
    depth: int = option(12, Int(1), 'encoder transformer blocks')
    heads: int = option(3, Int(1), 'encoder attention heads')
    mlp_ratio: float = option(4.0, Float(0.0, lo_open=True), 'MLP hidden width / width, encoder and predictor')
    pos: str = option('sincos', Choice(*POS), 'position embedding: sincos (fixed), learned or none')
    drop_path: float = option(0.0, Float(0.0, 1.0, hi_open=True), 'stochastic depth rate, encoder and predictor')
    pred_width: int = option(96, Int(1), 'predictor width (jepa recipe); divisible by model.pred_heads')
    pred_depth: int = option(6, Int(1), 'predictor transformer blocks')
    pred_heads: int = option(3, Int(1), 'predictor attention heads')


@dataclass
class TrainSection:
    """the optimisation, checkpoints and the collapse guard"""

    steps: int = option(1000, Int(1), 'optimizer steps of the run')
    batch_size: int = option(32, Int(1), 'items per step')
    lr: float = option(0.001, Float(0.0, lo_open=True), 'peak learning rate (AdamW), after the warm-up, then cosine to min_lr')
    min_lr: float = option(1e-06, Float(0.0), 'learning rate at the end of the cosine schedule (<= lr)')
    warmup: float | int = option(0.1, Warmup(), 'linear warm-up: a fraction of train.steps in [0, 1) or a number of steps')
    weight_decay: float = option(0.04, Float(0.0), 'AdamW weight decay (biases, norms and declared tokens exempt)')
    clip: float = option(1.0, Float(0.0), 'gradient-norm clip (0: off)')
    seed: int = option(0, Int(0), 'seed of weights, batches, masks and dropout: a run is a function of it and the step')
    device: str = option('auto', Str(), 'auto (CUDA when present, else CPU), cpu, cuda or cuda:N')
    workers: int = option(0, Int(0), 'DataLoader processes reading batches and drawing masks (0: the training process)')
    ckpt_every: int = option(0, Int(0), 'checkpoint every N steps (0: off)')
    keep_checkpoints: int = option(2, Int(1), 'newest checkpoints kept')
    # checkpoint every ckpt_minutes minutes of training too (0: off), so that a crash or a
    # pre-emption loses at most that much; ckpt_every: every N steps (0: off)
    ckpt_minutes: float = option(5.0, Float(0.0), 'checkpoint every this many minutes too, so a crash loses at most that much (0: off)')
    # the collapse guard: every rankme_every steps, RankMe and the across-sample spread
    # of the pooled embeddings of a fixed sample of rankme_samples items (all if fewer;
    # the RankMe paper warns that small samples bias it); a run whose RankMe falls
    # below collapse_rankme * width, or whose spread vanishes, is collapsed
    rankme_every: int = option(100, Int(0), 'collapse guard: RankMe and the across-sample spread every N steps (0: off)')
    rankme_samples: int = option(1024, Int(2), 'fixed sample the guard embeds (all if fewer; small samples bias RankMe)')
    rankme_eps: float = option(1e-07, Float(0.0, lo_open=True), "epsilon of RankMe's entropy of normalised singular values")
    collapse_rankme: float = option(0.05, Float(0.0, 1.0), 'collapsed when RankMe < collapse_rankme * width, or the spread vanishes')
    stop_on_collapse: bool = option(False, Bool(), 'stop (with a checkpoint) when the guard sees a collapse')
    progress: bool = option(True, Bool(), 'show a progress bar')


@dataclass
class EvalSection:
    """probes, label efficiency and the supervised rows of evaluate and bench"""

    fractions: list[Any] = option([0.01, 0.1, 1.0], ListOf(Fraction()), 'fractions of the training labels the probes see')
    seeds: int = option(3, Int(1), 'label draws per fraction')
    heads: list[Any] = option(['linear'], ListOf(Choice(*HEADS), unique=True), 'probe heads: linear, knn, mlp')
    knn_k: int = option(20, Int(1), 'neighbours of the knn head')
    pool: str = option('mean', Pool(), "tokens, or statistics joined by '+': mean, std, max, flat (Backbone.embed)")
    batch_size: int = option(64, Int(1), 'items per batch when embedding')
    max_tokens: int = option(20000, Int(1), 'tokens a token-level probe trains on at most (a random subset)')
    sup_steps: int = option(200, Int(1), 'steps of the supervised and fine-tune rows (one budget)')
    sup_lr: float = option(0.001, Float(0.0, lo_open=True), 'peak learning rate of the from-scratch supervised row')
    sup_batch_size: int = option(32, Int(1), 'items per step of the supervised and fine-tune rows')
    random_init: bool = option(True, Bool(), 'add the random-init encoder row')
    supervised: bool = option(True, Bool(), 'add the from-scratch supervised row')
    max_iter: int = option(2000, Int(1), 'solver iterations of the linear probe (the mlp head gets a quarter)')
    # supervised training end to end (jepakit.finetune): `supervised` is the from-scratch
    # row, `finetune` the pretrained encoder fine-tuned; both run one loop with one budget
    # (sup_steps, sup_batch_size) and schedule: linear warm-up (sup_warmup: a fraction of
    # the steps or a number of steps), cosine to 0, early stopping on sup_val_fraction of
    # the labelled items, evaluated every sup_eval_every steps, patience sup_patience
    # evaluations (0: off), only when that hold-out has >= sup_val_min groups/items.
    # Only the fine-tune row has its own peak rate (ft_lr) and layer-wise lr decay
    # (layer_decay; 1.0 = off; the scratch row always uses 1.0)
    finetune: bool = option(True, Bool(), 'add the fine-tuned pretrained encoder row')
    ft_lr: float = option(0.001, Float(0.0, lo_open=True), 'peak learning rate of the fine-tune row')
    layer_decay: float = option(0.75, Float(0.0, 1.0, lo_open=True), 'layer-wise lr decay of the fine-tune row (1.0 = off)')
    sup_warmup: float | int = option(0.1, Warmup("eval.sup_steps"), 'warm-up of the supervised rows: a fraction of sup_steps or a number of steps, then cosine to 0')
    sup_patience: int = option(5, Int(0), 'early stopping after this many evaluations without gain (0: off)')
    sup_eval_every: int = option(20, Int(1), 'steps between early-stopping evaluations')
    sup_val_fraction: float = option(0.2, Float(0.0, 1.0, lo_open=True, hi_open=True), 'share of the labelled items held out for early stopping')
    sup_val_min: int = option(50, Int(1), 'early stopping only when that hold-out has >= this many groups/items')
    encoder: str = option('online', Choice("online", "target"), 'online, or target: probe the EMA encoder where the target has one')
    metrics: list[str] | None = option(None, Maybe(ListOf(Str(), single=True), "the task's primary metric"), "metrics to tabulate (null: the task kind's primary metric)")
    # test, or validation: probes fit on 70 % of the training items and scored on the
    # other 30 % (whole records), the test split unseen -- for choosing settings
    split: str = option('test', Choice("test", "validation"), 'test, or validation: probes fit on 70 % of the training items, scored on the other 30 % (whole records), the test split unseen: for choosing settings')
    variants: list[str] | None = option(None, Maybe(ListOf(Str(), single=True), "all of the domain's"), "the domain's variants to pretrain side by side (null: all of them)")

# section name -> its dataclass
SECTIONS: dict[str, type] = {"loss": LossSection, "model": ModelSection, "train": TrainSection, "eval": EvalSection}


def defaults_of(section: str) -> dict[str, Any]:
    """The section's defaults as the plain dict a config holds."""
    return dataclasses.asdict(SECTIONS[section]())


def specs_of(section: str) -> dict[str, Spec]:
    return {f.name: f.metadata["spec"] for f in dataclasses.fields(SECTIONS[section])}


def helps_of(section: str) -> dict[str, str]:
    return {f.name: f.metadata["help"] for f in dataclasses.fields(SECTIONS[section])}


def typed(cfg: Mapping[str, Any], section: str) -> Any:
    """A merged (validated) config's ``section`` as its dataclass. The ``loss`` section's
    keys that belong to the named loss (its own arguments) are left out."""
    cls = SECTIONS[section]
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in dict(cfg[section]).items() if k in names})


__all__ = ["EvalSection", "LossSection", "ModelSection", "SECTIONS", "TrainSection", "defaults_of", "helps_of", "option",
           "specs_of", "typed"]
