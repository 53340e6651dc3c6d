"""jepakit.testing's conformance checks on this plugin's components, built as the
registry-wide suite builds them (each on the vision domain, with the arguments its presets
give), plus the domain end to end (trains, resumes bit for bit, fits one batch)."""

from __future__ import annotations

import pytest
import torch

from jepakit import plugins as plugmod
from jepakit import testing


@pytest.fixture(autouse=True)
def fresh_registry():
    plugmod.reset()
    yield
    plugmod.reset()


def _tiny(section: str, args: dict, recipe: str = "jepa") -> testing.Tiny:
    return testing.build_tiny("vision", {section: args, "recipe": {"name": recipe}})


def test_tokenizer_conforms():
    tiny = _tiny("tokenizer", {"name": "image-patch", "patch": 4})
    testing.check_tokenizer(tiny.model.backbone.tokenizer, tiny.batch, name="image-patch")


@pytest.mark.parametrize("name", ["saliency", "seq-views"])
def test_maskers_conform(name):
    tiny = _tiny("masker", {"name": name})
    testing.check_masker(tiny.sampler, tiny.layout, tiny.batch_size, batch=tiny.batch, model=tiny.model, name=name)


@pytest.mark.parametrize("name", ["dseq", "seq-action"])
def test_predictors_conform(name):
    tiny = _tiny("predictor", {"name": name})
    with torch.no_grad():
        context = tiny.model.backbone(tiny.batch, tiny.drawn.context)
    testing.check_predictor(tiny.model.predictor, context, tiny.drawn, tiny.batch, tiny.model.target.dim or tiny.model.backbone.width,
                            name=name)


def test_loss_conforms():
    tiny = _tiny("loss", {"name": "seq-view"})
    tiny.model.train()
    out = tiny.model(tiny.batch, tiny.drawn)
    testing.check_loss(tiny.model.loss, out["pred"].detach(), out["target"], tiny.drawn.weight, out=out, batch=tiny.batch,
                       masks=tiny.drawn, name="seq-view")


def test_the_domain_trains_resumes_and_fits_a_batch(tmp_path):
    testing.check_domain("vision", steps=6, workdir=tmp_path)
