"""The standard 12-lead order and the mapping of lead names found in files onto it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

# spellings met in PhysioNet databases: MIT-BIH's modified limb leads (MLII), the
# Einthoven "D" names used in European and South-American sets, PTB-XL's upper case
# Bare channel numbers ("1", "ECG1", "ECG2" of Holter and AF databases) are channel
# positions, not leads: they are never taken for leads I/II/III (data.leads_map names them).
_ALIASES = {
    "MLI": "I", "DI": "I", "D1": "I", "LI": "I",
    "MLII": "II", "DII": "II", "D2": "II", "LII": "II",
    "MLIII": "III", "DIII": "III", "D3": "III", "LIII": "III",
}
_CANON = {name.upper(): name for name in LEADS}
# a leading minus (ASCII hyphen, Unicode minus or en dash) marks an inverted lead, "-aVR"
_INVERTED = re.compile(r"^\s*[-\u2212\u2013]\s*(?=\S)")
_GENERIC = re.compile(r"^(ECG|EKG|CH|CHAN|CHANNEL|SIG|SIGNAL|LEAD)?\d+$|^(ECG|EKG)$")
# values of data.leads_map that mean "this channel is not a lead, leave it out quietly"
IGNORE = ("", "none", "ignore", "skip", "drop")


def _key(name: str) -> str:
    key = re.sub(r"[\s_\-]+", "", str(name)).upper()
    return re.sub(r"^(?:LEAD|ECG)+(?=.)", "", key)


def parse_lead(name: str) -> tuple[str | None, float]:
    """The standard lead a label names and its sign: ``"-aVR"`` -> ``("aVR", -1.0)``,
    ``"MLII"`` -> ``("II", 1.0)``, ``"RESP"`` or ``"ECG1"`` -> ``(None, 1.0)``."""
    text = str(name)
    sign = 1.0
    m = _INVERTED.match(text)
    if m:
        sign, text = -1.0, text[m.end():]
    key = _key(text)
    std = _CANON.get(key) or _ALIASES.get(key)
    return std, (sign if std is not None else 1.0)


def canonical(name: str) -> str | None:
    """The standard name of a lead label (``"AVR"``, ``"lead aVR"``, ``"MLII"``, and
    ``"-aVR"`` whose sign is flipped when read), or None."""
    return parse_lead(name)[0]


def is_generic(name: str) -> bool:
    """A channel number rather than a lead name: ``ECG1``, ``ch 2``, ``3``."""
    return bool(_GENERIC.match(re.sub(r"[\s_\-]+", "", str(name)).upper()))


def check_leads_map(leads_map: Mapping[str, Any] | None) -> None:
    """Raise ValueError for a ``data.leads_map`` value that is not a lead (or ``none``)."""
    if leads_map is None:
        return
    if not isinstance(leads_map, Mapping):
        raise ValueError(f"leads_map must map channel names to leads, e.g. {{ECG1: II}}, got {leads_map!r}")
    for channel, lead in leads_map.items():
        if lead is None or str(lead).strip().lower() in IGNORE:
            continue
        if parse_lead(str(lead))[0] is None:
            raise ValueError(
                f"leads_map maps {channel!r} to {str(lead)!r}, not a lead; valid: {', '.join(LEADS)} "
                f"(a leading '-' inverts, 'none' leaves the channel out)"
            )


def _lookup(leads_map: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    if name in leads_map:
        return True, leads_map[name]
    folded = {re.sub(r"\s+", "", str(k)).upper(): v for k, v in leads_map.items()}
    key = re.sub(r"\s+", "", name).upper()
    return (key in folded), folded.get(key)


@dataclass
class LeadMap:
    """Where each standard lead comes from: ``columns[k]`` the channel (None when
    absent), ``signs[k]`` -1 for an inverted lead; channels left unused: ``generic``
    (channel numbers), ``unknown`` (other names), ``duplicate`` (a second channel for a
    lead already taken); ``used_map``: the ``leads_map`` keys that matched a channel."""

    columns: list[int | None]
    signs: list[float]
    generic: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    duplicate: list[str] = field(default_factory=list)
    used_map: list[str] = field(default_factory=list)

    def unused_message(self) -> str | None:
        """One sentence on the channels not used, with the option that maps them."""
        parts = []
        if self.generic:
            parts.append(f"{', '.join(self.generic)} (channel numbers, not lead names)")
        if self.unknown:
            parts.append(f"{', '.join(self.unknown)} (not a standard lead name)")
        if self.duplicate:
            parts.append(f"{', '.join(self.duplicate)} (a second channel for a lead already taken)")
        if not parts:
            return None
        example = f"{{{self.generic[0]}: II}}" if self.generic else f"{{{(self.unknown or self.duplicate)[0]}: none}}"
        return f"channel(s) not used: {'; '.join(parts)}; to use them as leads or silence this set data.leads_map, e.g. {example}"


def resolve_leads(names: Sequence[str], leads_map: Mapping[str, Any] | None = None) -> LeadMap:
    """Map channel ``names`` onto :data:`LEADS`. ``leads_map`` (channel -> lead, ``-lead``
    for an inverted one, ``none`` to leave it out) wins over the names themselves.
    A repeated lead keeps its first channel; the others are reported as duplicates."""
    out = LeadMap([None] * len(LEADS), [1.0] * len(LEADS))
    for j, raw in enumerate(names):
        name = str(raw)
        found, target = _lookup(leads_map, name) if leads_map else (False, None)
        if found:
            out.used_map.append(name)
            if target is None or str(target).strip().lower() in IGNORE:
                continue
            std, sign = parse_lead(str(target))
        else:
            std, sign = parse_lead(name)
        if std is None:
            (out.generic if is_generic(name) else out.unknown).append(name)
            continue
        k = LEADS.index(std)
        if out.columns[k] is None:
            out.columns[k], out.signs[k] = j, sign
        else:
            out.duplicate.append(name)
    return out


def map_leads(names: Sequence[str]) -> tuple[list[int | None], list[str]]:
    """For each standard lead, the column of ``names`` holding it (None when absent),
    and the names that matched no standard lead (see :func:`resolve_leads` for signs)."""
    m = resolve_leads(names)
    return m.columns, m.generic + m.unknown
