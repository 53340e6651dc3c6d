"""Signal conditioning: a raw recording cleaned into one fixed channel layout.

Pipeline per recording (:func:`preprocess_raw`; :func:`jepakit_eeg.io.read_recording`
reads a file and runs it): trigger-channel events join the annotations -> map EEG
channels onto the wanted electrodes (``rename``, 10-20/10-10 names, then positions from
the file or ``montage``: :func:`map_channels`) -> non-finite channels zeroed and marked
bad -> notch -> resample -> band-pass -> flat / noisy channel detection -> scaling. The
result is a :class:`Recording`: a ``(C, T)`` float32 array in the wanted channel order, a
per-channel ``valid`` flag (missing, flat, noisy, NaN or marked bad in the file) and the
file's annotations, ready to be cut into windows or labelled epochs. :class:`Preprocess`
holds the settings (every field a ``data:`` key).

A recording that cannot be used raises :class:`jepakit.errors.DataError` with one line
naming its file (:func:`fail`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mne
import numpy as np

from jepakit.kit import DataError, check, notice

from .channels import (
    MAX_ANGLE_DEG,
    bipolar_parts,
    map_by_position,
    match_channels,
    montage_from,
    montage_positions,
    normalize_name,
    resolve_channels,
)

NORMALIZE = ("recording", "channel", "fixed")


@dataclass
class Preprocess:
    """How raw recordings are cleaned; every field is a ``data:`` config key.

    ``rate``: target rate in Hz (a file recorded slower is rejected, never upsampled);
    ``highpass``/``lowpass``: band-pass edges in Hz (None = no edge); ``notch``: mains frequency
    (its harmonics below Nyquist are removed too); ``normalize``: ``recording`` divides
    by the median channel SD of the recording (keeps relative amplitudes between
    electrodes), ``channel`` z-scores each electrode, ``fixed`` divides the µV values by
    ``scale_uv``; ``flat_uv``: an electrode whose SD is below this is flat; ``noisy_ratio``:
    an electrode whose SD exceeds this multiple of the median is noisy; ``min_seconds``:
    the shortest recording accepted (one clip); ``rename``: ``{file label: electrode}``
    for labels that are no 10-20/10-10 name (``{"EEG Fpz-Cz": "Fpz"}`` uses a bipolar
    derivation as that electrode); ``montage``: an MNE standard montage name (e.g.
    ``GSN-HydroCel-128``) or montage file giving positions to the files' labels. Electrodes
    with positions (from the file or ``montage``) but no 10-20 name stand in for the
    nearest model electrode (see :func:`~jepakit_eeg.channels.map_by_position`).
    """

    channels: str | Sequence[str] = "1020"
    rate: float = 128.0
    highpass: float | None = 0.5
    lowpass: float | None = 45.0
    notch: float | None = None
    normalize: str = "recording"
    scale_uv: float = 50.0
    flat_uv: float = 0.5
    noisy_ratio: float = 10.0
    min_seconds: float = 0.0
    rename: Mapping[str, str] | None = None
    montage: str | None = None

    def __post_init__(self) -> None:
        self.channel_names = resolve_channels(self.channels)
        self.rename_map = self._rename()
        self.montage_obj = montage_from(str(self.montage)) if self.montage else None
        check(self.rate > 0, f"rate must be > 0, got {self.rate}")
        nyq = self.rate / 2
        check(self.lowpass is None or 0 < self.lowpass < nyq, f"lowpass must be in (0, {nyq}) for rate {self.rate}, got {self.lowpass}")
        check(self.highpass is None or 0 < self.highpass < (self.lowpass or nyq), f"highpass must be in (0, lowpass), got {self.highpass}")
        check(self.normalize in NORMALIZE, f"normalize must be one of {NORMALIZE}, got {self.normalize!r}")
        check(self.scale_uv > 0 and self.flat_uv >= 0 and self.noisy_ratio > 1, "scale_uv > 0, flat_uv >= 0 and noisy_ratio > 1 required")

    def _rename(self) -> dict[str, str]:
        if not self.rename:
            return {}
        check(isinstance(self.rename, Mapping), f"rename must map file labels to electrode names, got {self.rename!r}")
        out: dict[str, str] = {}
        for label, target in self.rename.items():
            std = normalize_name(str(target))
            check(std is not None, f"rename maps {label!r} to {target!r}, which is not a 10-20/10-10 electrode name")
            check(std in self.channel_names, f"rename maps {label!r} to {std}, which is not one of data.channels ({', '.join(self.channel_names)})")
            check(std not in out.values(), f"rename maps two labels to {std}")
            out[str(label)] = std
        return out

    def attrs(self) -> dict[str, Any]:
        """What must match between a prepared store and a run that reads it (under the
        keys stores have been written with: ``sfreq``, ``l_freq``, ``h_freq``)."""
        return {
            "channels": self.channel_names, "sfreq": self.rate, "l_freq": self.highpass, "h_freq": self.lowpass,
            "notch": self.notch, "normalize": self.normalize, "scale_uv": self.scale_uv,
            "rename": self.rename_map or None, "montage": self.montage,
        }


@dataclass
class Recording:
    """A cleaned recording in the model's channel layout."""

    data: np.ndarray  # (C, T) float32, invalid channels are zero
    sfreq: float
    channels: list[str]
    valid: np.ndarray  # (C,) bool
    path: str
    annotations: list[tuple[float, float, str]] = field(default_factory=list)  # (onset s, duration s, description)
    bads: dict[str, str] = field(default_factory=dict)  # channel -> why it is invalid
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.data.shape[1] / self.sfreq


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def fail(path: Any, message: str, reason: str | None = None) -> DataError:
    """A DataError ``"{path}: {message}"`` whose ``reason`` (the message without its
    file-specific details) groups it with other files' failures."""
    err = DataError(f"{path}: {message}")
    err.reason = reason or re.sub(r"\s*\(.*\)", "", message).strip()  # type: ignore[attr-defined]
    return err


def _relative_annotations(raw: mne.io.BaseRaw) -> list[tuple[float, float, str]]:
    # Annotations with an orig_time count from the measurement date, and the first sample
    # sits at raw.first_time after it; without orig_time they count from the first sample.
    ann = raw.annotations
    shift = raw.first_time if ann.orig_time is not None else 0.0
    return [(float(o) - shift, float(d), str(s)) for o, d, s in zip(ann.onset, ann.duration, ann.description)]


def _events_to_annotations(raw: mne.io.BaseRaw, path: str = "<memory>") -> None:
    # Recorders that write a trigger channel (FIF STI 014, BDF Status) next to or instead
    # of annotations: add its events to the annotations so one labelling path serves both.
    stim = mne.pick_types(raw.info, stim=True)
    if not len(stim):
        return
    try:
        # initial_event: a trigger already high at the first sample is an event too
        events = mne.find_events(raw, shortest_event=1, initial_event=True, verbose="error")
    except Exception as exc:
        names = ", ".join(raw.ch_names[i] for i in stim)
        notice(f"{path}: trigger channel {names} not read as events ({_first_line(exc)})")
        return
    if not len(events):
        return
    # find_events counts samples from the start of the acquisition (first_samp included).
    # Annotations with an orig_time count seconds from the measurement date, which lies
    # first_samp samples before the first sample: the sample index is then the onset as is;
    # without orig_time they count from the first sample.
    sfreq = float(raw.info["sfreq"])
    orig = raw.annotations.orig_time
    onsets = (events[:, 0] - (0 if orig is not None else raw.first_samp)) / sfreq
    have = {(int(round(o * sfreq)), str(d)) for o, d in zip(raw.annotations.onset, raw.annotations.description)}
    new = [(o, str(c)) for o, c in zip(onsets, events[:, 2]) if (int(round(o * sfreq)), str(c)) not in have]
    if new:
        onset, desc = zip(*new)
        raw.set_annotations(raw.annotations + mne.Annotations(list(onset), [0.0] * len(new), list(desc), orig_time=orig))


def _renamed(names: Sequence[str], rename: Mapping[str, str]) -> dict[str, str]:
    # exact labels first, then case- and space-blind ("eeg fpz-cz" for "EEG Fpz-Cz")
    if not rename:
        return {}
    loose = {re.sub(r"\s+", "", k).lower(): v for k, v in rename.items()}
    out = {}
    for n in names:
        std = rename.get(n) or loose.get(re.sub(r"\s+", "", n).lower())
        if std is not None and std not in out.values():
            out[n] = std
    return out


def _file_positions(raw: mne.io.BaseRaw, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Digitised positions (head coordinates) the file carries for ``names``."""
    idx = {n: i for i, n in enumerate(raw.ch_names)}
    out = {}
    for n in names:
        p = np.asarray(raw.info["chs"][idx[n]]["loc"][:3], dtype=np.float64)
        if np.isfinite(p).all() and np.linalg.norm(p) > 1e-6:
            out[n] = p
    return out


def map_channels(raw: mne.io.BaseRaw, candidates: Sequence[str], prep: Preprocess
                 ) -> tuple[dict[str, str], dict[str, tuple[str, str]], dict[str, str]]:
    """Which file channel feeds which model channel: ``(mapping {label: electrode},
    how {electrode: (label, how)}, unused {label: why})``. In order: ``prep.rename``,
    10-20/10-10 names, then positions (the file's or ``prep.montage``'s) of labels that
    are no electrode name."""
    wanted = list(prep.channel_names)
    mapping: dict[str, str] = {}
    how: dict[str, tuple[str, str]] = {}
    for label, std in _renamed(candidates, prep.rename_map).items():
        mapping[label] = std
        how[std] = (label, "data.rename")
    rest = [n for n in candidates if n not in mapping]
    for label, std in match_channels(rest, [c for c in wanted if c not in how]).items():
        mapping[label] = std
        how[std] = (label, "name")
    positions = _file_positions(raw, candidates)
    if prep.montage_obj is not None:
        positions.update(montage_positions(prep.montage_obj, candidates))
    unnamed = [n for n in candidates if n not in mapping and normalize_name(n) is None and bipolar_parts(n) is None]
    free = [c for c in wanted if c not in how]
    placed = {n: positions[n] for n in unnamed if n in positions}
    if placed and free:
        every = np.stack(list(positions.values()))
        for std, (label, angle) in map_by_position(placed, free, every).items():
            mapping[label] = std
            how[std] = (label, f"position ({angle:.0f} deg)")
    unused: dict[str, str] = {}
    for n in candidates:
        if n in mapping:
            continue
        std = normalize_name(n)
        if bipolar_parts(n) is not None:
            unused[n] = "bipolar derivation, usable through data.rename"
        elif std is not None:
            unused[n] = f"duplicate of {how[std][0]}" if std in how else "not in data.channels"
        elif n in positions:
            unused[n] = f"no free model electrode within {MAX_ANGLE_DEG:g} deg"
        else:
            unused[n] = "no 10-20 name or position"
    return mapping, how, unused


def _no_match(path: str, unused: Mapping[str, str]) -> DataError:
    names = list(unused)
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    why = set(unused.values())
    bipolar = [n for n in names if bipolar_parts(n) is not None]
    if bipolar:
        b = bipolar[0]
        hint = (f"bipolar derivations such as {b!r} are used only through data.rename (e.g. {{{b!r}: {bipolar_parts(b)[0]!r}}}) "
                "with that electrode in data.channels")
    elif "no 10-20 name or position" in why:
        hint = ("the file gives them no positions: name them with data.rename, give their positions with data.montage "
                "(an MNE standard montage such as GSN-HydroCel-128, or a montage file), or set data.channels")
    elif "not in data.channels" in why:
        hint = "set data.channels to the electrodes the file holds"
    else:
        hint = f"their positions lie more than {MAX_ANGLE_DEG:g} deg from every electrode of data.channels"
    return fail(path, f"no EEG channel matches the model's channel set by name or position ({shown}); {hint}",
                "no EEG channel matches the model's channel set")


def preprocess_raw(raw: mne.io.BaseRaw, prep: Preprocess, path: str = "<memory>") -> Recording:
    """Clean an MNE Raw (see the module doc) into a :class:`Recording`; errors name ``path``."""
    _events_to_annotations(raw, path)
    eeg = mne.pick_types(raw.info, eeg=True, exclude=[])
    eeg_names = [raw.ch_names[i] for i in eeg]
    # data.rename may name a channel the file typed otherwise (a bipolar EOG/EEG lead)
    extra = [n for n in _renamed(raw.ch_names, prep.rename_map) if n not in eeg_names]
    candidates = eeg_names + [n for n in extra if raw.get_channel_types([n])[0] != "stim"]
    if not candidates:
        raise fail(path, f"no EEG channels (channel types: {sorted(set(raw.get_channel_types()))})", "no EEG channels")
    mapping, how, unused = map_channels(raw, candidates, prep)
    if not mapping:
        raise _no_match(path, unused)
    sfreq = float(raw.info["sfreq"])
    if sfreq + 1e-6 < prep.rate:
        raise fail(path, f"sampling rate {sfreq:g} Hz is below the {prep.rate:g} Hz the framing needs",
                   f"sampling rate below {prep.rate:g} Hz")
    marked_bad = {mapping[b] for b in raw.info["bads"] if b in mapping}
    annotations = _relative_annotations(raw)
    raw = raw.copy().pick(list(mapping)).load_data(verbose="error")
    raw.info["bads"] = []
    raw.rename_channels(mapping)

    bads: dict[str, str] = {c: "marked bad in the file" for c in marked_bad}
    data = raw.get_data()
    finite = np.isfinite(data)
    nonfinite = ~finite.all(axis=1)
    if nonfinite.all():
        raise DataError(f"{path}: every EEG channel holds NaN or infinite values")
    if nonfinite.any():
        for i in np.flatnonzero(nonfinite):
            bads.setdefault(raw.ch_names[i], "NaN or infinite values")
        # filters smear a single NaN over the whole channel; zero the channel instead
        raw.apply_function(lambda x: np.where(np.isfinite(x), x, 0.0), picks="all", channel_wise=False)

    if prep.notch:
        freqs = np.arange(prep.notch, sfreq / 2, prep.notch)
        if len(freqs):
            raw.notch_filter(freqs, picks="all", verbose="error")
    if abs(sfreq - prep.rate) > 1e-6:
        raw.resample(prep.rate, verbose="error")
    if prep.highpass is not None or prep.lowpass is not None:
        raw.filter(prep.highpass, prep.lowpass, picks="all", verbose="error")

    x = raw.get_data() * 1e6  # volts -> µV
    seconds = x.shape[1] / prep.rate
    if seconds + 1e-9 < prep.min_seconds:
        raise fail(path, f"recording is {seconds:.2f} s long, shorter than one clip of {prep.min_seconds:g} s",
                   f"shorter than one clip of {prep.min_seconds:g} s")
    sd = x.std(axis=1)
    for i, name in enumerate(raw.ch_names):
        if name in bads:
            continue
        if sd[i] < prep.flat_uv:
            bads[name] = f"flat (SD {sd[i]:.3g} µV)"
    ok = np.array([n not in bads for n in raw.ch_names])
    if ok.any():
        med = float(np.median(sd[ok]))
        for i, name in enumerate(raw.ch_names):
            if ok[i] and sd[i] > prep.noisy_ratio * med and ok.sum() > 2:
                bads[name] = f"noisy (SD {sd[i]:.3g} µV, median {med:.3g} µV)"
    ok = np.array([n not in bads for n in raw.ch_names])
    if not ok.any():
        raise DataError(f"{path}: every EEG channel is flat, NaN or marked bad")

    out = np.zeros((len(prep.channel_names), x.shape[1]), dtype=np.float64)
    valid = np.zeros(len(prep.channel_names), dtype=bool)
    row = {c: i for i, c in enumerate(prep.channel_names)}
    for i, name in enumerate(raw.ch_names):
        if ok[i]:
            out[row[name]] = x[i]
            valid[row[name]] = True
    out = _normalize(out, valid, prep)
    for c in prep.channel_names:
        if c not in mapping.values():
            bads.setdefault(c, "missing")
    meta = {"mapping": {c: list(how[c]) for c in prep.channel_names if c in how}, "unused": unused}
    return Recording(out.astype(np.float32), prep.rate, list(prep.channel_names), valid, str(path), annotations, bads, meta)


def _normalize(x: np.ndarray, valid: np.ndarray, prep: Preprocess) -> np.ndarray:
    if prep.normalize == "fixed":
        return x / prep.scale_uv
    v = x[valid]
    if prep.normalize == "channel":
        v = (v - v.mean(axis=1, keepdims=True)) / np.maximum(v.std(axis=1, keepdims=True), 1e-6)
    else:
        # one robust scale per recording: removes the subject's gain, keeps the map
        v = v / max(float(np.median(v.std(axis=1))), 1e-6)
    x[valid] = v
    return x
