"""Registry-wide conformance: every registered tokenizer, masker, view sampler, target,
predictor and domain passes :mod:`jepakit.testing`'s checks (as timm's tests run over
``list_models()``), and every check fails on a component built to break its property.

A component is built with the facts of a domain that uses it: a plugin's components on
that plugin's domain (with the arguments its presets give them), the core's own on the
sines example when installed, else on the in-test ``waves`` domain of the same shape.
Components are reached through the registry only, never by a plugin's module path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import torch

import jepakit
from jepakit import DataBundle, Domain, Task, hookimpl, testing
from jepakit import plugins as plugmod
from jepakit.contract import Layout, Masker, Masks, Target, Tokenizer, Views, ViewSampler

SECTIONS = {"tokenizer": "tokenizer", "masker": "masker", "views": "views", "target": "target", "predictor": "predictor",
            "loss": "loss", "regularizer": "regularizers"}
# the recipe that uses a component of each kind (a tokenizer is checked under its domain's own)
RECIPE_OF = {"masker": "jepa", "target": "jepa", "predictor": "jepa", "views": "lejepa", "loss": "jepa", "regularizer": "jepa"}


def _registered() -> dict[str, list[str]]:
    """The registry as the environment installs it (read at collection time)."""
    plugmod.reset()
    try:
        return {kind: sorted(plugmod.registry(kind)) for kind in (*SECTIONS, "domain")}
    finally:
        plugmod.reset()


REGISTERED = _registered()
# domains whose check_domain takes more than a few seconds on one core (measured: lidar's
# sparse-voxel encoder, 4-5 s); the others take 0.4-2.5 s
SLOW_DOMAINS = {"lidar"}


@pytest.fixture(autouse=True)
def isolated_plugins():
    """Overrides tests/core's fixture of the same name: here every installed plugin loads."""
    plugmod.reset()
    yield
    plugmod.reset()


@pytest.fixture
def core_domain(request) -> str:
    """Where the core's own components are checked: the sines example, else ``waves``."""
    if "sines" in plugmod.registry("domain"):
        return "sines"
    return request.getfixturevalue("waves")  # tests/core/conftest.py registers it


def _home(kind: str, name: str, core_domain: str) -> str:
    entry = plugmod.registry(kind)[name]
    if entry.plugin == "jepakit":
        return core_domain
    own = [d for d, e in plugmod.registry("domain").items() if e.plugin == entry.plugin]
    if not own:  # a plugin of components only: the first domain whose presets name it
        own = [d for d in plugmod.registry("domain") if _preset_args(plugmod.get_domain(d), kind, name) is not None]
    assert own, f"{kind} {name!r} of plugin {entry.plugin!r}: no domain to check it on"
    return own[0]


def _preset_args(dom: Domain, kind: str, name: str) -> dict[str, Any] | None:
    """The arguments a domain's presets give component ``name`` (quick first), if any names it."""
    section = SECTIONS[kind]
    for layer in (dom.quick, dom.defaults, *dict(dom.variants).values(), dom.bench):
        values = (layer or {}).get(section)
        if isinstance(values, Mapping) and values.get("name") == name:
            return dict(values)
    return None


def _tiny(kind: str, name: str, domain: str) -> testing.Tiny:
    dom = plugmod.get_domain(domain)
    overrides: dict[str, Any] = {SECTIONS[kind]: _preset_args(dom, kind, name) or {"name": name}}
    if kind in RECIPE_OF:
        overrides["recipe"] = {"name": RECIPE_OF[kind]}
    return testing.build_tiny(dom, overrides)


@pytest.mark.parametrize("name", REGISTERED["tokenizer"])
def test_every_tokenizer_conforms(name, core_domain):
    tiny = _tiny("tokenizer", name, _home("tokenizer", name, core_domain))
    testing.check_tokenizer(tiny.model.backbone.tokenizer, tiny.batch, name=name)


# built-in maskers that need a layout no installed domain's tokenizer gives: checked on a
# layout made here (a domain whose presets name one is used instead, once there is one)
OWN_LAYOUTS = {"segments": lambda: Layout.of_segments([("image", (4, 4)), ("signal", (16,))])}


@pytest.mark.parametrize("name", REGISTERED["masker"])
def test_every_masker_conforms(name, core_domain):
    named = [d for d in plugmod.registry("domain") if _preset_args(plugmod.get_domain(d), "masker", name) is not None]
    if name in OWN_LAYOUTS and not named:
        masker = plugmod.create("masker", name, {}, {"dim": 32, "steps": 6})
        testing.check_masker(masker, OWN_LAYOUTS[name](), 4, name=name)
        return
    tiny = _tiny("masker", name, _home("masker", name, core_domain))
    testing.check_masker(tiny.sampler, tiny.layout, tiny.batch_size, batch=tiny.batch, model=tiny.model, name=name)


@pytest.mark.parametrize("name", REGISTERED["views"])
def test_every_view_sampler_conforms(name, core_domain):
    tiny = _tiny("views", name, _home("views", name, core_domain))
    testing.check_view_sampler(tiny.sampler, tiny.layout, tiny.batch_size, batch=tiny.batch, name=name)


@pytest.mark.parametrize("name", REGISTERED["target"])
def test_every_target_conforms(name, core_domain):
    tiny = _tiny("target", name, _home("target", name, core_domain))
    testing.check_target(tiny.model, tiny.batch, tiny.drawn, name=name)


@pytest.mark.parametrize("name", REGISTERED["predictor"])
def test_every_predictor_conforms(name, core_domain):
    tiny = _tiny("predictor", name, _home("predictor", name, core_domain))
    model, masks = tiny.model, tiny.drawn
    with torch.no_grad():
        context = model.backbone(tiny.batch, masks.context)
    out_dim = model.target.dim or model.backbone.width
    testing.check_predictor(model.predictor, context, masks, tiny.batch, out_dim, name=name)


def _step_outputs(tiny: testing.Tiny) -> dict[str, Any]:
    tiny.model.train()
    return tiny.model(tiny.batch, tiny.drawn)


@pytest.mark.parametrize("name", REGISTERED["loss"])
def test_every_loss_conforms(name, core_domain):
    home = _home("loss", name, core_domain)
    args = _preset_args(plugmod.get_domain(home), "loss", name) or {"name": name}
    tiny = testing.build_tiny(plugmod.get_domain(home), {"loss": args, "recipe": {"name": "jepa"}})
    out = _step_outputs(tiny)
    testing.check_loss(tiny.model.loss, out["pred"].detach(), out["target"], tiny.drawn.weight, out=out, batch=tiny.batch,
                       masks=tiny.drawn, name=name)


@pytest.mark.parametrize("name", REGISTERED["regularizer"])
def test_every_regularizer_conforms(name, core_domain):
    home = _home("regularizer", name, core_domain)
    tiny = testing.build_tiny(plugmod.get_domain(home), {"regularizers": {name: {}}, "recipe": {"name": "jepa"}})
    out = _step_outputs(tiny)
    testing.check_regularizer(tiny.model.regularizers[name], out, name=name)


@pytest.mark.parametrize(
    "name", [pytest.param(d, marks=pytest.mark.slow) if d in SLOW_DOMAINS else d for d in REGISTERED["domain"]]
)
def test_every_domain_pretrains_and_resumes_exactly(name, tmp_path):
    result = testing.check_domain(name, steps=6, workdir=tmp_path)
    assert len(result.losses) == 6


def test_the_registry_is_covered():
    """The parametrization above saw the components that plugins register: at least the core's."""
    assert {"patch"} <= set(REGISTERED["tokenizer"]) and {"multiblock", "random"} <= set(REGISTERED["masker"])
    assert {"ema", "sigreg"} <= set(REGISTERED["target"]) and "transformer" in REGISTERED["predictor"]
    assert "blocks" in REGISTERED["views"]
    assert {"smooth_l1", "cosine"} <= set(REGISTERED["loss"]) and {"sigreg", "variance"} <= set(REGISTERED["regularizer"])


class _Unmoved(jepakit.contract.Loss):
    """Ignores the predictions: a constant loss."""

    def forward(self, pred, target, weight):
        return target.sum() * 0 + 1.0


class _Unbounded(jepakit.contract.Regularizer):
    mix = True

    def __init__(self):
        super().__init__()
        self.weight = 2.0

    def forward(self, out):
        return out["context"].mean()


def test_check_loss_and_check_regularizer_catch_broken_ones():
    target = torch.randn(2, 2, 3, 4)
    with pytest.raises(AssertionError, match="lower when the predictions equal the targets"):
        testing.check_loss(_Unmoved(), target, target)
    with pytest.raises(AssertionError, match="mixing regularizer's weight must be <= 1"):
        testing.check_regularizer(_Unbounded(), {"context": torch.randn(2, 3, 4)})


# -- every check can fail ------------------------------------------------------------------


class Grid(Tokenizer):
    """A tokenizer of 8 tokens a sample; ``lie`` breaks one property at a time."""

    def __init__(self, lie: str = "", dim: int = 8):
        super().__init__()
        self.dim, self.lie = dim, lie
        self.proj = torch.nn.Linear(1, dim)

    def layout(self, batch):
        return Layout((9,) if self.lie == "count" else (8,))

    def embed(self, batch):
        return self.proj(batch["x"].unsqueeze(-1))

    def forward(self, batch, keep=None):
        tokens = self.embed(batch)
        if keep is None:
            return tokens
        if self.lie == "keep-count":
            return jepakit.gather_tokens(tokens, keep[:, :-1])
        if self.lie == "keep-all":  # drops input, yet keeping every token is not the full path
            return jepakit.gather_tokens(tokens, keep) + 1.0
        return jepakit.gather_tokens(tokens, keep)


class DefaultPath(Grid):
    """Keeps the contract's forward but returns a prefix the layout does not announce."""

    forward = Tokenizer.forward

    def prefix(self, batch_size):
        return torch.zeros(batch_size, 1, self.dim)


BATCH = {"x": torch.randn(4, 8)}


@pytest.mark.parametrize("tokenizer, property_", [
    (Grid("count"), "embed\\(\\) must give \\(B, N, dim\\)"),
    (Grid("keep-count"), "forward\\(batch, keep\\) must give the prefix then one token per kept index"),
    (Grid("keep-all"), "forward\\(batch, keep=every index\\) must equal forward\\(batch\\)"),
    (DefaultPath(), "forward\\(batch\\) must give \\(B, num_prefix \\+ N, dim\\)"),
])
def test_check_tokenizer_catches_a_broken_tokenizer(tokenizer, property_):
    testing.check_tokenizer(Grid(), BATCH, name="grid")  # the honest one passes
    with pytest.raises(AssertionError, match=f"^tokenizer 'bad': {property_}") as err:
        testing.check_tokenizer(tokenizer, BATCH, name="bad")
    assert "\n" not in str(err.value)


def test_check_tokenizer_asks_a_dropping_tokenizer_for_exact_tokens_only_when_told():
    class Shifted(Grid):
        def forward(self, batch, keep=None):  # different tokens for a strict subset, as a sparse encoder gives
            out = super().forward(batch, keep)
            return out if keep is None or keep.shape[1] == 8 else out + 1.0

    testing.check_tokenizer(Shifted(), BATCH)
    with pytest.raises(AssertionError, match="must equal the full path's tokens at the kept indices"):
        testing.check_tokenizer(Shifted(), BATCH, exact_keep=True)


class Rigged(Masker):
    """A masker over 8 tokens that breaks one property at a time."""

    def __init__(self, lie: str = ""):
        self.lie = lie

    def __call__(self, layout, batch_size, generator):
        b = batch_size
        rng = None if self.lie == "unseeded" else generator  # unseeded: torch's global generator
        order = torch.stack([torch.randperm(8, generator=rng) for _ in range(b)])
        context, target = order[:, :4], order[:, 4:].reshape(b, 2, 2)
        if self.lie == "overlap":
            target = target.clone()
            target[-1, 1, 0] = context[-1, 0]
        if self.lie == "range":
            target = target + 8
        if self.lie == "float":
            context = context.float()
        if self.lie == "repeat":
            context = context.clone()
            context[0, 1] = context[0, 0]
        weight = torch.ones(b, 2, 3) if self.lie == "weight" else None
        return Masks(context, target, weight)


@pytest.mark.parametrize("lie, property_", [
    ("overlap", "context and targets must be disjoint \\(sample 3, target group 1"),
    ("range", "target indices must lie in \\[0, 8\\)"),
    ("float", "context must be an integer tensor"),
    ("repeat", "a context holds a token twice"),
    ("unseeded", "the same generator seed must give the same masks"),
    ("weight", "weight must be a float tensor shaped like target"),
])
def test_check_masker_catches_a_broken_masker(lie, property_):
    testing.check_masker(Rigged(), Layout((8,)), 4, name="rigged")
    with pytest.raises(AssertionError, match=f"^masker 'rigged': {property_}"):
        testing.check_masker(Rigged(lie), Layout((8,)), 4, name="rigged")


def test_check_masker_gives_a_data_aware_masker_the_batch():
    seen = {}

    class Aware(Rigged):
        def __call__(self, layout, batch_size, generator, batch):
            seen["batch"] = batch
            return super().__call__(layout, batch_size, generator)

    with pytest.raises(AssertionError, match="data-aware .* give check_masker the batch"):
        testing.check_masker(Aware(), Layout((8,)), 4)
    testing.check_masker(Aware(), Layout((8,)), 4, batch=BATCH)
    assert seen["batch"] is BATCH


class FewViews(ViewSampler):
    def __init__(self, lie: str = ""):
        self.lie = lie

    def __call__(self, layout, batch_size, generator):
        v = torch.stack([torch.randperm(8, generator=generator)[:4] for _ in range(batch_size)])
        if self.lie == "none":
            return Views([], [v])
        if self.lie == "repeat":
            v = torch.cat([v, v[:, :1]], dim=1)
        return Views([v], [v[:, :2]])


@pytest.mark.parametrize("lie, property_", [("none", "must give at least one global view"), ("repeat", "view 0 holds a token twice")])
def test_check_view_sampler_catches_a_broken_sampler(lie, property_):
    testing.check_view_sampler(FewViews(), Layout((8,)), 4, name="few")
    with pytest.raises(AssertionError, match=f"^view sampler 'few': {property_}"):
        testing.check_view_sampler(FewViews(lie), Layout((8,)), 4, name="few")


def test_check_target_and_check_predictor_catch_wrong_shapes_and_a_blind_predictor(core_domain):
    tiny = testing.build_tiny(core_domain, {"recipe": {"name": "jepa"}, "target": {"name": "ema"}})
    model, masks = tiny.model, tiny.drawn
    testing.check_target(model, tiny.batch, masks, name="ema")

    class Flat(Target):  # one feature too few
        def forward(self, model, batch, masks):
            b, m, nt = masks.target.shape
            return torch.zeros(b, m, nt, model.backbone.width - 1)

    model.target = Flat()
    with pytest.raises(AssertionError, match=r"^target 'flat': must return \(B, M, Nt, D\)"):
        testing.check_target(model, tiny.batch, masks, name="flat")

    with torch.no_grad():
        context = tiny.model.backbone(tiny.batch, masks.context)
    width = tiny.model.backbone.width
    testing.check_predictor(tiny.model.predictor, context, masks, tiny.batch, width, name="transformer")

    class Blind(torch.nn.Module):  # right shape, ignores the context
        def __init__(self):
            super().__init__()
            self.bias = torch.nn.Parameter(torch.zeros(width))

        def forward(self, context, masks, batch=None):
            return self.bias.expand(*masks.target.shape, width)

    with pytest.raises(AssertionError, match="^predictor 'blind': predictions must depend on the context"):
        testing.check_predictor(Blind(), context, masks, tiny.batch, width, name="blind")
    with pytest.raises(AssertionError, match=r"^predictor 'transformer': must return \(B, M, Nt, out_dim\)"):
        testing.check_predictor(tiny.model.predictor, context, masks, tiny.batch, width + 1, name="transformer")


class DriftingWaves(torch.utils.data.Dataset):
    """Items whose noise comes from the dataset's own generator, kept across items: the
    batches then depend on what was read before, which a resumed run cannot reproduce
    (README, "Resume is exact ... one that keeps its own generator across items does not")."""

    def __init__(self, n: int = 64, length: int = 32):
        self.n, self.length = n, length
        self.rng = np.random.default_rng(0)
        self.t = np.arange(length) / length

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x = np.sin(2 * np.pi * (1 + i % 3) * self.t) + self.rng.normal(0, 1.0, self.length)
        return {"x": torch.tensor(x[None], dtype=torch.float32), "label": i % 3}


def load_drifting(path=None):
    return DataBundle(DriftingWaves(), {"in_chans": 1, "size": 32}, {"t": Task(DriftingWaves(), DriftingWaves(), "multiclass")})


class Rising(Target):
    """A target whose features grow by one every call: no predictor can follow it. The count
    is a buffer, saved with the model, so that a resumed run rises as the first did."""

    def __init__(self):
        super().__init__()
        self.register_buffer("rises", torch.zeros(()))

    def forward(self, model, batch, masks):
        self.rises += 1
        return self.rises.expand(*masks.target.shape, model.backbone.width).clone()


class RisingPlugin:
    @hookimpl
    def jepakit_register_targets(register):
        register("rising", Rising, "test target: rises by one every step")


class DriftingPlugin:
    @hookimpl
    def jepakit_register_domains(register):
        register(Domain("drifting", load_drifting, defaults={"recipe": {"name": "jepa"}, "tokenizer": {"name": "patch", "patch": 4},
                                                               "masker": {"name": "multiblock", "num_targets": 2}}))


def test_check_domain_catches_a_domain_that_does_not_resume_exactly(tmp_path):
    jepakit.register_plugin(DriftingPlugin, "drifting")
    with pytest.raises(AssertionError, match=r"^domain 'drifting': resume from step 2 must reproduce the run's losses exactly"):
        testing.check_domain("drifting", steps=4, workdir=tmp_path, loss_down=False)


def test_check_domain_catches_a_loss_that_does_not_go_down(tmp_path, core_domain):
    jepakit.register_plugin(RisingPlugin, "rising")
    with pytest.raises(AssertionError, match=rf"^domain '{core_domain}': the loss must go down \(4 steps on one batch: first"):
        testing.check_domain(core_domain, steps=4, workdir=tmp_path, overrides={"recipe": {"name": "jepa"}, "target": {"name": "rising"}})


def test_rewind_drops_the_later_checkpoints_and_points_latest_at_the_step(tmp_path):
    ck = tmp_path / "checkpoints"
    for step in (2, 4, 6):
        (ck / f"step-{step:07d}").mkdir(parents=True)
    assert testing.rewind(tmp_path, 4) == ck / "step-0000004"
    assert sorted(p.name for p in ck.glob("step-*")) == ["step-0000002", "step-0000004"]
    assert (ck / "latest").read_text() == "step-0000004"
    with pytest.raises(AssertionError, match="no checkpoint at step 6"):
        testing.rewind(tmp_path, 6)


def test_testing_imports_no_pytest():
    import subprocess
    import sys

    code = "import sys, jepakit.testing; print('pytest' in sys.modules or '_pytest' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
