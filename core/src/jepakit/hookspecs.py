"""The jepakit plugin contract.

A plugin is any module (usually exposed through the ``jepakit`` entry-point group) that
implements some of the hooks below with ``@jepakit.hookimpl``. Every hook receives a
``register`` callback; call it once per component you provide::

    from jepakit import hookimpl

    @hookimpl
    def jepakit_register_maskers(register):
        register("stripes", StripeMasker, "vertical stripes of patches")

The core validates what is registered (names unique per kind, factories callable) and
reports the offending plugin by name. Hook implementations may accept fewer arguments
than declared here (pluggy passes only the ones they name), so adding an argument to a
spec never breaks an existing plugin.

A factory may be named by reference instead, ``register("stripes",
"my_plugin.masks:StripeMasker", "vertical stripes of patches")``: it is imported when a
run first builds it, so that listing plugins (``jepakit domains``, ``--help``, every
error before training) never imports torch or a plugin's heavy libraries. A reference's
summary must be given, as its docstring is not read. The same holds for a
:class:`~jepakit.domain.Domain`'s ``load``, ``prepare`` and baselines, as
:class:`jepakit.lazy` references (callables that import on first call).

Factories are called with keyword arguments only: the user's configuration for that
component plus, where the factory's signature names them, the data facts the core
offers (``dim`` = model width, and every key of :attr:`jepakit.contract.DataBundle.info`;
a predictor is offered more, see :func:`jepakit_register_predictors`).
Unknown user arguments are rejected with the list of valid ones, so a factory's
signature is its documentation.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("jepakit")
# the marker a plugin's hook implementations carry, beside the specs it implements (as llm
# and pytest keep theirs), so that a registration module needs nothing of the registry
hookimpl = pluggy.HookimplMarker("jepakit")

# the contract's version: 2 added predictors, losses, regularizers, data- and
# model-aware maskers and segmented layouts; a plugin may compare it to what it needs
CONTRACT_VERSION = 2

Register = Callable[..., None]


@hookspec
def jepakit_register_tokenizers(register: Register) -> None:
    """Register tokenizers: ``register(name, factory, summary="")``.

    ``factory(**kwargs)`` returns a :class:`jepakit.contract.Tokenizer`, an ``nn.Module``
    that turns a batch dict into token embeddings of width ``dim`` and describes their
    :class:`~jepakit.contract.Layout` (grid shape, always-visible prefix tokens, per-sample
    flags such as ``valid`` or ``occupied``). A tokenizer may drop input *before*
    embedding when asked for a subset of tokens (``forward(batch, keep=idx)``), which is
    how a sparse encoder shows the context encoder only the context's raw data.
    """


@hookspec
def jepakit_register_maskers(register: Register) -> None:
    """Register maskers: ``register(name, factory, summary="")``.

    ``factory(**kwargs)`` returns a :class:`jepakit.contract.Masker`: called with a
    :class:`~jepakit.contract.Layout`, a batch size and a ``torch.Generator``, it returns
    :class:`~jepakit.contract.Masks` (context indices, target index groups and optional
    per-target-token loss weights) over the grid tokens, prefix tokens excluded.

    A data-aware masker names ``batch`` in its call, ``__call__(layout, batch_size,
    generator, batch)``, and receives the step's collated CPU batch as a keyword (drawn
    where the batch is collated: in a DataLoader worker when ``train.workers`` > 0), so
    it may put targets where the signal is informative. Its masks must depend on the
    batch and the generator only, which keeps runs and resumes exact.

    A model-aware masker names ``model`` as well, ``__call__(layout, batch_size,
    generator, model, batch)``, and receives the model being trained (its
    ``backbone``, and ``target.encoder()`` where the target has one), so it may rank
    regions by the encoder's own saliency (DSeq-JEPA). It is drawn in the training loop,
    on the batch on the model's device, under ``torch.no_grad`` with the model in eval
    mode; its masks depend on the weights, which a resume restores exactly.
    """


@hookspec
def jepakit_register_targets(register: Register) -> None:
    """Register targets: ``register(name, factory, summary="")``.

    ``factory(**kwargs)`` returns a :class:`jepakit.contract.Target`: what the predictor
    must reproduce at the target tokens (an EMA encoder's features, the online encoder
    itself, or a hand-made feature computed from the raw batch), the regularizers it
    cannot do without, and a hook run after each optimizer step. It sees the model
    through :class:`jepakit.contract.Encoder` only.
    """


@hookspec
def jepakit_register_predictors(register: Register) -> None:
    """Register predictors: ``register(name, factory, summary="")``.

    ``factory(**kwargs)`` returns an ``nn.Module`` (its parameters are saved under
    ``predictor.*``) whose ``forward(context, masks, batch)`` receives the context
    encoder's tokens ``(B, P + Nc, width)`` (the ``P`` prefix tokens first), the step's
    :class:`~jepakit.contract.Masks` and the batch, and returns the predictions
    ``(B, M, Nt, out_dim)`` at ``masks.target``. The user's ``predictor`` section gives
    its arguments; besides ``dim`` and the data's ``info``, the core offers ``grid``,
    ``num_prefix``, ``width`` (encoder width), ``out_dim`` (the target's width),
    ``pred_width``, ``pred_depth``, ``pred_heads``, ``mlp_ratio``, ``pos`` and
    ``drop_path`` (the ``model`` section's). The core's own is ``transformer``
    (:class:`jepakit.predictors.TransformerPredictor`).
    """


@hookspec
def jepakit_register_losses(register: Register) -> None:
    """Register prediction losses: ``register(name, factory, summary="")``.

    ``factory(**kwargs)`` returns a :class:`jepakit.contract.Loss`: how the predictions
    are compared with the target (``forward(pred, target, weight)`` -> scalar; a loss
    naming ``out``, ``batch`` or ``masks`` in its ``forward`` receives them, so it can
    score what a predictor returned besides ``pred`` against the batch, each part with
    its own weight). The run's ``loss`` section names it (``loss.name``) and gives its
    arguments (every ``loss`` key that is not one of the core's). The core's own are
    ``smooth_l1``, ``l1``, ``mse`` and ``cosine`` (:mod:`jepakit.losses`).
    """


@hookspec
def jepakit_register_regularizers(register: Register) -> None:
    """Register regularizers: ``register(name, factory, summary="")``.

    ``factory(**kwargs)`` returns a :class:`jepakit.contract.Regularizer`: a term added to
    (or mixed into) the loss from the step's outputs, with its ``weight``. The run's
    ``regularizers`` section names them with their arguments (``{sigreg: {weight:
    0.05}}``); a factory naming ``seed`` gets ``train.seed`` unless given. The core's own
    are ``variance``, ``covariance`` and ``sigreg`` (:mod:`jepakit.regularizers`).
    """


@hookspec
def jepakit_register_view_samplers(register: Register) -> None:
    """Register view samplers for multi-view recipes (LeJEPA): ``register(name, factory,
    summary="")``.

    ``factory(**kwargs)`` returns a :class:`jepakit.contract.ViewSampler`: called with a
    :class:`~jepakit.contract.Layout`, a batch size and a ``torch.Generator``, it returns
    :class:`~jepakit.contract.Views`, the grid indices each global and local view keeps.
    Every view is encoded through the tokenizer's ``keep``, so a sparse tokenizer drops
    the raw input outside the view, as it does for a JEPA context.
    """


@hookspec
def jepakit_register_domains(register: Register) -> None:
    """Register domains: ``register(domain)`` with a :class:`jepakit.contract.Domain`.

    A domain names its data loader (embedded default data when no path is given), its
    default configuration (which tokenizer, masker, target, model size), its benchmark
    tasks and presets, and any baselines it brings.

    The loader returns a :class:`jepakit.contract.DataBundle`: ``info`` (facts offered to
    component factories), ``tasks`` (whose datasets follow
    :class:`jepakit.contract.LabelledDataset`) and ``state``, what the loader fitted on
    the data (JSON). A loader that names ``state`` gets its saved state back whenever a
    saved run reads data again (resume, evaluate, fine-tune, export, embed).
    """
