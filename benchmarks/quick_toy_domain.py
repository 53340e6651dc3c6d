"""Wall time of `jepakit bench --quick` on the in-test domain (tests/core/conftest.py's
`waves`), registered in-process with nothing installed.

    JEPAKIT_PLUGINS= python benchmarks/quick_toy_domain.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core"))

from conftest import WavesPlugin  # noqa: E402

import jepakit  # noqa: E402
from jepakit.cli import main  # noqa: E402

if __name__ == "__main__":
    jepakit.register_plugin(WavesPlugin, "waves")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        main(["bench", "waves", "--quick", "--out", out])
    print(f"wall time including imports after start-up: {time.perf_counter() - began:.1f} s")
