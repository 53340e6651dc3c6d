"""Windows per second: decoding EDF on the fly vs reading a prepared store.

``python benchmarks/eeg_perf.py [FOLDER] [--windows N]`` times two loaders that return the
same cleaned ``(C, L)`` clips: (1) straight from EDF: open the file lazily, crop the
clip, run the full cleaning pipeline (:func:`jepakit_eeg.io.preprocess_raw`); (2) from a
prepared store (``jepakit prepare eeg``) through the core's ``WindowDataset``. Without a
folder it writes a small synthetic EDF cohort first.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import mne
import numpy as np

from jepakit.prepared import PreparedStore, WindowDataset
from jepakit_eeg.data import prepare
from jepakit_eeg.io import Preprocess, find_files, preprocess_raw
from jepakit_eeg.testing import write_synthetic_edfs


def edf_reader(files: list[Path], window: float, prep: Preprocess, seed: int = 0) -> Callable[[], object]:
    """One cleaned clip per call straight from EDF: lazy read, crop, the full cleaning pipeline."""
    rng = np.random.default_rng(seed)

    def read() -> object:
        path = files[int(rng.integers(len(files)))]
        raw = mne.io.read_raw(path, preload=False, verbose="error")
        start = float(rng.uniform(0, raw.times[-1] - window))
        clip = raw.crop(start, start + window, include_tmax=False).load_data(verbose="error")
        rec = preprocess_raw(clip, prep, str(path))
        assert rec.data.shape[1] >= int(window * prep.rate) - 1
        return rec

    return read


def decode_reader(files: list[Path], window: float, seed: int = 0) -> Callable[[], object]:
    """The decoding share of the cost, one clip per call: crop + read the samples, no cleaning."""
    rng = np.random.default_rng(seed)

    def read() -> object:
        path = files[int(rng.integers(len(files)))]
        raw = mne.io.read_raw(path, preload=False, verbose="error")
        start = float(rng.uniform(0, raw.times[-1] - window))
        return raw.crop(start, start + window, include_tmax=False).get_data()

    return read


def prepared_reader(store_path: Path, window: float, sfreq: float) -> Callable[[], object]:
    """One clip per call from a prepared store through the core's ``WindowDataset``, cycling over the records."""
    ds = WindowDataset(PreparedStore(store_path), int(window * sfreq), random=True, fields=("valid",))
    count = iter(range(1 << 62))

    def read() -> object:
        item = ds[next(count) % len(ds)]
        assert item["signal"].shape[1] == int(window * sfreq)
        return item

    return read


def _per_second(read: Callable[[], object], n: int) -> float:
    began = time.perf_counter()
    for _ in range(n):
        read()
    return n / (time.perf_counter() - began)


def edf_windows_per_second(files: list[Path], window: float, n: int, prep: Preprocess, seed: int = 0) -> float:
    return _per_second(edf_reader(files, window, prep, seed), n)


def edf_decode_only_per_second(files: list[Path], window: float, n: int, seed: int = 0) -> float:
    """The decoding share of the cost: crop + read the samples, no cleaning."""
    return _per_second(decode_reader(files, window, seed), n)


def prepared_windows_per_second(store_path: Path, window: float, n: int, sfreq: float) -> float:
    return _per_second(prepared_reader(store_path, window, sfreq), n)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?")
    ap.add_argument("--windows", type=int, default=200)
    ap.add_argument("--window", type=float, default=4.0)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    prep = Preprocess()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder) if args.folder else write_synthetic_edfs(Path(tmp) / "edf")
        files = [p for p in find_files(folder) if p.suffix.lower() == ".edf"]
        t0 = time.perf_counter()
        store = prepare(folder, Path(tmp) / "prepared")
        prep_s = time.perf_counter() - t0
        edf = edf_windows_per_second(files, args.window, max(20, args.windows // 10), prep)
        decode = edf_decode_only_per_second(files, args.window, max(20, args.windows // 4))
        fast = prepared_windows_per_second(store, args.window, args.windows * 10, prep.rate)
    print(f"{len(files)} EDF files; one-off prepare: {prep_s:.1f} s")
    print(f"straight from EDF (lazy read + crop + clean per window): {edf:.1f} windows/s")
    print(f"  of which EDF decoding alone (lazy read + crop, no cleaning): {decode:.1f} windows/s")
    print(f"prepared store (memory-mapped WindowDataset):           {fast:.1f} windows/s  ({fast / edf:.0f}x)")


if __name__ == "__main__":
    main()
