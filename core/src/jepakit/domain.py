"""The domain record: what a plugin registers for ``jepakit bench DOMAIN``.

Kept free of torch (and of everything the contract's tensors need) so that a plugin's
entry-point module can build it at registration time: ``jepakit domains`` imports every
plugin, and must answer fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .contract import Baseline, DataBundle


@dataclass(frozen=True)
class Evaluation:
    """A domain's own measurement of a pretrained encoder, beside the probes of its tasks:
    what a linear probe cannot ask (a policy's closed-loop return in a simulator, an
    aggregate over views). ``run`` is called by ``jepakit bench`` for every pretrained
    variant and for the random-init encoder, once per label fraction (``eval.fractions``)
    and seed (``range(eval.seeds)``), with the keywords it names among ``encoder`` (the
    frozen eval backbone), ``model`` (the pretrained model; None for random init),
    ``bundle`` (the DataBundle), ``fraction``, ``seed`` and ``config``; it returns float
    metrics, ``metric`` among them (and ``n_labels``, the labelled items it used, if it
    wants the table to show it). ``also`` names more of its metrics to tabulate;
    ``uses_labels=False`` runs it once per encoder and seed (at fraction 1.0) when it fits
    nothing on labels. ``run`` may be a :class:`jepakit.lazy` reference."""

    run: Callable[..., Mapping[str, float]]
    metric: str
    higher_is_better: bool = True
    summary: str = ""
    # more of run's metrics to tabulate after ``metric`` (one table each)
    also: tuple[str, ...] = ()
    # False: run fits nothing on labels (a retrieval on frozen embeddings), so it runs once
    # per encoder and seed, reported at fraction 1.0, instead of once per label fraction
    uses_labels: bool = True


@dataclass
class Domain:
    """A domain record.

    ``load(path=None, **data_config)`` returns a :class:`DataBundle`; ``path=None``
    means the domain's embedded default data. A loader that fits something on the data
    and must reuse it to read other data the same way (a table's schema) returns it as
    :attr:`DataBundle.state` and names ``state`` (``load(path=None, ..., state=None)``):
    the core saves the state with every checkpoint and export and hands it back there
    when the run is resumed, evaluated, fine-tuned, exported or embedded (``None`` for a
    new run). ``state`` is therefore no ``data`` option. ``defaults`` is a nested config that
    overrides the core's defaults (tokenizer/masker/target names and arguments, model
    size, training); ``quick`` and ``bench`` are further overrides for ``jepakit bench
    --quick`` and the default benchmark run. ``variants`` are named overrides that the
    benchmark pretrains and reports side by side (e.g. two targets). ``baselines`` are
    extra rows in the benchmark table. ``prepare(src, out, **kw)`` converts a dataset to
    prepared arrays for fast loading. ``datasets`` names several default datasets (each a
    set of ``data`` overrides) that the benchmark runs one after another when no
    ``--data`` is given, for domains whose default data are unrelated tables or sets.

    Any preset (``defaults``, ``quick``, ``bench``, a variant) may hold a ``synthetic``
    section: ``data`` keys that size the embedded data (records to generate, scenes,
    subjects). They reach ``load`` only when the user gave no data, so ``--quick`` never
    reshapes a user's folder, and a checkpoint evaluated on user data drops them.

    ``evaluations`` are the domain's own measurements of each pretrained encoder
    (:class:`Evaluation`), reported beside the probes.

    ``load``, ``prepare``, the baselines and the evaluations' ``run`` may be
    :class:`~jepakit.lazy.lazy` references, so that registering the domain imports
    nothing heavy.

    ``renamed`` maps a ``data`` key's old name to its new one (``{"l_freq":
    "highpass"}``): a config that still holds the old name (a user's, or a checkpoint's
    from before the rename) loads as if it named the new one, with a one-line
    deprecation notice; both names at once are a one-line error (see
    :func:`rename_options`).
    """

    name: str
    load: Callable[..., DataBundle]
    summary: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    quick: Mapping[str, Any] = field(default_factory=dict)
    bench: Mapping[str, Any] = field(default_factory=dict)
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    baselines: Mapping[str, Baseline] = field(default_factory=dict)
    prepare: Callable[..., Any] | None = None
    datasets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    renamed: Mapping[str, str] = field(default_factory=dict)
    evaluations: Mapping[str, Evaluation] = field(default_factory=dict)


def rename_options(options: Mapping[str, Any], renamed: Mapping[str, str], section: str = "data") -> dict[str, Any]:
    """``options`` with every old key of ``renamed`` (old -> new) under its new name, told
    once per key (``data.l_freq is deprecated, use data.highpass``); an old and a new
    name given together is a :class:`~jepakit.errors.ConfigError`. The order of the keys
    is kept."""
    from .errors import ConfigError, notice

    out: dict[str, Any] = {}
    for key, value in options.items():
        new = renamed.get(key)
        if new is None:
            out[key] = value
            continue
        if new in options:
            raise ConfigError(f"{section}.{key} and {section}.{new} are the same option (the old and the new name); "
                              f"give only {section}.{new}")
        notice(f"{section}.{key} is deprecated, use {section}.{new}", DeprecationNotice)
        out[new] = value
    return out


class DeprecationNotice(UserWarning):
    """An old option name that still works: printed as one line, like a data notice."""
