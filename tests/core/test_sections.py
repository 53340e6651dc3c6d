"""The core's fixed config sections are typed dataclasses: each key declared once (type,
default, spec, help), from which DEFAULTS, the schema and the help are read."""

from __future__ import annotations

import dataclasses

import pytest

from jepakit import config as cfgmod
from jepakit import schema, sections
from jepakit.errors import ConfigError


@pytest.mark.parametrize("name", sorted(sections.SECTIONS))
def test_defaults_schema_and_help_come_from_one_declaration(name):
    cls = sections.SECTIONS[name]
    fields = dataclasses.fields(cls)
    assert cfgmod.DEFAULTS[name] == dataclasses.asdict(cls())
    assert schema.SCHEMA[name] == {f.name: f.metadata["spec"] for f in fields}
    assert all(schema.HELP[name][f.name] for f in fields)
    for f in fields:  # every default passes its own spec unchanged
        default = getattr(cls(), f.name)
        assert f.metadata["spec"](default) == default, f.name


def test_typed_gives_a_merged_configs_section_as_its_dataclass():
    cfg = cfgmod.merge({"train": {"steps": "1e3", "lr": 3e-4}, "loss": {"name": "chunks", "action_weight": 2.0}})
    train = sections.typed(cfg, "train")
    assert isinstance(train, sections.TrainSection) and train.steps == 1000 and train.lr == 3e-4
    assert sections.typed(cfg, "loss").name == "chunks"  # the loss's own arguments are not fields
    with pytest.raises(ConfigError, match=r"train\.steps must be an integer >= 1"):
        cfgmod.merge({"train": {"steps": 0}})


def test_list_defaults_are_not_shared_between_instances():
    a, b = sections.EvalSection(), sections.EvalSection()
    a.fractions.append(0.5)
    assert b.fractions == [0.01, 0.1, 1.0]
