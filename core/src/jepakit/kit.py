"""Plugin utilities: the one import path for what a domain plugin builds on.

Everything a plugin needs beyond the contract (``jepakit``: ``Domain``, ``hookimpl``,
``lazy``, ``DataBundle``, ``Task``, ``Layout`` ...) is here, documented and kept stable,
so that no plugin imports a ``_private`` core name (``tests/core/test_kit.py`` checks
every plugin and example) and what plugins once wrote four or five ways is written once.

Errors and notices (no torch)
    :func:`check` (an argument out of range, one line), :func:`notice` (one line to the
    user: a skipped file, a filled channel), :class:`DataError`, :class:`ConfigError`,
    :class:`Failures` (the files a reader skipped, summed up in its final error).

Shapes (no torch)
    :func:`as_shape`: a size argument or data fact (``info["size"]``, a patch) as a tuple
    of ``ndim`` ints, whether it was given as an int (the same along every axis: a square
    image's side), a tuple, or a list (from YAML or JSON); so a 2-D component never
    depends on which form a domain or a user wrote.

Options (no torch)
    :func:`check_options`: unknown keyword options in one message format,
    ``"{what} has no option 'x'; valid: a, b"``, the core's own for data and prepare
    options. A domain renames a ``data.*`` key through :attr:`Domain.renamed
    <jepakit.domain.Domain.renamed>` (old -> new), applied by the core wherever a
    ``data`` section reaches the loader, with a one-line deprecation notice;
    :func:`rename_options` applies the same rule to other option sets (``prepare``).

Reading and splitting (numpy)
    :func:`read_each`: read items one by one, skipping and telling each bad one in one
    line (kept in a :class:`Failures` for the final error). :func:`stratified_split`:
    train/test indices stratified by class, optionally keeping groups (subjects,
    scenes) whole. :func:`per_dataset`: compute a baseline's features once per dataset
    object (not once per label fraction and seed), freed with the dataset.

Masks (torch; imported on first use)
    :class:`SampleMasker` (draw each sample's index sets), :func:`scale_pair` (a
    ``(min, max)`` masker argument), :func:`draw_uniform` (one draw from such a pair),
    :func:`block_shape` and :func:`block_mask` (the multi-block masker's blocks over a
    1-, 2- or 3-D grid).

Baselines (torch; imported on first use)
    :func:`fit_predict` (the probes' linear / kNN / MLP heads, so a baseline row is
    scored like the JEPA probes) and :func:`labels_of` (a dataset's labels as an array).

The ``data.*`` vocabulary: one name per idea across domains, chosen where the presets
and measured tables already used it or where it says the most: ``rate`` (Hz the model
sees; not ``sfreq``), ``crop`` (seconds of one item cut from a recording; not
``window``), ``highpass`` / ``lowpass`` (filter edges in Hz, not MNE's ``l_freq`` /
``h_freq``, which read as the wrong way round to non-MNE users), ``normalize`` (what is
divided out per item; it is also SAR's mean division, which is no standardisation; not
``standardize``), ``test_fraction`` (share of labelled items held out; not
``test_size``), ``seed`` (the data's seed; a domain with a second, split-only seed calls
that ``split_seed``). Old names are accepted with a one-line deprecation notice.
"""

from __future__ import annotations

import importlib
import os
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from .domain import Domain, rename_options
from .errors import ConfigError, DataError, check, notice
from .failures import Failures

if TYPE_CHECKING:  # for type checkers and readers; at run time __getattr__ imports them
    from .evaluate import fit_predict, labels_of
    from .masks import SampleMasker, block_mask, block_shape, draw_uniform, scale_pair

T = TypeVar("T")
R = TypeVar("R")

# name -> module, imported on first attribute access (PEP 562): a plugin's entry-point
# module may import this one without paying for torch
_LAZY = {
    "SampleMasker": ".masks", "scale_pair": ".masks", "draw_uniform": ".masks", "block_shape": ".masks",
    "block_mask": ".masks", "fit_predict": ".evaluate", "labels_of": ".evaluate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __package__), name)
    raise AttributeError(f"module 'jepakit.kit' has no attribute {name!r}")


def as_shape(size: Any, ndim: int, name: str = "size") -> tuple[int, ...]:
    """``size`` as a tuple of ``ndim`` ints: an int stands for the same length along every
    axis, a tuple, list or 1-D array gives one per axis. Anything else, or a sequence of
    another length, is a one-line error (:func:`check`) naming ``name``."""
    import operator

    if isinstance(size, (bool, str, bytes)):
        check(False, f"{name} must be an int or {ndim} ints, got {size!r}")
    try:
        return (operator.index(size),) * ndim
    except TypeError:
        pass
    try:
        shape = tuple(operator.index(s) for s in size)
    except TypeError:
        shape = None
    check(shape is not None and not any(isinstance(s, bool) for s in size),
          f"{name} must be an int or {ndim} ints, got {size!r}")
    check(len(shape) == ndim, f"{name} needs {ndim} entries, got {shape}")
    return shape


def check_options(what: str, given: Iterable[str], valid: Iterable[str]) -> None:
    """Raise a :class:`ConfigError` ``"{what} has no option 'x'; valid: a, b"`` for the
    first of ``given`` that is not in ``valid``."""
    valid = list(valid)
    bad = [k for k in given if k not in valid]
    if bad:
        raise ConfigError(f"{what} has no option {bad[0]!r}; valid: {', '.join(valid) or '(none)'}")


def read_each(
    items: Iterable[T], read: Callable[[T], R], failures: Failures | None = None,
    source: Callable[[T], str | os.PathLike] = str, reason: Callable[[BaseException], str | None] | None = None,
) -> Iterator[tuple[T, R]]:
    """``(item, read(item))`` for every item ``read`` returns without a
    :class:`DataError`; a failed one is told in one line (``skipped <message>``) and kept
    in ``failures`` under ``source(item)`` (``reason(exc)`` groups it with others where
    the reader knows better than the message). The caller turns an empty result into
    ``failures.error(...)``, which gives the files' own reasons."""
    failures = Failures() if failures is None else failures
    for item in items:
        try:
            out = read(item)
        except DataError as exc:
            failures.add(source(item), str(exc), reason=reason(exc) if reason is not None else None)
            continue
        yield item, out


def stratified_split(labels: Any, test_fraction: float, seed: int, groups: Any = None) -> tuple[Any, Any]:
    """Sorted ``(train, test)`` indices into ``labels``: per class, a random
    ``round(test_fraction * n)`` of its ``n`` members go to test, at least one and never
    all where the class has two or more. With ``groups`` the members are the groups
    (sorted, each taking its first item's label) and every item follows its group, so a
    subject or a scene never sits on both sides. Classes are visited in sorted order and
    draw from one ``numpy`` generator seeded with ``seed``."""
    import numpy as np

    labels = np.asarray(labels, dtype=object)
    if groups is None:
        member_label, members_of = labels, None
    else:
        groups = np.asarray(groups, dtype=object)
        first: dict[Any, int] = {}
        for i, g in enumerate(groups.tolist()):
            first.setdefault(g, i)
        names = _sorted(first)
        member_label = np.asarray([labels[first[g]] for g in names], dtype=object)
        members_of = {}
        for i, g in enumerate(groups.tolist()):
            members_of.setdefault(g, []).append(i)
    rng = np.random.default_rng(seed)
    train: list[int] = []
    test: list[int] = []
    for k in _sorted(set(member_label.tolist())):
        idx = np.flatnonzero(np.asarray([m == k for m in member_label.tolist()], dtype=bool))
        idx = idx[rng.permutation(len(idx))]
        n_test = int(round(test_fraction * len(idx)))
        if len(idx) >= 2:
            n_test = min(max(n_test, 1), len(idx) - 1)
        picked_test, picked_train = idx[:n_test].tolist(), idx[n_test:].tolist()
        if members_of is not None:
            picked_test = [i for j in picked_test for i in members_of[names[j]]]
            picked_train = [i for j in picked_train for i in members_of[names[j]]]
        test.extend(picked_test)
        train.extend(picked_train)
    return np.sort(np.asarray(train, dtype=np.int64)), np.sort(np.asarray(test, dtype=np.int64))


def _sorted(values: Iterable[Any]) -> list[Any]:
    """Natural order where the values compare (numbers, strings), else by their text."""
    values = list(values)
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def per_dataset(compute: Callable[..., R]) -> Callable[..., R]:
    """``compute(dataset, *args)`` computed once per dataset object and ``args``, kept
    while the dataset lives: a baseline is called once per label fraction and seed on
    the same task, and its features (hand-made descriptors of every item) do not change
    between calls. Datasets that cannot be weakly referenced keep one entry at a time."""
    cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
    last: dict[int, tuple[Any, dict]] = {}

    def cached(dataset: Any, *args: Any) -> R:
        try:
            table = cache.setdefault(dataset, {})
        except TypeError:  # not weakly referenceable or unhashable: one dataset at a time
            hit = last.get(id(dataset))
            if hit is None or hit[0] is not dataset:
                last.clear()
                last[id(dataset)] = hit = (dataset, {})
            table = hit[1]
        if args not in table:
            table[args] = compute(dataset, *args)
        return table[args]

    cached.__doc__ = compute.__doc__
    cached.__name__ = getattr(compute, "__name__", "cached")
    cached.__wrapped__ = compute  # type: ignore[attr-defined]
    return cached


__all__ = [
    "ConfigError", "DataError", "Domain", "Failures", "SampleMasker", "as_shape", "block_mask", "block_shape", "check",
    "check_options", "draw_uniform", "fit_predict", "labels_of", "notice", "per_dataset", "read_each",
    "rename_options", "scale_pair", "stratified_split",
]
