"""The types that cross the plugin boundary.

Everything a plugin registers is built from these: a :class:`Tokenizer` (batch dict ->
tokens), a :class:`Masker` (layout -> :class:`Masks`), a :class:`Target` (what the
predictor must reproduce) and a :class:`Domain` (data, defaults, benchmark). Batches are
plain dicts of tensors so that a domain adds keys, never signatures.
"""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor, nn

from .domain import Domain as Domain  # torch-free: plugins build it at registration time

if TYPE_CHECKING:  # pragma: no cover
    from .model import JEPA

Batch = dict[str, Any]


@dataclass
class Layout:
    """Where the tokens of one batch sit.

    ``grid`` is the shape of the token grid (``(T,)``, ``(H, W)``, ``(F, H, W)``,
    ``(num_columns,)``...); grid token ``i`` is the ``i``-th cell in C order. The
    ``num_prefix`` tokens come before the grid tokens, are always visible to the
    encoders and are never masked or predicted (CLS/register/regularization tokens).
    ``flags`` holds per-sample boolean maps of shape ``(B, N)`` that maskers may use;
    by convention ``valid`` marks tokens that carry data (missing leads, padding) and
    ``occupied`` marks non-empty cells of a sparse grid.
    """

    grid: tuple[int, ...]
    num_prefix: int = 0
    flags: dict[str, Tensor] = field(default_factory=dict)

    @property
    def num_tokens(self) -> int:
        return math.prod(self.grid)


@dataclass
class Masks:
    """Index sets over the grid tokens of a batch (prefix tokens excluded).

    ``context``: ``(B, Nc)`` long; ``target``: ``(B, M, Nt)`` long, M target groups
    (I-JEPA's blocks), each predicted from the context alone; ``weight``: optional
    ``(B, M, Nt)`` float per-target-token loss weight (mean-normalised by the loss).
    """

    context: Tensor
    target: Tensor
    weight: Tensor | None = None

    def to(self, device: torch.device | str) -> Masks:
        return Masks(
            self.context.to(device),
            self.target.to(device),
            None if self.weight is None else self.weight.to(device),
        )


def gather_tokens(x: Tensor, idx: Tensor) -> Tensor:
    """``x[b, idx[b, ...]]`` for ``x`` of shape (B, N, D) and ``idx`` of shape (B, *S)."""
    b, _, d = x.shape
    flat = idx.reshape(b, -1)
    out = torch.gather(x, 1, flat.unsqueeze(-1).expand(-1, -1, d))
    return out.reshape(*idx.shape, d)


class Tokenizer(nn.Module, metaclass=ABCMeta):
    """Batch dict -> token embeddings of width ``dim``.

    Subclasses implement :meth:`layout` and :meth:`embed` (all grid tokens, ``(B, N,
    dim)``) and optionally :meth:`prefix` (``(B, P, dim)``). The default :meth:`forward`
    embeds everything and gathers the kept tokens; a tokenizer whose cost depends on the
    input it sees (a sparse encoder) overrides :meth:`forward` to drop input first.
    Position embeddings are added by the encoder from the layout, not here.
    """

    dim: int

    @abstractmethod
    def layout(self, batch: Batch) -> Layout:
        """The token layout of ``batch``."""

    @abstractmethod
    def embed(self, batch: Batch) -> Tensor:
        """``(B, N, dim)`` content embeddings of every grid token."""

    def prefix(self, batch_size: int) -> Tensor | None:
        return None

    def forward(self, batch: Batch, keep: Tensor | None = None) -> Tensor:
        """Return ``(B, P + n, dim)``: the prefix tokens then the grid tokens ``keep``
        (``(B, n)`` grid indices) or all grid tokens when ``keep`` is None."""
        tokens = self.embed(batch)
        if keep is not None:
            tokens = gather_tokens(tokens, keep)
        pre = self.prefix(tokens.shape[0])
        return tokens if pre is None else torch.cat([pre, tokens], dim=1)


class Masker(metaclass=ABCMeta):
    """Layout -> :class:`Masks`. Subclasses implement :meth:`__call__`; see
    :class:`jepakit.masks.SampleMasker` for the usual per-sample form."""

    @abstractmethod
    def __call__(self, layout: Layout, batch_size: int, generator: torch.Generator) -> Masks:
        """Index sets for a batch of ``batch_size`` samples laid out as ``layout``."""


@dataclass
class Views:
    """Token subsets of a batch, each encoded on its own as one view (LeJEPA's multi-crop
    on the token grid). ``global_views`` and ``local_views`` are lists of ``(B, n_v)``
    long grid indices (prefix tokens excluded); the invariance loss pulls every view's
    embedding to the mean of the global views'."""

    global_views: list[Tensor]
    local_views: list[Tensor] = field(default_factory=list)

    def to(self, device: torch.device | str) -> Views:
        return Views([v.to(device) for v in self.global_views], [v.to(device) for v in self.local_views])


class ViewSampler(metaclass=ABCMeta):
    """Layout -> :class:`Views`: which tokens each view of each sample keeps. A domain
    whose natural views are crops of its own kind (time windows, image crops, BEV regions,
    column subsets) registers one; the core's ``blocks`` sampler cuts blocks of the grid."""

    @abstractmethod
    def __call__(self, layout: Layout, batch_size: int, generator: torch.Generator) -> Views:
        """The views of a batch of ``batch_size`` samples laid out as ``layout``."""


class Target(nn.Module, metaclass=ABCMeta):
    """What the predictor must reproduce at the target tokens.

    ``dim`` is the feature width of the target (None: the encoder width).
    :meth:`attach` runs once when the model is built (an EMA target copies the encoder
    there). :meth:`forward` returns ``(B, M, Nt, dim)`` for ``masks.target``; it runs
    under ``torch.no_grad`` unless ``needs_grad`` is True. :meth:`regularizer` adds a
    term to the loss from the step's outputs (``out`` holds ``context``: context-encoder
    tokens, ``pred`` and ``target``); :meth:`combine` mixes prediction loss and that
    term; :meth:`update` runs after each optimizer step with the training progress in
    [0, 1].
    """

    dim: int | None = None
    needs_grad: bool = False

    def attach(self, model: JEPA) -> None:
        pass

    def encoder(self) -> nn.Module | None:
        """The target's own encoder (a backbone), if it has one: ``eval.encoder=target``
        probes it instead of the online encoder, as I-JEPA evaluates its EMA encoder."""
        return None

    @abstractmethod
    def forward(self, model: JEPA, batch: Batch, masks: Masks) -> Tensor:
        """``(B, M, Nt, dim)`` target features at ``masks.target``."""

    def regularizer(self, model: JEPA, out: dict[str, Tensor]) -> Tensor | None:
        return None

    def combine(self, prediction_loss: Tensor, regularizer: Tensor | None) -> Tensor:
        return prediction_loss if regularizer is None else prediction_loss + regularizer

    @torch.no_grad()
    def update(self, model: JEPA, progress: float) -> None:
        pass


TaskKind = Literal["multiclass", "multilabel", "regression", "token_multiclass"]


@dataclass
class Task:
    """A labelled evaluation task.

    Items of ``train``/``test`` are batch dicts (the tokenizer's input) with a
    ``label``: an int (multiclass), a float (regression), a 0/1 vector (multilabel) or
    a per-grid-token long vector with -1 for "ignore" (token_multiclass). When
    ``group_key`` names an item key, embeddings of items sharing that key (windows of
    one record) are averaged before probing, and the label of the group is its first
    item's. When ``split_key`` names an item key, items sharing it (the chips of one SAR
    scene) are never put on both sides of a split the core draws from the training items
    (``eval.split=validation``); unlike ``group_key`` they are probed one by one.
    """

    train: Any
    test: Any
    kind: TaskKind
    classes: Sequence[str] | None = None
    group_key: str | None = None
    description: str = ""
    split_key: str | None = None


# baseline(task, train_indices, seed) -> predictions for task.test: class probabilities
# (n, C), multilabel scores (n, C), regression values (n,), or token class scores
# (n, N, C). Groups (see Task.group_key) are the baseline's own business.
Baseline = Callable[[Task, Sequence[int], int], Any]


@dataclass
class DataBundle:
    """What a domain's loader returns.

    ``pretrain`` is a map-style dataset of batch dicts (no labels needed). ``info`` is
    offered to every component factory whose signature names a key (``in_chans``,
    ``length``, ``schema``...), so data facts never get hard-coded in a model. ``tasks``
    are the benchmark's evaluation tasks. ``collate`` replaces torch's default collate.
    ``describe`` is a one-line summary for logs and reports.
    """

    pretrain: Any
    info: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    collate: Callable[[list[Batch]], Batch] | None = None
    describe: str = ""
