"""The types that cross the plugin boundary.

Everything a plugin registers is built from these: a :class:`Tokenizer` (batch dict ->
tokens), a :class:`Masker` (layout -> :class:`Masks`), a :class:`Target` (what the
predictor must reproduce), a :class:`Loss` (how a prediction is compared with its
target), a :class:`Regularizer` (what is added to that loss) and a :class:`Domain`
(data, defaults, benchmark). A target sees the model through the small :class:`Encoder`
protocol, never the concrete model class. Batches are plain dicts of tensors so that a
domain adds keys, never signatures.
"""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from .domain import Domain as Domain  # torch-free: plugins build it at registration time

Batch = dict[str, Any]


@dataclass(frozen=True)
class Segment:
    """One named part of a segmented layout (a modality: the frames of a clip, the
    spectrogram of its audio) with its own token grid."""

    name: str
    grid: tuple[int, ...]

    @property
    def num_tokens(self) -> int:
        return math.prod(self.grid)


def segment_span(segments: Sequence[Segment], name: str) -> tuple[int, int]:
    """``(start, stop)`` of segment ``name``'s tokens among the grid tokens of a layout
    made of ``segments``; a :class:`KeyError` naming the segments there are."""
    start = 0
    for seg in segments:
        if seg.name == name:
            return start, start + seg.num_tokens
        start += seg.num_tokens
    raise KeyError(f"no segment {name!r}; the layout has {[seg.name for seg in segments] or 'none'}")


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

    A segmented layout (:meth:`of_segments`: two modalities, each with its own grid) lays
    its segments' tokens one after another, each segment's in C order of its own grid;
    ``grid`` is then the flat ``(N,)``. Each segment gets position embeddings of its own
    grid plus an embedding of the segment, and the ``segments`` masker draws masks per
    segment (:mod:`jepakit.segments`).
    """

    grid: tuple[int, ...]
    num_prefix: int = 0
    flags: dict[str, Tensor] = field(default_factory=dict)
    segments: tuple[Segment, ...] = ()

    def __post_init__(self) -> None:
        if self.segments:
            total = sum(s.num_tokens for s in self.segments)
            names = [s.name for s in self.segments]
            if len(set(names)) != len(names) or tuple(self.grid) != (total,):
                raise ValueError(f"a segmented layout needs distinct segment names and grid ({total},), got {names} and {self.grid}")

    @classmethod
    def of_segments(cls, segments: Sequence[Segment | tuple[str, Sequence[int]]], num_prefix: int = 0,
                    flags: dict[str, Tensor] | None = None) -> Layout:
        """A layout of named segments, e.g. ``of_segments([("video", (4, 8, 8)), ("audio", (32,))])``."""
        segs = tuple(s if isinstance(s, Segment) else Segment(str(s[0]), tuple(int(g) for g in s[1])) for s in segments)
        return cls((sum(s.num_tokens for s in segs),), num_prefix, dict(flags or {}), segs)

    def span(self, name: str) -> tuple[int, int]:
        """``(start, stop)`` of segment ``name``'s tokens among the grid tokens."""
        return segment_span(self.segments, name)

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


@runtime_checkable
class Encoder(Protocol):
    """What a :class:`Target` and a :class:`Regularizer` may use of the model being
    trained: its online ``backbone`` (tokenizer + encoder; ``backbone(batch, keep)``
    returns ``(B, P + n, width)`` and ``backbone.num_prefix`` is ``P``) and
    ``online_full(batch)``, the online backbone over every token with gradients, computed
    at most once per step for everyone who asks."""

    backbone: nn.Module

    def online_full(self, batch: Batch) -> Tensor: ...


class Target(nn.Module, metaclass=ABCMeta):
    """What the predictor must reproduce at the target tokens.

    ``dim`` is the feature width of the target (None: the encoder width).
    :meth:`attach` runs once when the model is built (an EMA target copies the encoder
    there). :meth:`forward` returns ``(B, M, Nt, dim)`` for ``masks.target``; it runs
    under ``torch.no_grad`` unless ``needs_grad`` is True. :meth:`update` runs after each
    optimizer step with the training progress in [0, 1]. A target does not score its
    prediction (a :class:`Loss` does) nor add terms to the loss (a :class:`Regularizer`
    does); one that cannot be trained without a regularizer (the online encoder as its
    own target collapses without SIGReg) declares it in :meth:`regularizers`.
    """

    dim: int | None = None
    needs_grad: bool = False

    def attach(self, model: Encoder) -> None:
        pass

    def encoder(self) -> nn.Module | None:
        """The target's own encoder (a backbone), if it has one: ``eval.encoder=target``
        probes it instead of the online encoder, as I-JEPA evaluates its EMA encoder."""
        return None

    @abstractmethod
    def forward(self, model: Encoder, batch: Batch, masks: Masks) -> Tensor:
        """``(B, M, Nt, dim)`` target features at ``masks.target``."""

    def regularizers(self) -> dict[str, Regularizer]:
        """Regularizers this target cannot be trained without, by name; the core adds them
        to the run's (a name given twice is a configuration error)."""
        return {}

    @torch.no_grad()
    def update(self, model: Encoder, progress: float) -> None:
        pass


class Loss(nn.Module, metaclass=ABCMeta):
    """How predictions are compared with their targets: ``forward(pred, target, weight)``
    with ``pred``/``target`` ``(B, M, Nt, D)`` and ``weight`` the masks' optional ``(B, M,
    Nt)`` per-token weights returns a scalar. A loss that needs more names it in its
    ``forward`` and receives it by keyword: ``out`` (the step's outputs, including what a
    predictor returned besides ``pred``, e.g. predicted action chunks), ``batch`` (the
    collated batch, e.g. the true actions) or ``masks``; so a loss with several parts
    (ACT-JEPA: actions and future embeddings) weighs each on its own. Report the parts by
    writing scalars into ``out`` (they are logged)."""

    # whether predictions equal to their targets score better than unrelated ones (a
    # prediction or InfoNCE loss; not a supervised contrastive one, whose best is every
    # item of a label at one point): jepakit.testing.check_loss asks it only then
    lower_at_target: bool = True

    @abstractmethod
    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None) -> Tensor:
        """The scalar loss."""


class Regularizer(nn.Module, metaclass=ABCMeta):
    """A term added to the loss from the step's outputs.

    ``forward(out)`` returns a scalar from ``out``: ``context`` (context-encoder grid
    tokens, ``(B, Nc, width)``), ``context_idx`` (their grid positions), ``pred``,
    ``target`` and, when ``needs_full`` is True, ``full`` (the online encoder over every
    token, ``(B, N, width)``) and ``valid`` (the layout's ``valid`` flags, when the layout
    has them). ``weight`` scales it; ``mix`` False adds ``weight * term``, ``mix`` True
    mixes ``(1 - weight) * loss + weight * term`` (LeJEPA's form) after every added term.
    :meth:`step` runs after each optimizer step (a regularizer that draws random
    directions draws the next ones there, identically on every rank)."""

    weight: float = 1.0
    mix: bool = False
    needs_full: bool = False

    @abstractmethod
    def forward(self, out: dict[str, Tensor]) -> Tensor:
        """The scalar term (before ``weight``)."""

    @torch.no_grad()
    def step(self) -> None:
        pass


TaskKind = Literal["multiclass", "multilabel", "regression", "token_multiclass"]


@runtime_checkable
class LabelledDataset(Protocol):
    """A task's dataset: ``len(ds)`` items, ``ds[i]`` a batch dict holding the item's
    ``label`` (see :class:`Task` for its form per kind) besides the tokenizer's input."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...


@runtime_checkable
class HasLabels(Protocol):
    """A dataset that exposes its labels without reading items: ``labels``, one per item
    in item order (an array or sequence; None: not known, read from the items)."""

    labels: Any


@runtime_checkable
class GroupedDataset(Protocol):
    """A dataset that exposes the group of every item without reading items: ``groups``,
    one value per item in item order, standing for the items' :attr:`Task.group_key`
    (the record a window was cut from)."""

    groups: Any


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
    ``segment`` names the segment of a segmented layout the task is about: only its
    tokens are encoded and pooled for the probes and the supervised rows.

    ``train`` and ``test`` are :class:`LabelledDataset` s: ``len(ds)`` and ``ds[i]`` (a
    batch dict with its ``label``). A dataset may expose all its labels without reading
    items (:class:`HasLabels`: ``ds.labels``, one per item) and the group of every item
    (:class:`GroupedDataset`: ``ds.groups``, standing for ``group_key``); the core uses
    them where present. A dataset with neither ``labels`` nor a ``label`` in its items is
    a one-line error naming the task.
    """

    train: Any
    test: Any
    kind: TaskKind
    classes: Sequence[str] | None = None
    group_key: str | None = None
    description: str = ""
    split_key: str | None = None
    # a segmented layout's segment the task is about: its tokens alone are encoded and
    # pooled (genre from the video alone, not from video and music together)
    segment: str | None = None


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

    ``state`` is what the loader fitted on the data and must reuse to read other data the
    same way (a table's schema and category vocabularies, a point cloud's window): a
    JSON-serialisable dict (tuples come back as lists). The core saves it with every
    checkpoint and export and hands it back to a loader that names ``state``
    (``load(path=None, ..., state=None)``) whenever a saved run reads data again: resumed,
    evaluated, fine-tuned, exported or embedded; a new run's loader gets ``state=None``
    and fits its own. Facts a component factory needs go in ``info`` (saved too); what is
    in both is saved twice.
    """

    pretrain: Any
    info: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    collate: Callable[[list[Batch]], Batch] | None = None
    describe: str = ""
    state: dict[str, Any] = field(default_factory=dict)
