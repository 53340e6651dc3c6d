"""The ``eeg`` domain's data: recordings -> stores -> pretraining windows and labelled tasks.

Recordings come from a file or folder (any format MNE opens), from a prepared store
(``jepakit prepare eeg SRC OUT``, memory-mapped, the fast path), or, without a path, from
the synthetic 10-20 generator. They are held in a store with the interface of
:class:`jepakit.prepared.PreparedStore` (``len``, ``length``, ``read``, ``meta``) so the
core's :class:`~jepakit.prepared.WindowDataset` cuts both into windows.

Tasks: ``abnormal`` (recording labels from the folder layout, a CSV or the generator;
windows of held-out subjects, averaged per recording) and, when ``events`` names
annotation descriptions or trigger codes, ``events`` (epochs starting at point events,
consecutive epochs inside long annotations: :func:`epochs_from_annotations`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jepakit import DataBundle, Task
from jepakit.kit import ConfigError, DataError, Failures, check_options, notice, rename_options, stratified_split
from jepakit.prepared import MemoryStore, PreparedStore, WindowDataset, write_prepared

from .io import (
    find_files,
    folder_label,
    iter_recordings,
    none_readable,
    read_label_csv,
    subject_of,
)
from .preprocess import Preprocess, Recording, preprocess_raw
from .presets import RENAMED
from .synthetic import synthetic_cohort

ABNORMAL_CLASSES = ("normal", "abnormal")


def recording_meta(rec: Recording, **extra: Any) -> dict[str, Any]:
    return {
        "path": rec.path, "subject": subject_of(rec.path), "valid": rec.valid.tolist(),
        "annotations": [list(a) for a in rec.annotations], "bads": rec.bads,
        "mapping": rec.meta.get("mapping", {}), "unused": rec.meta.get("unused", {}), **extra,
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

    label_of.table = table  # type: ignore[attr-defined]
    return label_of


def iter_prepared_records(src: str | os.PathLike, prep: Preprocess, labels: str | os.PathLike | None = None,
                          max_files: int | None = None, failures: Failures | None = None
                          ) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
    """``(array, meta)`` for every readable file under ``src`` (bad files noticed, skipped and
    added to ``failures``); no readable file at all is a DataError giving the files' reasons."""
    src = Path(src)
    files = find_files(src)
    if max_files is not None:
        files = files[: int(max_files)]
    if not files:
        raise DataError(f"{src}: no EEG file found")
    label_of = _label_source(src, labels)
    failures = Failures() if failures is None else failures
    n = 0
    for rec in iter_recordings(files, prep, failures):
        extra = label_of(Path(rec.path))
        meta = recording_meta(rec)
        meta.update(extra)
        n += 1
        yield rec.data, meta
    if n == 0:
        raise none_readable(src, len(files), failures)
    table = getattr(label_of, "table", None)
    if table is not None:
        found = {str(Path(f).resolve()) for f in files}
        absent = [p for p in table if p not in found]
        no_row = [str(f) for f in files if str(Path(f).resolve()) not in table]
        if absent:
            notice(f"{labels}: {len(absent)} row(s) name no file read under {src} ({_shown(absent, 5)})")
        if no_row:
            notice(f"{labels}: no label for {len(no_row)} file(s) under {src} ({_shown(no_row, 5)})")


def prepare(src: str | os.PathLike, out: str | os.PathLike, labels: str | os.PathLike | None = None,
            max_files: int | None = None, **preprocess: Any) -> Path:
    """Decode every EEG file under ``src`` once into a prepared store at ``out``.

    ``preprocess`` takes the :class:`~jepakit_eeg.preprocess.Preprocess` keys (channels, rate,
    highpass, lowpass, notch, normalize...); a run reading the store must use the same ones.
    Their old names (sfreq, l_freq, h_freq) still work, with a one-line notice.
    """
    prep = make_preprocess(**rename_options(preprocess, RENAMED, "prepare"))
    return write_prepared(out, iter_prepared_records(src, prep, labels, max_files), attrs={"eeg": prep.attrs()})


def make_preprocess(**kwargs: Any) -> Preprocess:
    """:class:`Preprocess` from config keys; a bad key or value is a one-line ConfigError."""
    check_options("eeg preprocessing", kwargs, Preprocess.__dataclass_fields__)
    try:
        return Preprocess(**kwargs)
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
               seed: int = 0, failures: Failures | None = None) -> Any:
    """A store of cleaned recordings: prepared (memory-mapped), read from files, or synthetic;
    files that could not be read are added to ``failures``."""
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
            # stores name these by their keys before the shared vocabulary; tell the option's name
            option = RENAMED.get(diff[0], diff[0])
            raise DataError(f"{path}: prepared with {option}={got.get(diff[0])!r}, this run asks {want[diff[0]]!r}; prepare again")
        if labels is not None:
            table = read_label_csv(labels)
            for r in store.records:
                r["meta"].update(table.get(str(Path(r["meta"]["path"]).resolve()), {}))
        return store
    arrays, metas = [], []
    for a, m in iter_prepared_records(path, prep, labels, max_files, failures):
        arrays.append(a)
        metas.append(m)
    return MemoryStore(zip(arrays, metas), {"eeg": prep.attrs()})


def _norm_attr(v: Any) -> Any:
    return [_norm_attr(x) for x in v] if isinstance(v, (list, tuple)) else (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)


def split_records(store: Any, test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, test) record indices: a split named in the metadata wins; the rest is split
    by subject (no subject on both sides), stratified by label."""
    train, test, free, subjects, labels = [], [], [], [], []
    for i in range(len(store)):
        m = store.meta(i)
        split = m.get("split")
        if split == "train":
            train.append(i)
        elif split == "test":
            test.append(i)
        else:
            free.append(i)
            subjects.append(m.get("subject", str(i)))
            labels.append(str(m.get("label")))  # classes in the order of their text
    if free:
        tr, te = stratified_split(labels, test_fraction, seed, groups=subjects)
        train += [free[j] for j in tr.tolist()]
        test += [free[j] for j in te.tolist()]
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
                            length: int, event_id: Sequence[str] | None = None,
                            dropped: list[tuple[str, float]] | None = None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Labelled epochs of ``length`` samples starting at annotations: ``(n, C, length)``,
    each epoch's description and its first sample.

    A point event (duration 0: a trigger, an EDF+ or BrainVision marker) or an annotation
    shorter than an epoch gives the epoch starting at its onset; a long annotation is cut
    into consecutive epochs inside it (as ``mne.events_from_annotations(chunk_duration=)``
    does). ``event_id`` keeps only these descriptions; an epoch that would run outside the
    recording is left out and appended to ``dropped`` as ``(description, onset s)``.
    """
    del channels  # the rows are the store's channels
    wanted = None if event_id is None else {str(e) for e in event_id}
    span = length / sfreq
    xs, labels, starts = [], [], []
    for a in annotations:
        onset, dur, desc = float(a[0]), float(a[1]), str(a[2])
        if wanted is not None and desc not in wanted:
            continue
        n = int(np.floor((dur + 1e-8) / span)) if dur > 0 else 0
        for o in [onset + k * span for k in range(n)] or [onset]:
            s = int(round(o * sfreq))
            if s < 0 or s + length > data.shape[1]:
                if dropped is not None:
                    dropped.append((desc, round(o, 3)))
                continue
            xs.append(np.asarray(data[:, s: s + length], dtype=np.float32))
            labels.append(desc)
            starts.append(s)
    if not xs:
        return np.zeros((0, data.shape[0], length), np.float32), [], np.zeros(0, dtype=int)
    return np.stack(xs), labels, np.asarray(starts, dtype=int)


def event_names(events: Any) -> list[str]:
    """``data.events`` as annotation descriptions: YAML ints (``[1, 2]``, trigger codes) in
    their string form, a string split at commas."""
    items = [e for e in str(events).split(",")] if isinstance(events, str) else list(events)
    out = []
    for e in items:
        if isinstance(e, float) and e.is_integer():
            e = int(e)
        name = str(e).strip()
        if name and name not in out:
            out.append(name)
    return out


def _found_descriptions(store: Any, records: Sequence[int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in records:
        for a in store.meta(r).get("annotations", []):
            counts[str(a[2])] = counts.get(str(a[2]), 0) + 1
    return counts


def _shown(names: Sequence[str], limit: int = 12) -> str:
    names = list(names)
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _event_task(store: Any, train: list[int], test: list[int], channels: list[str], sfreq: float, length: int,
                events: Sequence[str], source: str = "data") -> Task | None:
    found = _found_descriptions(store, sorted(set(train) | set(test)))
    matched = [e for e in events if e in found]
    if not matched:
        shown = _shown([f"{d!r} ({n})" for d, n in sorted(found.items(), key=lambda kv: -kv[1])], 20) or "none"
        raise DataError(f"{source}: data.events {', '.join(events)} match no annotation or trigger in any file; "
                        f"the files hold these event descriptions (count): {shown}")
    if len(matched) < len(events):
        notice(f"eeg: data.events {', '.join(e for e in events if e not in found)} found in no file "
               f"(found: {_shown(sorted(found))})")
    dropped: list[tuple[str, float]] = []

    def cut(records: list[int]) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        arrays, metas = [], []
        for r in records:
            m = store.meta(r)
            x, labels, starts = epochs_from_annotations(store.read(r), sfreq, channels, m.get("annotations", []), length,
                                                        events, dropped)
            for e, lab, s in zip(x, labels, starts):
                arrays.append(e)
                metas.append({"label": lab, "valid": m["valid"], "subject": m.get("subject"), "source": r, "start": int(s)})
        return arrays, metas

    tr_a, tr_m = cut(train)
    te_a, te_m = cut(test)
    if dropped:
        notice(f"eeg: {len(dropped)} event(s) too close to a recording's start or end for an epoch of {length / sfreq:g} s "
               f"were left out (e.g. {dropped[0][0]!r} at {dropped[0][1]:g} s)")
    in_train, in_test = {m["label"] for m in tr_m}, {m["label"] for m in te_m}
    present = sorted(in_train & in_test)
    one_side = [e for e in matched if e not in present]
    if len(present) < 2:
        notice(f"eeg: no 'events' task: it needs epochs of at least 2 of data.events in both the training and the "
               f"held-out recordings; training has {_shown([e for e in events if e in in_train]) or 'none'}, "
               f"held-out has {_shown([e for e in events if e in in_test]) or 'none'} (more recordings or subjects, "
               f"or a split column in a labels CSV, give both sides)")
        return None
    if one_side:
        notice(f"eeg: events {', '.join(one_side)} left out of the 'events' task: they occur only in the "
               f"{'training' if all(e in in_train for e in one_side) else 'held-out'} recordings")
    classes = [e for e in events if e in present]
    for m in tr_m + te_m:
        m["label"] = classes.index(m["label"]) if m["label"] in classes else -1

    def dataset(arrays, metas) -> WindowDataset:
        keep = [i for i, m in enumerate(metas) if m["label"] >= 0]
        store = MemoryStore([(arrays[i], metas[i]) for i in keep], {"eeg": {"sfreq": sfreq, "channels": channels}})
        return WindowDataset(store, length, length, fields=("valid", "label"))

    return Task(dataset(tr_a, tr_m), dataset(te_a, te_m), "multiclass", classes,
                description=f"epochs of {length} samples at annotations {', '.join(classes)} (held-out subjects)")


def report_channels(store: Any, records: Sequence[int], channels: Sequence[str]) -> str:
    """How the recordings fill the model's channels, for the bundle's description; emits
    one-line notices for partial coverage, electrodes mapped by data.rename or by
    position, and EEG channels of the files left unused."""
    n_rec, n_ch = len(records), len(channels)
    metas = [store.meta(i) for i in records]
    missing = {c: sum(1 for m in metas if (m.get("bads") or {}).get(c) == "missing") for c in channels}
    covered = [c for c in channels if missing[c] < n_rec]
    never = [c for c in channels if missing[c] == n_rec]
    some = [c for c in channels if 0 < missing[c] < n_rec]
    text = f"{len(covered)} of {n_ch} model channels covered"
    if some:
        text += f" ({n_ch - len(never) - len(some)} in every recording)"
    if never:
        text += f"; zero-filled: {_shown(never, 19)}"
    if some:
        text += f"; zero-filled in some recordings: {_shown([f'{c} ({missing[c]} of {n_rec})' for c in some], 19)}"
    if never or some:
        notice(f"eeg: {text}; set data.channels to the electrodes the files hold, or map other labels with "
               "data.rename / data.montage")
    renamed: dict[str, int] = {}
    placed: list[tuple[str, list[str]]] = []
    worst = 0.0
    for m in metas:
        pairs = []
        for std, (label, how) in (m.get("mapping") or {}).items():
            if how == "data.rename":
                renamed[f"{label} as {std}"] = renamed.get(f"{label} as {std}", 0) + 1
            elif str(how).startswith("position"):
                pairs.append(f"{label} -> {std}")
                worst = max(worst, float(str(how).split("(")[1].split()[0]))
        if pairs:
            placed.append((Path(str(m.get("path", "?"))).name, pairs))
    if renamed:
        notice(f"eeg: data.rename used {_shown([f'{k} ({n} file(s))' for k, n in renamed.items()], 8)}")
    if placed:
        shown = "; ".join(f"{name}: {_shown(pairs, 4)}" for name, pairs in placed[:3]) + ("; ..." if len(placed) > 3 else "")
        notice(f"eeg: in {len(placed)} of {n_rec} recording(s) electrodes without a 10-20 name stand in for the nearest "
               f"model electrode by position (at most {worst:.0f} deg away): {shown}")
    unused: dict[str, set[str]] = {}
    files: set[int] = set()
    for k, m in enumerate(metas):
        for label, why in (m.get("unused") or {}).items():
            unused.setdefault(why, set()).add(label)
            files.add(k)
    if unused:
        parts = "; ".join(f"{_shown(sorted(labels), 8)} ({why})" for why, labels in sorted(unused.items()))
        notice(f"eeg: EEG channels not used in {len(files)} of {n_rec} recording(s): {parts}")
    return text


def load(
    path: str | os.PathLike | None = None,
    channels: str | Sequence[str] = "1020",
    rate: float = 128.0,
    highpass: float | None = 0.5,
    lowpass: float | None = 45.0,
    notch: float | None = None,
    normalize: str = "recording",
    crop: float = 4.0,
    stride: float | None = None,
    labels: str | None = None,
    events: Sequence[str] | str | None = None,
    rename: dict[str, str] | None = None,
    montage: str | None = None,
    test_fraction: float = 0.3,
    split_seed: int = 0,
    max_files: int | None = None,
    subjects: int = 40,
    recordings: int = 1,
    seconds: float = 60.0,
    seed: int = 0,
) -> DataBundle:
    """Load EEG for the ``eeg`` domain (``path=None``: the synthetic 10-20 cohort).

    ``crop``/``stride`` in seconds cut recordings into clips (stride defaults to the
    crop); ``rate`` (Hz), ``highpass``/``lowpass`` (Hz), ``notch`` and ``normalize`` are
    :class:`~jepakit_eeg.preprocess.Preprocess`'s; ``labels`` is a CSV of file labels; ``events`` lists annotation descriptions
    (trigger codes as ints or strings) to classify as an extra task; ``rename`` maps file
    labels to electrode names and ``montage`` (MNE standard montage name or file) gives
    positions to the files' labels (see :class:`~jepakit_eeg.preprocess.Preprocess`);
    ``subjects``/``recordings``/``seconds``/``seed`` size the synthetic cohort.
    """
    if crop <= 0 or (stride is not None and stride <= 0):
        raise DataError(f"crop and stride must be > 0 seconds, got {crop} and {stride}")
    prep = make_preprocess(channels=channels, rate=rate, highpass=highpass, lowpass=lowpass, notch=notch, normalize=normalize,
                           min_seconds=crop, rename=rename, montage=montage)
    events = event_names(events) if events is not None else None
    length = int(round(crop * rate))
    hop = int(round((stride or crop) * rate))
    skipped = Failures()
    store = open_store(path, prep, labels, max_files, subjects, recordings, seconds, seed, failures=skipped)
    short = [i for i in range(len(store)) if store.length(i) < length]
    if short:
        # only a prepared store can still hold records shorter than a clip (prepared before)
        for i in short:
            notice(f"skipped {store.meta(i).get('path', i)}: shorter than one clip of {crop:g} s")
    usable = [i for i in range(len(store)) if store.length(i) >= length]
    if not usable:
        raise DataError(f"{path or 'synthetic data'}: no recording is as long as one clip of {crop:g} s")
    train, test = split_records(store, test_fraction, split_seed)
    train = [i for i in train if i in set(usable)]
    test = [i for i in test if i in set(usable)]
    pre_records = train or usable
    pretrain = WindowDataset(store, length, hop, records=pre_records, fields=("valid",))

    tasks: dict[str, Task] = {}
    labelled = [i for i in usable if store.meta(i).get("label") is not None]
    classes = _classes([str(store.meta(i)["label"]) for i in labelled]) if labelled else []
    if classes == list(ABNORMAL_CLASSES) and any(str(store.meta(i)["label"]) in ("0", "1") for i in labelled):
        notice("eeg: recording labels 0 and 1 are read as normal and abnormal (task 'abnormal')")
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
        task = _event_task(store, train, test, prep.channel_names, rate, length, events, str(path or "synthetic data"))
        if task is not None:
            tasks["events"] = task

    subjects_n = len({store.meta(i).get("subject") for i in usable})
    n_labels = {c: sum(1 for i in labelled if store.meta(i)["label"] == k) for k, c in enumerate(classes)}
    describe = (
        f"{len(usable)} recordings of {subjects_n} subjects{' (' + ', '.join(f'{v} {k}' for k, v in n_labels.items()) + ')' if n_labels else ''}, "
        f"{len(prep.channel_names)} channels at {rate:g} Hz, {len(pretrain)} pretraining clips of {crop:g} s; "
        f"{report_channels(store, usable, prep.channel_names)}"
        + (f"; skipped {len(skipped)} bad file(s) ({skipped.by_reason()})" if len(skipped) else "")
    )
    info = {"in_chans": len(prep.channel_names), "length": length, "sfreq": float(rate), "channels": list(prep.channel_names)}
    return DataBundle(pretrain=pretrain, info=info, tasks=tasks, describe=describe)
