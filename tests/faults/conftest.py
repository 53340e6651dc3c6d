"""Fixtures for the fault-injection tests: the tiny ``waves`` domain of tests/core
(conftest files are per folder, so it is loaded here from its file rather than copied).

Additive: other fault tests may add their own fixtures below."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import jepakit
from jepakit import plugins as plugmod

_spec = importlib.util.spec_from_file_location("_jepakit_core_conftest", Path(__file__).parents[1] / "core" / "conftest.py")
core_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(core_conftest)

TINY = core_conftest.TINY
Waves = core_conftest.Waves
WavesPlugin = core_conftest.WavesPlugin


@pytest.fixture(autouse=True)
def isolated_plugins(monkeypatch):
    """Only the built-ins and the in-test plugins: installed domain plugins stay out."""
    monkeypatch.setenv(plugmod.ENV_VAR, "")
    plugmod.reset()
    yield
    plugmod.reset()


@pytest.fixture
def waves():
    jepakit.register_plugin(WavesPlugin, "waves")
    return "waves"
