"""The ``eeg`` domain's data: recordings -> stores -> pretraining windows and labelled tasks.

Recordings come from a file or folder (any format MNE opens), from a prepared store
(``jepakit prepare eeg SRC OUT``, memory-mapped, the fast path), or, without a path, from
the synthetic 10-20 generator. They are held in a store with the interface of
:class:`jepakit.prepared.PreparedStore` (``len``, ``length``, ``read``, ``meta``) so the
core's :class:`~jepakit.prepared.WindowDataset` cuts both into windows.

Tasks: ``abnormal`` (recording labels from the folder layout, a CSV or the generator;
windows of held-out subjects, averaged per recording) and, when ``events`` names
annotation descriptions, ``events`` (epochs cut at those annotations with
:func:`mne.events_from_annotations` and :class:`mne.Epochs`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import mne
import numpy as np

from jepakit import DataBundle, Task
from jepakit.errors import ConfigError, DataError
from jepakit.prepared import MemoryStore, PreparedStore, WindowDataset, write_prepared

from .io import (
    Preprocess,
    Recording,
    find_files,
    folder_label,
    iter_recordings,
    preprocess_raw,
    read_label_csv,
    subject_of,
)
from .synthetic import synthetic_cohort

ABNORMAL_CLASSES = ("normal", "abnormal")


def recording_meta(rec: Recording, **extra: Any) -> dict[str, Any]:
    return {
        "path": rec.path, "subject": subject_of(rec.path), "valid": rec.valid.tolist(),
        "annotations": [list(a) for a in rec.annotations], "bads": rec.bads, **extra,
    }


def _label_source(src: Path, labels: str | os.PathLike | None) -> Any:
    table = read_label_csv(labels) if labels is not None else None

    def label_of(path: Path) -> dict[str, Any]:
        if table is not None:
            return dict(table.get(str(path.resolve()), {}))
        if src.is_dir():
            label, split = folder_label(path, src)
            return {k: v for k, v in (("label", label), ("split", split)) if v is not None}
        return {}

    return label_of


def iter_prepared_records(src: str | os.PathLike, prep: Preprocess, labels: str | os.PathLike | None = None,
                          max_files: int | None = None) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
    """``(array, meta)`` for every readable file under ``src`` (bad files warned and skipped)."""
    src = Path(src)
    files = find_files(src)
    if max_files is not None:
        files = files[: int(max_files)]
    if not files:
        raise DataError(f"{src}: no EEG file found")
    label_of = _label_source(src, labels)
    for rec in iter_recordings(files, prep):
        extra = label_of(Path(rec.path))
        meta = recording_meta(rec)
        meta.update(extra)
        yield rec.data, meta


def prepare(src: str | os.PathLike, out: str | os.PathLike, labels: str | os.PathLike | None = None,
            max_files: int | None = None, **preprocess: Any) -> Path:
    """Decode every EEG file under ``src`` once into a prepared store at ``out``.

    ``preprocess`` takes the :class:`~jepakit_eeg.io.Preprocess` keys (channels, sfreq,
    l_freq, h_freq, notch, normalize...); a run reading the store must use the same ones.
    """
    prep = make_preprocess(**preprocess)
    return write_prepared(out, iter_prepared_records(src, prep, labels, max_files), attrs={"eeg": prep.attrs()})


def make_preprocess(**kwargs: Any) -> Preprocess:
    """:class:`Preprocess` from config keys; a bad key or value is a one-line ConfigError."""
    try:
        return Preprocess(**kwargs)
    except TypeError as exc:
        valid = ", ".join(f for f in Preprocess.__dataclass_fields__)
        bad = [k for k in kwargs if k not in Preprocess.__dataclass_fields__]
        raise ConfigError(f"eeg: no preprocessing option {bad[0] if bad else exc!r}; valid: {valid}") from None
    except ValueError as exc:
        raise ConfigError(f"eeg data: {exc}") from None


def _synthetic_store(prep: Preprocess, subjects: int, recordings: int, seconds: float, seed: int) -> MemoryStore:
    arrays, metas = [], []
    for k, (sub, raw) in enumerate(synthetic_cohort(subjects, recordings, seconds, 256.0, seed=seed)):
        rec = preprocess_raw(raw, prep, f"synthetic/{sub.name}_r{k}")
        arrays.append(rec.data)
        metas.append(recording_meta(rec, subject=sub.name, label="abnormal" if sub.abnormal else "normal",
                                    severity=sub.severity))
    return MemoryStore(zip(arrays, metas), {"eeg": prep.attrs()})


def _is_prepared(path: Path) -> bool:
    return path.is_dir() and (path / "index.json").exists()


def open_store(path: str | os.PathLike | None, prep: Preprocess, labels: str | os.PathLike | None = None,
               max_files: int | None = None, subjects: int = 40, recordings: int = 1, seconds: float = 60.0,
               seed: int = 0) -> Any:
    """A store of cleaned recordings: prepared (memory-mapped), read from files, or synthetic."""
    if path is None:
        return _synthetic_store(prep, subjects, recordings, seconds, seed)
    path = Path(path)
    if _is_prepared(path):
        store = PreparedStore(path)
        got = store.attrs.get("eeg")
        want = prep.attrs()
        if got is None:
            raise DataError(f"{path}: prepared store was not written by the eeg domain")
        diff = [k for k in want if _norm_attr(got.get(k)) != _norm_attr(want[k])]
        if diff:
            raise DataError(f"{path}: prepared with {diff[0]}={got.get(diff[0])!r}, this run asks {want[diff[0]]!r}; prepare again")
        if labels is not None:
            table = read_label_csv(labels)
            for r in store.records:
                r["meta"].update(table.get(str(Path(r["meta"]["path"]).resolve()), {}))
        return store
    arrays, metas = [], []
    for a, m in iter_prepared_records(path, prep, labels, max_files):
        arrays.append(a)
        metas.append(m)
    if not arrays:
        raise DataError(f"{path}: none of the EEG files could be read")
    return MemoryStore(zip(arrays, metas), {"eeg": prep.attrs()})


def _norm_attr(v: Any) -> Any:
    return [_norm_attr(x) for x in v] if isinstance(v, (list, tuple)) else (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)


def split_records(store: Any, test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, test) record indices: a split named in the metadata wins; the rest is split
    by subject (no subject on both sides), stratified by label."""
    train, test, free = [], [], {}
    for i in range(len(store)):
        m = store.meta(i)
        split = m.get("split")
        if split == "train":
            train.append(i)
        elif split == "test":
            test.append(i)
        else:
            free.setdefault(m.get("subject", str(i)), []).append(i)
    rng = np.random.default_rng(seed)
    by_label: dict[Any, list[str]] = {}
    for subj, recs in free.items():
        by_label.setdefault(store.meta(recs[0]).get("label"), []).append(subj)
    for _, subjects in sorted(by_label.items(), key=lambda kv: str(kv[0])):
        subjects = sorted(subjects)
        order = rng.permutation(len(subjects))
        n_test = int(round(test_fraction * len(subjects)))
        if len(subjects) >= 2:
            n_test = min(max(n_test, 1), len(subjects) - 1)
        for rank, j in enumerate(order):
            (test if rank < n_test else train).extend(free[subjects[j]])
    return sorted(train), sorted(test)


def _classes(values: Sequence[str]) -> list[str]:
    uniq = sorted(set(values))
    if set(uniq) <= set(ABNORMAL_CLASSES) | {"0", "1"}:
        return list(ABNORMAL_CLASSES)
    return uniq


def _label_index(value: str, classes: list[str]) -> int:
    if classes == list(ABNORMAL_CLASSES) and value in ("0", "1"):
        return int(value)
    return classes.index(value)


def epochs_from_annotations(data: np.ndarray, sfreq: float, channels: Sequence[str], annotations: Sequence[Sequence[Any]],
                            length: int, event_id: Sequence[str] | None = None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Labelled epochs of ``length`` samples starting at annotations (long annotations are
    cut into consecutive epochs): ``(n, C, length)``, each epoch's description and its
    first sample."""
    raw = mne.io.RawArray(data, mne.create_info(list(channels), sfreq, "eeg"), verbose="error")
    empty = (np.zeros((0, len(channels), length), np.float32), [], np.zeros(0, dtype=int))
    if not annotations:
        return empty
    onset, dur, desc = zip(*[(float(a[0]), float(a[1]), str(a[2])) for a in annotations])
    raw.set_annotations(mne.Annotations(onset, dur, desc))
    wanted = sorted(set(desc)) if event_id is None else [e for e in event_id if e in set(desc)]
    if not wanted:
        return empty
    ids = {name: k + 1 for k, name in enumerate(wanted)}
    events, _ = mne.events_from_annotations(raw, event_id=ids, chunk_duration=length / sfreq, verbose="error")
    if len(events) == 0:
        return empty
    epochs = mne.Epochs(raw, events, ids, tmin=0.0, tmax=(length - 1) / sfreq, baseline=None, preload=True,
                        reject_by_annotation=False, on_missing="ignore", verbose="error")
    names = {v: k for k, v in ids.items()}
    return epochs.get_data(copy=False).astype(np.float32), [names[e] for e in epochs.events[:, 2]], epochs.events[:, 0].copy()


def _event_task(store: Any, train: list[int], test: list[int], channels: list[str], sfreq: float, length: int,
                events: Sequence[str]) -> Task | None:
    def cut(records: list[int]) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        arrays, metas = [], []
        for r in records:
            m = store.meta(r)
            x, labels, starts = epochs_from_annotations(store.read(r), sfreq, channels, m.get("annotations", []), length, events)
            for e, lab, s in zip(x, labels, starts):
                arrays.append(e)
                metas.append({"label": lab, "valid": m["valid"], "subject": m.get("subject"), "source": r, "start": int(s)})
        return arrays, metas

    tr_a, tr_m = cut(train)
    te_a, te_m = cut(test)
    present = sorted({m["label"] for m in tr_m} & {m["label"] for m in te_m})
    if len(present) < 2:
        return None
    classes = [e for e in events if e in present]
    for m in tr_m + te_m:
        m["label"] = classes.index(m["label"]) if m["label"] in classes else -1

    def dataset(arrays, metas) -> WindowDataset:
        keep = [i for i, m in enumerate(metas) if m["label"] >= 0]
        store = MemoryStore([(arrays[i], metas[i]) for i in keep], {"eeg": {"sfreq": sfreq, "channels": channels}})
        return WindowDataset(store, length, length, fields=("valid", "label"))

    return Task(dataset(tr_a, tr_m), dataset(te_a, te_m), "multiclass", classes,
                description=f"epochs of {length} samples at annotations {', '.join(classes)} (held-out subjects)")


def load(
    path: str | os.PathLike | None = None,
    channels: str | Sequence[str] = "1020",
    sfreq: float = 128.0,
    l_freq: float | None = 0.5,
    h_freq: float | None = 45.0,
    notch: float | None = None,
    normalize: str = "recording",
    window: float = 4.0,
    stride: float | None = None,
    labels: str | None = None,
    events: Sequence[str] | None = None,
    test_fraction: float = 0.3,
    split_seed: int = 0,
    max_files: int | None = None,
    subjects: int = 40,
    recordings: int = 1,
    seconds: float = 60.0,
    seed: int = 0,
) -> DataBundle:
    """Load EEG for the ``eeg`` domain (``path=None``: the synthetic 10-20 cohort).

    ``window``/``stride`` in seconds cut recordings into clips (stride defaults to the
    window); ``labels`` is a CSV of file labels; ``events`` lists annotation descriptions
    to classify as an extra task; ``subjects``/``recordings``/``seconds``/``seed`` size
    the synthetic cohort.
    """
    if window <= 0 or (stride is not None and stride <= 0):
        raise DataError(f"window and stride must be > 0 seconds, got {window} and {stride}")
    prep = make_preprocess(channels=channels, sfreq=sfreq, l_freq=l_freq, h_freq=h_freq, notch=notch, normalize=normalize,
                           min_seconds=window)
    length = int(round(window * sfreq))
    hop = int(round((stride or window) * sfreq))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = open_store(path, prep, labels, max_files, subjects, recordings, seconds, seed)
    skipped = [str(w.message) for w in caught if str(w.message).startswith("skipped")]
    for msg in skipped:
        warnings.warn(msg, stacklevel=2)
    short = [i for i in range(len(store)) if store.length(i) < length]
    if short:
        # only a prepared store can still hold records shorter than a clip (prepared before)
        for i in short:
            warnings.warn(f"skipped {store.meta(i).get('path', i)}: shorter than one clip of {window:g} s", stacklevel=2)
    usable = [i for i in range(len(store)) if store.length(i) >= length]
    if not usable:
        raise DataError(f"{path or 'synthetic data'}: no recording is as long as one clip of {window:g} s")
    train, test = split_records(store, test_fraction, split_seed)
    train = [i for i in train if i in set(usable)]
    test = [i for i in test if i in set(usable)]
    pre_records = train or usable
    pretrain = WindowDataset(store, length, hop, records=pre_records, fields=("valid",))

    tasks: dict[str, Task] = {}
    labelled = [i for i in usable if store.meta(i).get("label") is not None]
    classes = _classes([str(store.meta(i)["label"]) for i in labelled]) if labelled else []
    if labelled:
        for i in labelled:
            store.meta(i)["label"] = _label_index(str(store.meta(i)["label"]), classes)
        tr = [i for i in train if i in set(labelled)]
        te = [i for i in test if i in set(labelled)]
        tr_classes = {store.meta(i)["label"] for i in tr}
        if tr and te and len(tr_classes) >= 2:
            tasks["abnormal" if classes == list(ABNORMAL_CLASSES) else "label"] = Task(
                WindowDataset(store, length, hop, records=tr, fields=("valid", "label")),
                WindowDataset(store, length, hop, records=te, fields=("valid", "label")),
                "multiclass", classes, group_key="record",
                description="recording label from windows of held-out subjects (window embeddings averaged per recording)",
            )
    if events:
        task = _event_task(store, train, test, prep.channel_names, sfreq, length, list(events))
        if task is not None:
            tasks["events"] = task

    subjects_n = len({store.meta(i).get("subject") for i in usable})
    n_labels = {c: sum(1 for i in labelled if store.meta(i)["label"] == k) for k, c in enumerate(classes)}
    describe = (
        f"{len(usable)} recordings of {subjects_n} subjects{' (' + ', '.join(f'{v} {k}' for k, v in n_labels.items()) + ')' if n_labels else ''}, "
        f"{len(prep.channel_names)} channels at {sfreq:g} Hz, {len(pretrain)} pretraining clips of {window:g} s"
        + (f"; skipped {len(skipped)} bad file(s)" if skipped else "")
    )
    info = {"in_chans": len(prep.channel_names), "length": length, "sfreq": float(sfreq), "channels": list(prep.channel_names)}
    return DataBundle(pretrain=pretrain, info=info, tasks=tasks, describe=describe)
