"""Synthetic 10-20 EEG worth learning from: the embedded default data of the ``eeg`` domain.

Each subject gets nuisance parameters (overall gain, alpha frequency, noise level, 1/f
slope) and a class. Every recording mixes, in µV:

* a spatially correlated 1/f background (white sources shaped to 1/f^beta, mixed by a
  Gaussian kernel over inter-electrode distance on the 10-20 montage);
* a posterior alpha rhythm at the subject's alpha frequency whose amplitude follows an
  eyes-closed / eyes-open state (blocked on eye opening, as in a clinical recording);
* eye-blink artefacts while the eyes are open: large slow deflections on Fp1/Fp2 that
  decay with distance from the eyes;
* small mains interference (50 or 60 Hz) and white sensor noise;
* for "abnormal" subjects, with a per-subject severity: polymorphic delta slowing around
  a focal electrode, a slower and weaker posterior rhythm, and bursts of ~3 Hz
  spike-and-wave discharges that start at the focus and spread over the montage with a
  distance-dependent amplitude and delay.

States, blinks and discharges are written as annotations (``eyes_open``,
``eyes_closed``, ``blink``, ``spike_wave``), so the same files serve pretraining windows,
recording-level labels and event-labelled epochs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import mne
import numpy as np

from .channels import STANDARD_1020, positions_3d


@dataclass
class Subject:
    """Nuisance and class parameters of one synthetic subject."""

    name: str
    abnormal: bool
    gain: float  # overall amplitude factor
    alpha_hz: float
    noise_uv: float
    beta: float  # 1/f exponent of the background
    line_hz: float
    severity: float = 0.0  # abnormal only: 0..1
    focus: int = 0  # abnormal only: index of the focal electrode


def draw_subject(i: int, abnormal: bool, rng: np.random.Generator, n_channels: int = len(STANDARD_1020)) -> Subject:
    return Subject(
        name=f"sub{i:03d}",
        abnormal=abnormal,
        gain=float(rng.uniform(0.6, 1.6)),
        alpha_hz=float(rng.uniform(8.5, 11.5)),
        noise_uv=float(rng.uniform(1.0, 4.0)),
        beta=float(rng.uniform(0.9, 1.6)),
        line_hz=float(rng.choice([50.0, 60.0])),
        severity=float(rng.uniform(0.25, 1.0)) if abnormal else 0.0,
        focus=int(rng.integers(0, n_channels)),
    )


def _spectral_noise(rng: np.random.Generator, n: int, t: int, sfreq: float, shape) -> np.ndarray:
    """``n`` unit-variance noise series of length ``t`` with power spectrum ``shape(f)``."""
    f = np.fft.rfftfreq(t, 1 / sfreq)
    spec = (rng.standard_normal((n, f.size)) + 1j * rng.standard_normal((n, f.size))) * np.sqrt(shape(f))[None]
    x = np.fft.irfft(spec, n=t, axis=1)
    return x / np.maximum(x.std(axis=1, keepdims=True), 1e-12)


def _band(f0: float, f1: float):
    return lambda f: ((f >= f0) & (f <= f1)).astype(float)


def _segments(rng: np.random.Generator, seconds: float, lo: float, hi: float) -> list[tuple[float, float, bool]]:
    """Alternating (onset, duration, eyes_closed) segments covering ``seconds``."""
    out, t, closed = [], 0.0, bool(rng.integers(0, 2))
    while t < seconds:
        d = min(float(rng.uniform(lo, hi)), seconds - t)
        out.append((t, d, closed))
        t += d
        closed = not closed
    return out


def synthetic_signal(subject: Subject, seconds: float, sfreq: float, rng: np.random.Generator,
                     channels: Sequence[str] = STANDARD_1020) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """One recording of ``subject``: (C, T) array in µV and annotations (onset, duration, label)."""
    t_n = int(round(seconds * sfreq))
    t = np.arange(t_n) / sfreq
    pos = positions_3d(channels)
    c_n = len(channels)
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    ann: list[tuple[float, float, str]] = []

    # background: volume conduction makes neighbouring electrodes correlated
    mix = np.exp(-(dist**2) / (2 * 0.035**2))
    mix /= np.sqrt((mix**2).sum(1, keepdims=True))
    bg = mix @ _spectral_noise(rng, c_n, t_n, sfreq, lambda f: 1.0 / np.maximum(f, 0.5) ** subject.beta)
    x = 12.0 * bg

    # eye state and posterior alpha (blocked when the eyes open)
    segs = _segments(rng, seconds, 4.0, 12.0)
    closed = np.zeros(t_n)
    for onset, dur, is_closed in segs:
        ann.append((onset, dur, "eyes_closed" if is_closed else "eyes_open"))
        if is_closed:
            closed[int(onset * sfreq): int((onset + dur) * sfreq)] = 1.0
    ramp = max(1, int(0.3 * sfreq))  # alpha waxes and wanes over ~300 ms, it does not switch
    envelope = np.convolve(closed, np.ones(ramp) / ramp, mode="same")
    alpha_hz = subject.alpha_hz - (1.8 * subject.severity if subject.abnormal else 0.0)
    alpha_amp = 28.0 * (1 - 0.5 * subject.severity)
    alpha = _spectral_noise(rng, 1, t_n, sfreq, _band(alpha_hz - 0.4, alpha_hz + 0.4))[0]
    posterior = 1 / (1 + np.exp((pos[:, 1] + 0.01) / 0.015))  # +y points to the nose
    x += alpha_amp * (0.2 + 0.8 * envelope)[None] * alpha[None] * posterior[:, None]

    # blinks: frontal, only with eyes open
    eyes = np.array([0.0, 0.13, 0.0])  # in front of Fp1/Fp2, head coordinates
    frontal = np.exp(-np.linalg.norm(pos - eyes, axis=1) / 0.025)
    frontal /= frontal.max()
    blink_len = int(0.4 * sfreq)
    shape = np.sin(np.linspace(0, np.pi, blink_len)) ** 2
    for onset, dur, is_closed in segs:
        if is_closed:
            continue
        for b in np.sort(rng.uniform(onset, onset + dur, rng.poisson(0.35 * dur))):
            i = int(b * sfreq)
            if i + blink_len > t_n:
                continue
            x[:, i: i + blink_len] += rng.uniform(100, 200) * frontal[:, None] * shape[None]
            ann.append((i / sfreq, blink_len / sfreq, "blink"))

    if subject.abnormal:
        sev = subject.severity
        near = dist[subject.focus]
        # polymorphic delta around the focus
        delta = _spectral_noise(rng, 1, t_n, sfreq, _band(1.0, 3.5))[0]
        x += 35.0 * sev * np.exp(-(near**2) / (2 * 0.045**2))[:, None] * delta[None]
        # spike-and-wave bursts spreading from the focus
        period = 1 / rng.uniform(2.5, 3.5)
        spike = _spike_wave(sfreq, period)
        spread = np.exp(-(near**2) / (2 * 0.06**2))
        delay = near / 0.8  # s: cortical spread at ~0.8 m/s
        n_bursts = rng.poisson(sev * 4.0 * seconds / 60.0)
        for start in np.sort(rng.uniform(0, max(seconds - 3.0, 0.1), n_bursts)):
            n_cycles = int(rng.integers(3, 10))
            amp = 110.0 * (0.5 + 0.5 * sev)
            for c in range(c_n):
                i0 = int((start + delay[c]) * sfreq)
                for k in range(n_cycles):
                    i = i0 + int(round(k * period * sfreq))
                    j = min(t_n, i + spike.size)
                    if i < t_n:
                        x[c, i:j] += amp * spread[c] * spike[: j - i]
            ann.append((float(start), n_cycles * period, "spike_wave"))

    x += 2.0 * np.sin(2 * np.pi * subject.line_hz * t + rng.uniform(0, 2 * np.pi))[None]
    x += subject.noise_uv * rng.standard_normal(x.shape)
    # an event running past the end is cut at the end, as a recorder would
    ann = [(o, min(d, seconds - o), s) for o, d, s in ann if o < seconds]
    return subject.gain * x, sorted(ann)


def _spike_wave(sfreq: float, period: float) -> np.ndarray:
    """One spike-and-wave complex: a ~70 ms sharp negative spike then a slow positive wave."""
    n = max(2, int(round(period * sfreq)))
    t = np.arange(n) / sfreq
    spike = -np.exp(-((t - 0.04) ** 2) / (2 * 0.012**2))
    wave = 0.6 * np.exp(-((t - 0.04 - period / 2.2) ** 2) / (2 * (period / 6) ** 2))
    return spike + wave


def synthetic_raw(subject: Subject, seconds: float = 60.0, sfreq: float = 256.0, seed: int = 0,
                  channels: Sequence[str] = STANDARD_1020, names: Sequence[str] | None = None) -> mne.io.RawArray:
    """An MNE Raw (volts) of one synthetic recording with its annotations; ``names``
    overrides the channel labels (e.g. TUH-style ``EEG FP1-REF``) to exercise matching."""
    rng = np.random.default_rng(seed)
    x, ann = synthetic_signal(subject, seconds, sfreq, rng, channels)
    info = mne.create_info(list(names or channels), sfreq, ch_types="eeg")
    raw = mne.io.RawArray(x * 1e-6, info, verbose="error")
    if ann:
        onset, dur, desc = zip(*ann)
        raw.set_annotations(mne.Annotations(onset, dur, desc))
    return raw


def synthetic_cohort(n_subjects: int, recordings: int = 1, seconds: float = 60.0, sfreq: float = 256.0,
                     abnormal_fraction: float = 0.5, seed: int = 0) -> list[tuple[Subject, mne.io.RawArray]]:
    """``n_subjects`` subjects (a fixed ``abnormal_fraction`` of them abnormal, shuffled),
    ``recordings`` recordings each."""
    rng = np.random.default_rng(seed)
    n_ab = int(round(abnormal_fraction * n_subjects))
    classes = rng.permutation([True] * n_ab + [False] * (n_subjects - n_ab))
    out = []
    for i, ab in enumerate(classes):
        sub = draw_subject(i, bool(ab), rng)
        for _ in range(recordings):
            out.append((sub, synthetic_raw(sub, seconds, sfreq, seed=int(rng.integers(2**31)))))
    return out
