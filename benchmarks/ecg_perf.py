"""Loading throughput: random training crops from a prepared store against decoding and
conditioning each WFDB record on the fly (what a dataset without ``prepare`` does).

    python benchmarks/ecg_perf.py WFDB_FOLDER [--rate 500] [--crop 10] [--windows 500]

prepares the folder into a temporary store first (that one-off cost is reported too).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import wfdb

from jepakit.prepared import PreparedStore, WindowDataset
from jepakit_ecg.data import prepare
from jepakit_ecg.io import find_records, read_wfdb
from jepakit_ecg.preprocess import Preprocess


def readers(
    folder: str | os.PathLike, prepared: str | os.PathLike, rate: int = 500, crop: float = 10.0, seed: int = 0,
) -> dict[str, Callable[[], Any]]:
    """One random training window per call, three ways over the same records: ``wfdb``
    (decode and condition a record, then crop: what a dataset without ``prepare`` does),
    ``decode_only`` (``wfdb.rdrecord`` alone, no conditioning: the floor of any on-the-fly
    reader) and ``prepared`` (a random crop from the prepared store)."""
    pre = Preprocess(rate=rate)
    length = int(round(crop * rate))
    headers = find_records(folder)
    rng = np.random.default_rng(seed)

    def from_wfdb() -> torch.Tensor:
        x, present, _ = read_wfdb(headers[int(rng.integers(len(headers)))], pre)
        start = int(rng.integers(0, x.shape[1] - length + 1))
        return torch.from_numpy(np.ascontiguousarray(x[:, start : start + length]))

    def decode_only() -> Any:
        return wfdb.rdrecord(str(headers[int(rng.integers(len(headers)))].with_suffix("")))

    ds = WindowDataset(PreparedStore(prepared), length, random=True, fields=("present",))
    np.random.seed(seed)
    order = rng.integers(0, len(ds), 1 << 16).tolist()  # drawn up front: reading is ~10 us
    count = iter(range(1 << 62))

    def from_prepared() -> Any:
        return ds[order[next(count) % len(order)]]

    return {"wfdb": from_wfdb, "decode_only": decode_only, "prepared": from_prepared}


def _per_second(fn: Callable[[], Any], n: int) -> float:
    tic = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - tic)


def measure(
    folder: str | os.PathLike, prepared: str | os.PathLike, rate: int = 500, crop: float = 10.0, windows: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """Windows per second both ways over the same records, and their ratio."""
    r = readers(folder, prepared, rate, crop, seed)
    n_wfdb = max(20, windows // 20)  # decoding is slow: fewer draws give the same rate
    wfdb_rate = _per_second(r["wfdb"], n_wfdb)
    decode_rate = _per_second(r["decode_only"], n_wfdb)
    prep_rate = _per_second(r["prepared"], windows)
    return {"records": len(find_records(folder)), "rate": rate, "crop_s": crop, "wfdb_windows_per_s": wfdb_rate,
            "wfdb_decode_only_per_s": decode_rate, "prepared_windows_per_s": prep_rate, "speedup": prep_rate / wfdb_rate,
            "speedup_vs_decode_only": prep_rate / decode_rate}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder")
    p.add_argument("--rate", type=int, default=500)
    p.add_argument("--crop", type=float, default=10.0)
    p.add_argument("--windows", type=int, default=500)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tic = time.perf_counter()
        prepare(args.folder, Path(tmp) / "prep", rate=args.rate)
        prep_s = time.perf_counter() - tic
        r = measure(args.folder, Path(tmp) / "prep", args.rate, args.crop, args.windows)
    print(f"{r['records']} records, {args.crop:g} s crops at {args.rate} Hz; prepare took {prep_s:.1f} s once")
    print(f"per-record WFDB reading: {r['wfdb_windows_per_s']:.1f} windows/s")
    print(f"  (wfdb.rdrecord alone:  {r['wfdb_decode_only_per_s']:.1f} records/s)")
    print(f"prepared arrays:         {r['prepared_windows_per_s']:.1f} windows/s")
    print(f"speed-up:                {r['speedup']:.0f}x ({r['speedup_vs_decode_only']:.0f}x over decoding alone)")


if __name__ == "__main__":
    main()
