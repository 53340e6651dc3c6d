"""Peak RSS of tabular pretraining on a generated rows x 50 table (.npy, streamed row by row).

    JEPAKIT_PLUGINS=tabular python benchmarks/tabular_memory.py 1e6 [--dir DIR]

Prints the RSS after imports and the peak after 5 pretraining steps; flat in the row
count when batches are streamed.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import warnings
from pathlib import Path

import torch

from jepakit.train import pretrain
from jepakit_tabular.synthetic import write_generated


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rows", type=float)
    ap.add_argument("--dir", default=None, help="where the generated table goes (default: a temporary folder)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = str(Path(tmp) / "table.npy")
        write_generated(path, int(args.rows), 50)
        after_import = rss_mb()
        began = time.time()
        cfg = {
            "data": {"path": path}, "train": {"steps": 5, "batch_size": 256, "progress": False},
            "model": {"width": 64, "depth": 2, "heads": 4, "pred_width": 32, "pred_depth": 1, "pred_heads": 4},
            "masker": {"name": "correlated"},
        }
        run = pretrain("tabular", config=cfg, out=str(Path(tmp) / "run"))
        print(
            f"rows={len(run.bundle.pretrain)} rss_after_imports={after_import:.0f} MB peak_rss={rss_mb():.0f} MB "
            f"loss {run.history[0]['loss']:.3f} -> {run.history[-1]['loss']:.3f} in {time.time() - began:.0f} s"
        )
