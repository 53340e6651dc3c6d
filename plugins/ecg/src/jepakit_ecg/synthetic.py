"""Embedded default data: synthetic 12-lead ECGs with PTB-XL-like diagnostic superclasses.

A heart beat is a moving 3-D cardiac dipole: the P wave, the QRS complex (Q, R, S) and
the T wave are Gaussian pulses in time, each with its own spatial direction (x: to the
patient's left, y: inferior, z: anterior). Leads I and II are projections onto the
frontal plane, III and the augmented leads follow from Einthoven's and Goldberger's
relations, V1-V6 are projections onto a fan in the horizontal plane. Classes change the
dipole the way the pathology changes the real one:

- MI: wide, deep Q waves pointing away from an infarct territory (anterior or inferior),
  a smaller R, ST elevation towards the territory and T inversion in it;
- STTC: ST depression opposite the QRS axis and flattened or inverted T waves;
- CD: a wide QRS with a late R' (right or left bundle-branch pattern), sometimes a long PR;
- HYP: high QRS voltage along the left-posterior direction, sometimes with strain T;
- NORM: none of these.

Nuisances are large on purpose, so that an untrained encoder does poorly: heart rate
and its variability, the electrical axis and a random rotation of the whole heart, body
size (overall gain) and electrode contact (per-lead gain), an irregular rhythm without P
waves and with fibrillatory waves (atrial fibrillation, ~12 % of records, in any class),
baseline wander, muscle noise bursts, powerline interference and white noise.
"""

from __future__ import annotations

import numpy as np

from .io import SUPERCLASSES
from .leads import LEADS

# unit vectors of V1..V6 in the horizontal (x, z) plane with a small inferior tilt
_V_ANGLES = np.deg2rad([115.0, 95.0, 78.0, 60.0, 35.0, 10.0])
_V_DIRS = np.stack([np.cos(_V_ANGLES), np.full(6, 0.15), np.sin(_V_ANGLES)], axis=1)
_V_GAIN = np.array([1.3, 1.7, 1.8, 1.7, 1.4, 1.1])
PREVALENCE = {"MI": 0.25, "STTC": 0.22, "CD": 0.2, "HYP": 0.15}
AF_RATE = 0.12


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _rotation(rng: np.random.Generator, degrees: float) -> np.ndarray:
    """A random rotation of up to about ``degrees`` around each axis."""
    a, b, c = np.deg2rad(rng.normal(0.0, degrees, 3))
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def project(dipole: np.ndarray) -> np.ndarray:
    """Dipole ``(T, 3)`` -> 12 leads ``(T, 12)`` in :data:`LEADS` order."""
    lead_i = dipole[:, 0]
    lead_ii = 0.5 * dipole[:, 0] + np.sqrt(3) / 2 * dipole[:, 1]
    limb = np.stack(
        [lead_i, lead_ii, lead_ii - lead_i, -(lead_i + lead_ii) / 2, lead_i - lead_ii / 2, lead_ii - lead_i / 2], axis=1
    )
    chest = (dipole @ _V_DIRS.T) * _V_GAIN
    return np.concatenate([limb, chest], axis=1)


def _beat_times(rng: np.random.Generator, seconds: float, hr: float, af: bool) -> np.ndarray:
    """R-peak times: sinus rhythm with respiratory and random variability, or the
    irregularly irregular intervals of atrial fibrillation."""
    rr = 60.0 / hr
    t = -rng.uniform(0, rr)
    out = []
    resp_f, resp_a, jitter = rng.uniform(0.15, 0.35), rng.uniform(0.0, 0.06), rng.uniform(0.01, 0.05)
    while t < seconds + 1.0:
        out.append(t)
        if af:
            t += rr * float(np.clip(rng.lognormal(0.0, 0.25), 0.45, 2.2))
        else:
            t += rr * (1 + resp_a * np.sin(2 * np.pi * resp_f * t) + jitter * rng.normal())
    return np.asarray(out)


def _pulses(t: np.ndarray, centres: np.ndarray, sigma: float, amps: np.ndarray) -> np.ndarray:
    """Sum of Gaussian pulses, each evaluated only within 5 sigma of its centre."""
    fs = 1.0 / (t[1] - t[0])
    n, half = len(t), int(np.ceil(5 * sigma * fs))
    out = np.zeros(n + 4 * half + 1)  # padded so that pulses straddling the edges fit
    offs = np.arange(-half, half + 1)
    for c, a in zip(centres, amps):
        i = int(round(c * fs))
        if -half <= i <= n + half:
            out[i + offs + 2 * half] += a * np.exp(-0.5 * (((i + offs) / fs - c) / sigma) ** 2)
    return out[2 * half : 2 * half + n]


def draw_labels(rng: np.random.Generator) -> np.ndarray:
    """Multi-hot over :data:`SUPERCLASSES` (NORM exactly when nothing else is drawn)."""
    y = np.zeros(len(SUPERCLASSES), dtype=np.float32)
    for name, p in PREVALENCE.items():
        y[SUPERCLASSES.index(name)] = float(rng.random() < p)
    y[SUPERCLASSES.index("NORM")] = float(y.sum() == 0)
    return y


def synth_record(
    rng: np.random.Generator, seconds: float = 10.0, fs: float = 500.0, labels: np.ndarray | None = None,
    af: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """One record: ``(T, 12)`` signals in mV at ``fs``, its superclass multi-hot, and
    whether the rhythm is atrial fibrillation."""
    y = draw_labels(rng) if labels is None else np.asarray(labels, dtype=np.float32)
    mi, sttc, cd, hyp = (bool(y[SUPERCLASSES.index(k)]) for k in ("MI", "STTC", "CD", "HYP"))
    af = bool(rng.random() < AF_RATE) if af is None else af
    n = int(round(seconds * fs))
    t = np.arange(n) / fs
    hr = rng.uniform(45, 120) if not af else rng.uniform(70, 140)
    beats = _beat_times(rng, seconds, hr, af)
    k = len(beats)
    rr = 60.0 / hr

    rot = _rotation(rng, 15.0)
    axis = np.deg2rad(rng.normal(50.0, 25.0))
    r_dir = _unit(np.array([np.cos(axis), np.sin(axis), -0.35]))
    width = rng.uniform(0.9, 1.15)
    jit = lambda s: 1.0 + s * rng.standard_normal(k)  # noqa: E731 - per-beat amplitude jitter
    waves: list[tuple[np.ndarray, float, np.ndarray, np.ndarray]] = []  # (dir, sigma, centres, amps)

    if not af:
        pr = rng.uniform(0.13, 0.19) + (rng.uniform(0.08, 0.14) if cd and rng.random() < 0.4 else 0.0)
        p_dir = _unit(np.array([0.55, 0.8, 0.15]) + 0.15 * rng.standard_normal(3))
        waves.append((p_dir, 0.022, beats - pr, rng.uniform(0.1, 0.25) * jit(0.05)))

    q_dir = _unit(np.array([-0.7, -0.2, 0.6]))
    q_amp, q_sig, r_amp = rng.uniform(0.05, 0.15), 0.008 * width, rng.uniform(0.9, 1.6)
    s_dir = _unit(np.array([-0.45, -0.45, -0.75]) + 0.1 * rng.standard_normal(3))
    s_amp = rng.uniform(0.2, 0.5)
    st_vec = np.zeros(3)
    t_dir = _unit(r_dir + np.array([0.0, 0.1, 0.55]) + 0.15 * rng.standard_normal(3))
    t_amp = rng.uniform(0.2, 0.45)
    if mi:
        territory = _unit(np.array([0.1, 0.25, 1.0]) if rng.random() < 0.55 else np.array([0.1, 1.0, 0.1]))
        q_dir, q_amp, q_sig = -territory, rng.uniform(0.3, 0.7), 0.016 * width
        r_amp *= rng.uniform(0.5, 0.8)
        if rng.random() < 0.6:
            st_vec += rng.uniform(0.1, 0.3) * territory
        t_dir = _unit(t_dir - rng.uniform(1.0, 2.0) * territory)
    if sttc:
        st_vec -= rng.uniform(0.08, 0.2) * r_dir
        t_amp *= rng.choice([rng.uniform(-1.0, -0.4), rng.uniform(0.0, 0.25)])
    if hyp:
        lv = _unit(np.array([0.6, 0.2, -0.75]))
        r_dir = _unit(r_dir + 0.6 * lv)
        r_amp *= rng.uniform(1.8, 2.6)
        s_amp *= rng.uniform(1.5, 2.2)
        if rng.random() < 0.35:  # strain pattern
            t_dir = _unit(t_dir - 1.2 * lv)
            st_vec -= 0.08 * lv
    qrs_w = width * (rng.uniform(1.8, 2.4) if cd else 1.0)
    waves += [
        (q_dir, q_sig, beats - 0.028 * qrs_w, q_amp * jit(0.05)),
        (r_dir, 0.011 * qrs_w, beats, r_amp * jit(0.05)),
        (s_dir, 0.012 * qrs_w, beats + 0.03 * qrs_w, s_amp * jit(0.05)),
    ]
    if cd:
        right = rng.random() < 0.5
        late = _unit(np.array([-0.6, 0.1, 0.8]) if right else np.array([0.8, 0.1, -0.5]))
        waves.append((late, 0.014 * qrs_w, beats + 0.06 * qrs_w, rng.uniform(0.4, 0.8) * jit(0.05)))
    qt = 0.30 * np.sqrt(rr) * rng.uniform(0.92, 1.08) + 0.03 * (qrs_w - 1)
    waves.append((t_dir, 0.05 * rng.uniform(0.85, 1.2), beats + qt, t_amp * jit(0.05)))
    if np.any(st_vec):
        st_c = beats + 0.05 * qrs_w + (qt - 0.05 * qrs_w) * 0.45
        waves.append((_unit(st_vec), 0.055, st_c, np.linalg.norm(st_vec) * np.ones(k)))

    dipole = np.zeros((n, 3))
    for direction, sigma, centres, amps in waves:
        dipole += _pulses(t, centres, sigma, amps)[:, None] * (rot @ direction)[None, :]
    x = project(dipole) * rng.lognormal(0.0, 0.3) * rng.uniform(0.85, 1.15, 12)[None, :]

    # fibrillatory waves, strongest in the inferior and right-precordial leads
    if af:
        f = rng.uniform(4.0, 8.0)
        fw = sum(np.sin(2 * np.pi * (f + rng.normal(0, 0.3)) * t + rng.uniform(0, 2 * np.pi)) for _ in range(3)) / 3
        x += np.outer(fw, rng.uniform(0.03, 0.1) * np.array([0.5, 1, 1, 0.6, 0.4, 0.8, 1.3, 1, 0.7, 0.5, 0.4, 0.3]))
    # baseline wander: slow respiration-like sinusoids, a different mix per lead
    for _ in range(2):
        f = rng.uniform(0.05, 0.5)
        x += np.outer(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)), rng.normal(0, rng.uniform(0.1, 0.5), 12))
    # muscle noise in bursts, band-limited by a moving average
    emg = rng.standard_normal((n, 12))
    emg = (emg + np.roll(emg, 1, axis=0)) / 2
    envelope = 1.0 + 3.0 * (np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t + rng.uniform(0, 6.3)) > 0.6)
    x += emg * envelope[:, None] * rng.uniform(0.0, 0.06)
    # powerline interference (50 or 60 Hz) where the sampling rate can represent it
    line = rng.choice([50.0, 60.0])
    if fs > 2 * line:
        x += np.outer(np.sin(2 * np.pi * line * t + rng.uniform(0, 6.3)), rng.uniform(0, 0.08, 12))
    x += rng.normal(0, 0.01, x.shape)
    return x.astype(np.float32), y, af


def synthetic_set(n: int, seconds: float = 10.0, fs: float = 500.0, seed: int = 0):
    """``n`` records: yields ``(signal (T, 12) mV, labels (5,), af)``, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield synth_record(rng, seconds, fs)


__all__ = ["LEADS", "PREVALENCE", "SUPERCLASSES", "draw_labels", "project", "synth_record", "synthetic_set"]
