"""Channel names and positions: map whatever a recorder called a channel onto the 10-20/10-10 system.

Clinical files name electrodes inconsistently (``EEG FP1-REF``, ``Fp1-LE``, ``T3`` for what
10-10 calls ``T7``). Every recording is mapped onto one fixed, ordered channel set so a model
sees the same electrode at the same input row whatever file it came from; electrodes a
recording lacks are zero-filled and flagged invalid.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import mne
import numpy as np

# The 19 electrodes of the international 10-20 system, ordered front to back and left to
# right so that neighbouring rows are neighbouring electrodes (channel groups of a tubelet
# then cover a patch of scalp, not scattered sites).
STANDARD_1020: tuple[str, ...] = (
    "Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz",
    "C4", "T8", "P7", "P3", "Pz", "P4", "P8", "O1", "O2",
)

# Old 10-20 names renamed by the 10-10 nomenclature (American Clinical Neurophysiology Society).
OLD_NAMES = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}

# Reference / montage suffixes seen in clinical exports: "-REF" (TUH, referential), "-LE"
# (linked ears), "-AR" (average reference), "-A1"/"-M1" (mastoid/ear references).
_REF_SUFFIX = re.compile(r"[-_ ]?(REF|LE|AR|AVG|CAR|A1|A2|M1|M2|A1A2|M1M2|LM|RM)$", re.IGNORECASE)
_PREFIX = re.compile(r"^(EEG|EEG_|EEG-)\s*", re.IGNORECASE)


def _montage_name(system: str) -> str:
    # MNE 1.13 renamed standard_10xx to colin27_10xx; the positions are the same.
    builtins = set(mne.channels.get_builtin_montages())
    new = f"colin27_{system}"
    return new if new in builtins else f"standard_{system}"


@lru_cache(maxsize=4)
def standard_montage(system: str = "1020") -> mne.channels.DigMontage:
    """The standard 10-20 (``"1020"``) or 10-05 (``"1005"``) template montage."""
    return mne.channels.make_standard_montage(_montage_name(system))


@lru_cache(maxsize=1)
def _canonical() -> dict[str, str]:
    # 10-05 contains every 10-20 and 10-10 name; upper-case keys make matching case-blind.
    names = standard_montage("1005").ch_names
    table = {n.upper(): n for n in names}
    for old, new in OLD_NAMES.items():
        table[old] = new
    return table


def normalize_name(name: str) -> str | None:
    """The standard 10-10 name of a channel label, or None when it is not a scalp electrode.

    ``"EEG FP1-REF"`` -> ``"Fp1"``, ``"T3-LE"`` -> ``"T7"``, ``"fz"`` -> ``"Fz"``; a bipolar
    derivation such as ``"Fp1-F7"`` or a non-EEG label (``"EKG"``) -> None.
    """
    table = _canonical()
    label = _PREFIX.sub("", name.strip()).strip()
    label = _REF_SUFFIX.sub("", label).strip()
    return table.get(label.upper().replace(" ", ""))


def resolve_channels(channels: str | Sequence[str]) -> list[str]:
    """The model's channel set from a config value: ``"1020"`` (the 19 10-20 electrodes) or a list of names."""
    if isinstance(channels, str):
        if channels.lower() in ("1020", "10-20", "standard_1020"):
            return list(STANDARD_1020)
        raise ValueError(f"channels must be '1020' or a list of electrode names, got {channels!r}")
    out = []
    for c in channels:
        n = normalize_name(str(c))
        if n is None:
            raise ValueError(f"channel {c!r} is not a 10-20/10-10 electrode name")
        if n in out:
            raise ValueError(f"channel {c!r} appears twice (as {n})")
        out.append(n)
    if not out:
        raise ValueError("channels must name at least one electrode")
    return out


def match_channels(names: Sequence[str], wanted: Sequence[str]) -> dict[str, str]:
    """Map raw channel labels to wanted standard names: ``{raw_label: standard_name}``.

    The first raw label that normalises to a wanted name wins (clinical files sometimes
    carry the same electrode twice under two references).
    """
    wanted_set = set(wanted)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for raw_name in names:
        std = normalize_name(raw_name)
        if std is not None and std in wanted_set and std not in taken:
            mapping[raw_name] = std
            taken.add(std)
    return mapping


def make_info(channels: Sequence[str], sfreq: float) -> mne.Info:
    """An :class:`mne.Info` for the standard channels with the 10-20 template montage attached."""
    info = mne.create_info(list(channels), float(sfreq), ch_types="eeg")
    info.set_montage(standard_montage("1005"), on_missing="raise")
    return info


def positions_3d(channels: Sequence[str]) -> np.ndarray:
    """Electrode positions (C, 3) in metres, MNE head coordinates (+x right, +y nose), as
    :meth:`mne.Info.set_montage` places the template on the fiducials."""
    pos = make_info(channels, 100.0).get_montage().get_positions()["ch_pos"]
    return np.stack([np.asarray(pos[c], dtype=np.float64) for c in channels])


def positions_2d(channels: Sequence[str]) -> np.ndarray:
    """Electrode positions (C, 2) in [0, 1]² as MNE's topographic EEG layout places them."""
    layout = mne.channels.make_eeg_layout(make_info(channels, 100.0))
    by_name = dict(zip(layout.names, layout.pos))
    # layout boxes are (x, y, width, height); the electrode sits at the box centre
    xy = np.stack([by_name[c][:2] + by_name[c][2:4] / 2 for c in channels])
    return xy.astype(np.float64)


# ---------------------------------------------------------------- labels that are not 10-20 names

# An electrode of the file whose direction from the head centre lies within this angle of a
# model electrode stands in for it. Neighbouring 10-20 sites are 36 degrees apart (20 % of
# the nasion-inion arc) and 10-10 sites 18: within 18 degrees the file's electrode is closer
# to that site than to any 10-20 neighbour.
MAX_ANGLE_DEG = 18.0
# MNE's default sphere origin for EEG in head coordinates (metres)
HEAD_ORIGIN = np.array([0.0, 0.0, 0.04])


def bipolar_parts(name: str) -> tuple[str, str] | None:
    """``("Fpz", "Cz")`` for a bipolar derivation such as ``"EEG Fpz-Cz"``, else None."""
    label = _PREFIX.sub("", name.strip()).strip()
    parts = re.split(r"\s*-\s*", label)
    if len(parts) != 2:
        return None
    a, b = (_canonical().get(p.upper().replace(" ", "")) for p in parts)
    return (a, b) if a and b else None


def montage_from(name_or_path: str) -> mne.channels.DigMontage:
    """An MNE standard montage by name (``"GSN-HydroCel-128"``, ``"standard_1005"``...) or a
    montage file :func:`mne.channels.read_custom_montage` reads; ValueError otherwise."""
    import os

    builtins = mne.channels.get_builtin_montages()
    if name_or_path in builtins:
        return mne.channels.make_standard_montage(name_or_path)
    lower = {b.lower(): b for b in builtins}
    if str(name_or_path).lower() in lower:
        return mne.channels.make_standard_montage(lower[str(name_or_path).lower()])
    if os.path.isfile(str(name_or_path)):
        try:
            return mne.channels.read_custom_montage(str(name_or_path))
        except Exception as exc:
            raise ValueError(f"montage file {name_or_path} cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    raise ValueError(f"montage {name_or_path!r} is neither an MNE standard montage ({', '.join(sorted(builtins))}) nor a montage file")


def montage_positions(montage: mne.channels.DigMontage, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Head-coordinate positions (metres) of the ``names`` the montage knows (case-blind)."""
    info = mne.create_info(list(names), 100.0, "eeg")
    with mne.utils.use_log_level("error"):
        info.set_montage(montage, match_case=False, on_missing="ignore")
    out = {}
    for ch in info["chs"]:
        p = np.asarray(ch["loc"][:3], dtype=np.float64)
        if np.isfinite(p).all() and np.linalg.norm(p) > 1e-6:
            out[ch["ch_name"]] = p
    return out


def _centre(points: np.ndarray) -> np.ndarray:
    # least-squares sphere through the electrodes; few or clustered electrodes do not pin a
    # sphere down, they are taken around MNE's default head origin
    if len(points) >= 10:
        a = np.c_[2 * points, np.ones(len(points))]
        sol = np.linalg.lstsq(a, (points**2).sum(1), rcond=None)[0]
        c = sol[:3]
        r2 = sol[3] + c @ c
        if r2 > 0 and 0.05 < np.sqrt(r2) < 0.15 and np.linalg.norm(c - HEAD_ORIGIN) < 0.05:
            return c
    return HEAD_ORIGIN


@lru_cache(maxsize=1)
def _template_centre() -> np.ndarray:
    pos = montage_positions(standard_montage("1005"), standard_montage("1005").ch_names)
    return _centre(np.stack(list(pos.values())))


def map_by_position(positions: dict[str, np.ndarray], wanted: Sequence[str], all_positions: np.ndarray | None = None,
                    max_angle: float = MAX_ANGLE_DEG) -> dict[str, tuple[str, float]]:
    """``{model channel: (file label, angle in degrees)}``: each of ``wanted`` takes the file
    electrode nearest to its 10-05 template site (by direction from the head centre, so head
    size does not matter) when it lies within ``max_angle``; one file electrode serves one
    model channel. ``all_positions`` (every positioned electrode of the file) fixes the
    file's head centre."""
    if not positions or not wanted:
        return {}
    labels = list(positions)
    p = np.stack([positions[k] for k in labels])
    centre = _centre(all_positions if all_positions is not None and len(all_positions) else p)
    u = p - centre
    radius = np.linalg.norm(u, axis=1, keepdims=True)
    if not 0.03 < float(np.median(radius)) < 0.3:  # not head coordinates in metres: no directions to compare
        return {}
    u /= np.maximum(radius, 1e-9)
    t = positions_3d(wanted) - _template_centre()
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    ang = np.degrees(np.arccos(np.clip(t @ u.T, -1.0, 1.0)))  # (wanted, file)
    out: dict[str, tuple[str, float]] = {}
    while np.isfinite(ang).any():
        i, j = np.unravel_index(np.nanargmin(ang), ang.shape)
        if ang[i, j] > max_angle:
            break
        out[wanted[i]] = (labels[j], float(ang[i, j]))
        ang[i, :] = np.inf
        ang[:, j] = np.inf
    return out
