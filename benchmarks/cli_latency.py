"""How long the CLI takes before its first line: ``jepakit --help``, ``jepakit domains``
and a failing command (an unknown domain), each a fresh process, median of ``--repeat``
runs. The issue's goal: under 2 s for ``--help`` and ``domains`` on 2 CPU cores.

    python benchmarks/cli_latency.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "jepakit --help": ["--help"],
    "jepakit domains": ["domains"],
    "jepakit pretrain no-such-domain": ["pretrain", "no-such-domain"],
    "python -c 'import torch' (reference)": None,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    exe = shutil.which("jepakit") or os.path.join(os.path.dirname(sys.executable), "jepakit")
    times: dict[str, list[float]] = {k: [] for k in COMMANDS}
    for _ in range(args.repeat):  # interleaved, so a noisy neighbour hits every command alike
        for label, argv in COMMANDS.items():
            cmd = [sys.executable, "-c", "import torch"] if argv is None else [exe, *argv]
            t = time.perf_counter()
            subprocess.run(cmd, capture_output=True, text=True)
            times[label].append(time.perf_counter() - t)
    print("| command | median s | min s |")
    print("|---|---|---|")
    for label, ts in times.items():
        print(f"| {label} | {statistics.median(ts):.2f} | {min(ts):.2f} |")


if __name__ == "__main__":
    main()
