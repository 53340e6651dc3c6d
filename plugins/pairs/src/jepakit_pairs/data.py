"""Paired datasets and the domain loader: embedded synthetic clips or a folder of pairs.

A folder is read in one of two layouts:

* ``root/video/<id>.<ext>`` and ``root/audio/<id>.<ext>``: the two modalities of an item
  share their path below ``video/`` and ``audio/`` without the suffix (``video/a/001.mp4``
  pairs with ``audio/a/001.wav``);
* ``root/<id>.npz``: one archive per item holding ``video`` (frames) and ``wave`` (with
  an optional ``rate``; ``audio`` is accepted for ``wave``).

Labels (annotations such as a genre) are optional: ``root/labels.csv`` with a header
``id,<name>`` (``id`` the item's path without suffix, the label a string or number), or a
``genre``/``label`` entry of an item's ``.npz``. A video without its music, or music
without its video, is an error naming the first ones (``data.unpaired=skip`` leaves them
out, told in one line); a pair whose file cannot be read is skipped, both halves together,
and told. Pairs are never re-matched by position: an item holds both of its halves.

Items are ``{"video": (3, T, S, S), "audio": (n_mels, frames), "pair": i}``, plus the
label: ``genre`` in the pretraining set (-1 where no annotation is used: a share
``label_fraction`` of the pretraining items keep theirs, the semi-supervised setting),
``label`` in the benchmark task's splits.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from jepakit.contract import DataBundle, Task
from jepakit.kit import DataError, Failures, check_options, notice, read_each, stratified_split

from .io import (
    AUDIO_ARRAYS,
    AUDIO_FILES,
    VIDEO_ARRAYS,
    VIDEO_FILES,
    fit_video,
    fit_wave,
    log_mel,
    read_audio,
    read_video,
)
from .synthetic import GENRES, make_pairs

UNPAIRED = ("error", "skip")


class PairDataset(Dataset):
    """In-memory pairs: ``video`` (n, 3, T, S, S), ``audio`` (n, n_mels, frames) and, when
    given, one label per item (-1: unlabelled) under ``label_key``. Item ``i`` holds both
    halves of pair ``i`` and its index ``pair`` (so a shuffled, batched loader can be
    checked to keep them together)."""

    def __init__(self, video: Any, audio: Any, labels: Sequence[int] | None = None, ids: Sequence[str] | None = None,
                 label_key: str = "label"):
        self.video = torch.as_tensor(np.asarray(video, dtype=np.float32))
        self.audio = torch.as_tensor(np.asarray(audio, dtype=np.float32))
        if len(self.video) != len(self.audio):
            raise ValueError(f"{len(self.video)} videos but {len(self.audio)} music clips: pairs must come together")
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        if self.labels is not None and len(self.labels) != len(self.video):
            raise ValueError("labels and pairs differ in length")
        self.ids = [str(i) for i in range(len(self.video))] if ids is None else [str(i) for i in ids]
        self.label_key = label_key

    def __len__(self) -> int:
        return len(self.video)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item: dict[str, Any] = {"video": self.video[i], "audio": self.audio[i], "pair": int(i)}
        if self.labels is not None:
            item[self.label_key] = int(self.labels[i])
        return item

    def subset(self, idx: Sequence[int], label_key: str | None = None, labels: Sequence[int] | None = None) -> PairDataset:
        idx = np.asarray(idx, dtype=np.int64)
        lab = labels if labels is not None else (None if self.labels is None else self.labels[idx])
        return PairDataset(self.video[idx], self.audio[idx], lab, [self.ids[i] for i in idx], label_key or self.label_key)


def hide_labels(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """``labels`` with all but a random ``fraction`` of the labelled items set to -1,
    stratified by class (every class keeps at least one label when fraction > 0)."""
    out = np.full(len(labels), -1, dtype=np.int64)
    known = np.flatnonzero(labels >= 0)
    if fraction <= 0 or known.size == 0:
        return out
    if fraction >= 1:
        out[known] = labels[known]
        return out
    rng = np.random.default_rng(seed + 7)
    for k in np.unique(labels[known]):
        members = known[labels[known] == k]
        keep = rng.permutation(members)[: max(1, int(round(fraction * members.size)))]
        out[keep] = k
    return out


# -- folders ------------------------------------------------------------------------------


def _stems(root: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() in suffixes:
            stem = p.relative_to(root).with_suffix("").as_posix()
            if stem in out:
                raise DataError(f"{p}: {out[stem].name} has the same id {stem!r}; keep one file per id and modality")
            out[stem] = p
    return out


def _labels_csv(path: Path) -> dict[str, str]:
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read ({type(exc).__name__}); save it as UTF-8 CSV with a header id,<label>") from None
    if not rows or len(rows[0]) < 2 or rows[0][0].strip().lower() != "id":
        raise DataError(f"{path}: needs a header 'id,<label name>' (e.g. id,genre) and one row per item")
    out: dict[str, str] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) < 2 or not row[1].strip():
            raise DataError(f"{path}: line {n} has no label ({row}); give 'id,label' or leave the item out of the file")
        key = Path(row[0].strip()).with_suffix("").as_posix() if Path(row[0].strip()).suffix.lower() in VIDEO_FILES + AUDIO_FILES + VIDEO_ARRAYS else row[0].strip()
        if key in out and out[key] != row[1].strip():
            raise DataError(f"{path}: line {n} gives {key!r} a second label ({out[key]!r} and {row[1].strip()!r}); keep one")
        out[key] = row[1].strip()
    return out


def read_folder(root: str | Path, frames: int, size: int, rate: int, seconds: float, unpaired: str = "error") -> tuple[list[str], np.ndarray, np.ndarray, list[str | None]]:
    """``(ids, video (n, 3, T, S, S), waves (n, samples), raw labels)`` of a folder of pairs."""
    root = Path(root)
    check_options("data.unpaired", [unpaired], UNPAIRED)
    if not root.exists():
        raise DataError(f"{root}: no such folder; give a folder with video/ and audio/ sub-folders or one .npz per pair")
    if root.is_file():
        raise DataError(f"{root}: a file; give the folder that holds video/ and audio/ (or the .npz pairs)")
    table = _labels_csv(root / "labels.csv") if (root / "labels.csv").is_file() else {}
    failures = Failures()
    if (root / "video").is_dir() or (root / "audio").is_dir():
        if not ((root / "video").is_dir() and (root / "audio").is_dir()):
            have, lack = ("video", "audio") if (root / "video").is_dir() else ("audio", "video")
            raise DataError(f"{root}: has {have}/ but no {lack}/; put each item's {lack} under {root / lack} with the same name")
        videos = _stems(root / "video", VIDEO_ARRAYS + VIDEO_FILES)
        audios = _stems(root / "audio", AUDIO_FILES + AUDIO_ARRAYS)
        lonely_v = sorted(set(videos) - set(audios))
        lonely_a = sorted(set(audios) - set(videos))
        if lonely_v or lonely_a:
            parts = []
            if lonely_v:
                parts.append(f"{len(lonely_v)} video(s) without music (first {videos[lonely_v[0]]})")
            if lonely_a:
                parts.append(f"{len(lonely_a)} music file(s) without video (first {audios[lonely_a[0]]})")
            if unpaired == "error":
                raise DataError(f"{root}: {' and '.join(parts)}; add the missing halves under the same name, or set data.unpaired=skip")
            notice(f"{root}: left out {' and '.join(parts)} (data.unpaired=skip)")
        keys = sorted(set(videos) & set(audios))

        def read_pair(key: str) -> tuple[np.ndarray, np.ndarray, str | None]:
            v = fit_video(read_video(videos[key]), frames, size, videos[key])
            w, sr = read_audio(audios[key], rate)
            return v, fit_wave(w, sr, rate, seconds, audios[key]), table.get(key)

        source = lambda k: f"{videos[k]} + {audios[k]}"  # noqa: E731
    else:
        archives = _stems(root, (".npz",))
        keys = sorted(archives)

        def read_pair(key: str) -> tuple[np.ndarray, np.ndarray, str | None]:
            p = archives[key]
            try:
                z = np.load(p, allow_pickle=False)
            except Exception as exc:
                raise DataError(f"{p}: not a readable .npz archive ({type(exc).__name__}); save it with numpy.savez") from None
            with z:
                if "video" not in z or not ("wave" in z or "audio" in z):
                    raise DataError(f"{p}: a pair archive needs 'video' and 'wave' arrays (and optionally 'rate', 'genre'); it holds {sorted(z.files)}")
                v = fit_video(z["video"], frames, size, p)
                sr = int(z["rate"]) if "rate" in z else rate
                w = fit_wave(z["wave"] if "wave" in z else z["audio"], sr, rate, seconds, p)
                own = next((str(z[k]) for k in ("genre", "label") if k in z), None)
            return v, w, table.get(key, own)

        source = lambda k: str(archives[k])  # noqa: E731
    if not keys:
        raise DataError(f"{root}: no pairs found; give video/<id> + audio/<id> files ({', '.join(VIDEO_ARRAYS + VIDEO_FILES)} / "
                        f"{', '.join(AUDIO_FILES + AUDIO_ARRAYS)}) or one .npz per pair")
    ids, vids, waves, labels = [], [], [], []
    for key, (v, w, lab) in read_each(keys, read_pair, failures, source=source):
        ids.append(key)
        vids.append(v)
        waves.append(w)
        labels.append(lab)
    if not ids:
        raise failures.error(root, len(keys), "pairs")
    unknown = sorted(set(table) - set(keys))
    if unknown:
        notice(f"{root / 'labels.csv'}: {len(unknown)} id(s) name no pair (first {unknown[0]!r}); they are not used")
    return ids, np.stack(vids), np.stack(waves), labels


# -- the loader ---------------------------------------------------------------------------


def _normalise_mel(mel: np.ndarray, state: dict[str, Any] | None) -> tuple[np.ndarray, dict[str, Any]]:
    """Per-mel-bin standardisation with the pretraining items' mean and std (saved as the
    run's state, so evaluation and new data are scaled the same way)."""
    if state and "mel_mean" in state:
        mean = np.asarray(state["mel_mean"], dtype=np.float32)[:, None]
        std = np.asarray(state["mel_std"], dtype=np.float32)[:, None]
        if mean.shape[0] != mel.shape[1]:
            raise DataError(f"the saved run scaled {mean.shape[0]} mel bands, this data has {mel.shape[1]}; read it with the run's data.n_mels")
    else:
        mean = mel.mean(axis=(0, 2)).astype(np.float32)[:, None]
        std = (mel.std(axis=(0, 2)) + 1e-3).astype(np.float32)[:, None]
    fitted = {"mel_mean": mean[:, 0].tolist(), "mel_std": std[:, 0].tolist()}
    return ((mel - mean) / std).astype(np.float32), fitted


def load(
    path: str | None = None,
    frames: int = 8,
    size: int = 16,
    rate: int = 8000,
    seconds: float = 1.0,
    n_mels: int = 16,
    audio_frames: int = 32,
    label_fraction: float = 0.5,
    test_fraction: float = 0.25,
    unpaired: str = "error",
    seed: int = 0,
    n_pretrain: int = 1024,
    n_train: int = 256,
    n_test: int = 256,
    style: float = 0.12,
    noise: float = 0.08,
    genres: int = 4,
    state: dict[str, Any] | None = None,
) -> DataBundle:
    """The embedded paired clips (``path`` None) or a folder of pairs (module doc).

    ``label_fraction``: the share of pretraining items whose label the supervised
    contrastive objective sees (the rest are unlabelled: semi-supervised). On a folder,
    ``test_fraction`` of the pairs (stratified by label when there are labels) are held
    out of pretraining for the benchmark's retrieval and genre probes. ``n_pretrain``,
    ``n_train``, ``n_test``, ``style``, ``noise`` and ``genres`` size the embedded data only.
    """
    if not 0.0 <= float(label_fraction) <= 1.0:
        raise DataError(f"data.label_fraction must be in [0, 1], got {label_fraction}")
    if path is None:
        total = int(n_pretrain) + int(n_train) + int(n_test)
        raw = make_pairs(total, seed, frames, size, rate, seconds, style, noise, genres)
        video, waves, genre = raw["video"], raw["wave"], raw["genre"]
        ids = [f"clip{i:05d}" for i in range(total)]
        classes = list(GENRES[: int(genres)])
        pre = np.arange(int(n_pretrain))
        train = np.arange(int(n_pretrain), int(n_pretrain) + int(n_train))
        test = np.arange(int(n_pretrain) + int(n_train), total)
        describe = f"synthetic paired clips: {n_pretrain} pretraining, {n_train}/{n_test} probe pairs, {genres} genres"
    else:
        ids, video, waves, raw_labels = read_folder(path, frames, size, rate, seconds, unpaired)
        named = sorted({lab for lab in raw_labels if lab is not None})
        classes = named
        genre = np.asarray([-1 if lab is None else named.index(lab) for lab in raw_labels], dtype=np.int64)
        labelled = np.flatnonzero(genre >= 0)
        if labelled.size and len(named) >= 2:
            tr, te = stratified_split(genre[labelled], float(test_fraction), seed)
            train, test = labelled[tr], labelled[te]
            rest = np.flatnonzero(genre < 0)
            pre = np.sort(np.concatenate([train, rest]))
        else:
            train = test = np.zeros(0, dtype=np.int64)
            pre = np.arange(len(ids))
            if labelled.size:
                notice(f"{path}: every labelled pair has the same label {named[0]!r}; no genre task, pretraining only")
        describe = f"{path}: {len(ids)} pairs, {labelled.size} labelled ({len(named)} classes)"
    mel = log_mel(waves, rate, n_mels, audio_frames)
    mel, fitted = _normalise_mel(mel, state or None)
    all_items = PairDataset(video, mel, genre, ids)
    tasks: dict[str, Task] = {}
    if len(test):
        tasks["genre"] = Task(all_items.subset(train, "label"), all_items.subset(test, "label"), "multiclass", classes=classes,
                              description="the genre of a pair from its joint embedding; its test pairs are the retrieval gallery")
    pretrain = all_items.subset(pre, "genre", labels=hide_labels(genre[pre], float(label_fraction), seed))
    info = {"video_shape": [3, int(frames), int(size), int(size)], "audio_shape": [int(n_mels), int(audio_frames)],
            "num_genres": max(len(classes), 1)}
    return DataBundle(pretrain=pretrain, info=info, tasks=tasks, describe=describe, state=fitted)


__all__ = ["PairDataset", "hide_labels", "load", "read_folder"]
