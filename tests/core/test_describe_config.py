"""Self-describing parts: ``jepakit describe KIND NAME`` (a component's arguments, defaults,
the facts the core offers it), the missing-fact error of :func:`jepakit.plugins.create`,
and ``jepakit config DOMAIN`` (the resolved config with one help string per key)."""

from __future__ import annotations

import pytest
import yaml

import jepakit
from jepakit import hookimpl
from jepakit import plugins as plugmod
from jepakit.cli import main
from jepakit.config import DEFAULTS
from jepakit.describe import CORE_FACTS, PREDICTOR_FACTS, describe, parse_arg_docs
from jepakit.errors import ConfigError
from jepakit.schema import HELP, SCHEMA, SECTION_HELP

# -- the missing-fact error ---------------------------------------------------------------


def test_a_built_in_missing_a_data_fact_names_the_fact_and_where_it_comes_from():
    with pytest.raises(ConfigError) as err:
        plugmod.create("tokenizer", "patch", {"patch": 4}, {"dim": 8, "steps": 10, "size": 32})
    msg = str(err.value)
    assert "\n" not in msg
    assert "tokenizer 'patch' needs 'in_chans'" in msg
    assert "DataBundle.info" in msg and "tokenizer.in_chans" in msg
    assert "offered here: dim, size, steps" in msg


def test_two_missing_facts_are_both_named():
    with pytest.raises(ConfigError, match=r"needs 'in_chans' and 'size'.*DataBundle\.info"):
        plugmod.create("tokenizer", "patch", {}, {"dim": 8})


# -- describe -----------------------------------------------------------------------------


def test_describe_a_built_in_lists_arguments_defaults_and_offered_facts():
    text = describe("tokenizer", "patch")
    assert text.splitlines()[0] == "tokenizer 'patch' (plugin jepakit)"
    assert "non-overlapping 1-/2-/3-D patches" in text
    args = text.split("\narguments")[1].split("\nfacts")[0]
    assert "patch: 16" in args and "key: x" in args and "in_chans" not in args
    facts = text.split("\nfacts")[1]
    assert "dim" in facts and "model.width" in facts
    assert "in_chans" in facts and "size" in facts and "DataBundle.info" in facts


def test_describe_a_predictor_marks_the_predictor_facts():
    text = describe("predictor", "transformer")
    args, facts = text.split("\nfacts")[0].split("\narguments")[1], text.split("\nfacts")[1]
    for fact in ("grid", "num_prefix", "width", "out_dim", "pred_width", "pred_depth"):
        assert fact in facts, fact
    assert "one_pass: false" in args and "attn_mask: split" in args and "grid" not in args


def test_the_facts_described_are_those_train_offers(waves):
    from jepakit import testing
    from jepakit.train import offered_facts, predictor_facts

    tiny = testing.build_tiny(waves, {"recipe": {"name": "jepa"}})
    info = set(tiny.bundle.info)
    # arch is offered only where model.arch names one
    assert set(offered_facts(tiny.config, tiny.bundle)) == (set(CORE_FACTS) - {"arch"}) | info
    named = {**tiny.config, "model": {**tiny.config["model"], "arch": "vit_tiny_patch16_224"}}
    assert set(offered_facts(named, tiny.bundle)) == set(CORE_FACTS) | info
    facts = predictor_facts(tiny.config, tiny.bundle, tiny.model.backbone, 8)
    assert set(facts) == (set(CORE_FACTS) - {"arch"}) | set(PREDICTOR_FACTS) | info


def documented(dim: int, width: int = 3, mode: str = "a", flag: bool = False):
    """A factory documented the Google way.

    Args:
        dim: offered by the core.
        width (int): how wide the thing is,
            continued on a second line.
        mode: ``a`` or ``b``.
    """


def sphinx(depth: int = 2, name: str = "x"):
    """A factory documented the Sphinx way.

    :param depth: how deep.
    :param str name: what it is called.
    """


def numpy_style(alpha: float = 0.5):
    """A factory documented the NumPy way.

    Parameters
    ----------
    alpha : float
        the mixing weight.
    """


def test_argument_docs_are_parsed_leniently_and_nothing_when_absent():
    assert parse_arg_docs(documented) == {"dim": "offered by the core.", "width": "how wide the thing is, continued on a second line.",
                                          "mode": "``a`` or ``b``."}
    assert parse_arg_docs(sphinx) == {"depth": "how deep.", "name": "what it is called."}
    assert parse_arg_docs(numpy_style) == {"alpha": "the mixing weight."}
    assert parse_arg_docs(lambda x=1: x) == {}


class DocPlugin:
    @hookimpl
    def jepakit_register_maskers(register):
        register("documented", documented, "a documented test factory")


def test_describe_prints_per_argument_doc_lines():
    jepakit.register_plugin(DocPlugin, "docplugin")
    text = describe("masker", "documented")
    assert "(plugin docplugin)" in text
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("width:"))
    assert "width: 3" in line and "how wide the thing is, continued on a second line." in line
    assert next(ln for ln in text.splitlines() if ln.strip().startswith("flag:")).strip() == "flag: false"
    assert "offered by the core" in text.split("\nfacts")[1]


def _registered() -> list[tuple[str, str]]:
    plugmod.reset()
    try:
        return [(kind, name) for kind in plugmod.KINDS for name in sorted(plugmod.registry(kind))]
    finally:
        plugmod.reset()


@pytest.mark.parametrize("kind, name", _registered())
def test_every_registered_component_describes_itself(kind, name):
    text = describe(kind, name)
    assert text.splitlines()[0].startswith(f"{kind} {name!r} (plugin ")
    if kind != "domain":
        assert "\narguments" in text and "\nfacts" in text


def test_describe_an_unknown_kind_or_name_is_one_line_listing_the_valid_ones(capsys):
    with pytest.raises(ConfigError, match=r"unknown masker 'nope'.*multiblock.*random"):
        describe("masker", "nope")
    assert main(["describe", "maskers", "multiblock"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tokenizer" in err and "masker" in err
    assert main(["describe", "target", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ema" in err and "sigreg" in err


def test_describe_cli_prints_the_component_and_lists_a_kind(capsys):
    assert main(["describe", "views", "blocks"]) == 0
    out = capsys.readouterr().out
    assert "views 'blocks' (plugin jepakit)" in out and "global_views: 2" in out
    assert main(["describe", "target"]) == 0
    out = capsys.readouterr().out
    assert "ema" in out and "sigreg" in out


def test_describe_a_domain_lists_its_data_options(waves):
    text = describe("domain", "waves")
    assert "domain 'waves'" in text and "n: 96" in text and "length: 64" in text


# -- config help --------------------------------------------------------------------------


def test_every_schema_and_default_key_has_a_help_string():
    missing = [f"{s}.{k}" for s, keys in SCHEMA.items() for k in keys if not HELP.get(s, {}).get(k)]
    missing += [f"{s}.{k}" for s, keys in DEFAULTS.items() for k in keys if not HELP.get(s, {}).get(k)]
    missing += [s for s in set(SCHEMA) | set(DEFAULTS) if not SECTION_HELP.get(s)]
    assert not missing, f"no help for {missing}"
    assert not [k for s, keys in HELP.items() for k in keys if k not in SCHEMA.get(s, {}) and k not in DEFAULTS.get(s, {})]


def test_config_prints_the_resolved_config_with_help(capsys):
    assert main(["config", "tabular", "--set", "train.steps=7"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("steps:"))
    assert line.split("#")[0].strip() == "steps: 7"
    assert line.split("#", 1)[1].strip() == HELP["train"]["steps"]
    cfg = yaml.safe_load(out)  # comments aside, it is the resolved config, as YAML
    assert cfg["train"]["steps"] == 7 and cfg["tokenizer"]["name"] == "tabular" and cfg["model"]["pos"] == "learned"
    lr = next(ln for ln in out.splitlines() if ln.strip().startswith("lr:"))
    assert HELP["train"]["lr"] in lr


def test_config_reads_a_file_layer_and_refuses_a_bad_value_in_one_line(tmp_path, capsys):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  width: 48\n  heads: 4\n")
    assert main(["config", "tabular", "--config", str(f), "--set", "model.depth=3"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert (cfg["model"]["width"], cfg["model"]["heads"], cfg["model"]["depth"]) == (48, 4, 3)
    assert main(["config", "tabular", "--set", "train.steps=abc"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: train.steps must be an integer >= 1, got 'abc'"


@pytest.fixture(autouse=True)
def isolated_plugins(request):
    """The installed plugins load here (`jepakit config tabular`); tests that register their
    own plugin get them removed after."""
    plugmod.reset()
    yield
    plugmod.reset()
