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
