"""The standard 12-lead order and the mapping of lead names found in files onto it."""

from __future__ import annotations

import re
from collections.abc import Sequence

LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

# spellings met in PhysioNet databases: MIT-BIH's modified limb leads (MLII), the
# Einthoven "D" names used in European and South-American sets, PTB-XL's upper case
_ALIASES = {
    "MLI": "I", "DI": "I", "D1": "I", "LI": "I", "1": "I",
    "MLII": "II", "DII": "II", "D2": "II", "LII": "II", "2": "II",
    "MLIII": "III", "DIII": "III", "D3": "III", "LIII": "III", "3": "III",
}
_CANON = {name.upper(): name for name in LEADS}


def canonical(name: str) -> str | None:
    """The standard name of a lead label (``"AVR"``, ``"lead aVR"``, ``"MLII"``), or None."""
    key = re.sub(r"[\s_\-]+", "", str(name)).upper()
    key = re.sub(r"^(LEAD|ECG)", "", key)
    if key in _CANON:
        return _CANON[key]
    if key in _ALIASES:
        return _ALIASES[key]
    return None


def map_leads(names: Sequence[str]) -> tuple[list[int | None], list[str]]:
    """For each standard lead, the column of ``names`` holding it (None when absent),
    and the names that matched no standard lead. A repeated lead keeps its first column."""
    columns: list[int | None] = [None] * len(LEADS)
    unknown: list[str] = []
    for j, name in enumerate(names):
        std = canonical(name)
        if std is None:
            unknown.append(str(name))
            continue
        k = LEADS.index(std)
        if columns[k] is None:
            columns[k] = j
    return columns, unknown
