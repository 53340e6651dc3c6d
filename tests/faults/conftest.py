"""Fixtures for the fault-injection tests: the tiny ``waves`` domain of tests/core
(conftest files are per folder, so it is loaded here from its file rather than copied).

Additive: other fault tests may add their own fixtures below."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("_jepakit_core_conftest", Path(__file__).parents[1] / "core" / "conftest.py")
core_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(core_conftest)

TINY = core_conftest.TINY
Waves = core_conftest.Waves
WavesPlugin = core_conftest.WavesPlugin


# the same fixtures as tests/core (pytest finds fixtures assigned in a conftest)
isolated_plugins = core_conftest.isolated_plugins
waves = core_conftest.waves
