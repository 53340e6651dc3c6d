"""Embedded data: paired synthetic clips whose video and music share latent factors.

Every item is a short clip (``frames`` RGB frames of ``size`` x ``size`` pixels) and its
music (``seconds`` of mono audio at ``rate`` Hz), drawn from four shared factors:

=========== ===================================== ===========================================
factor      video                                 music
=========== ===================================== ===========================================
genre (4)   visual style: a colour tint and       timbre: sine / odd harmonics (square-like)
            stripes of one orientation per genre  / all harmonics 1/k (saw-like) / inharmonic
                                                  partials at 1, 1.5, 2.7 x f0
tempo       horizontal speed of a bright blob     pulse rate of the amplitude envelope
            (4 px/s per beat/s)                   (1-4 beats per second)
phase       the blob's starting column            the onset of the first pulse
pitch       the blob's height                     the fundamental, 150-600 Hz (two octaves)
=========== ===================================== ===========================================

Tempo, phase and pitch are continuous and differ from item to item, so matching a clip to
*its own* music (pair recall) needs them; the genre is shared by a quarter of the items,
so a genre-consistent ranking can ignore them. ``style`` (0.12 by default) sets how
visible the genre is in the video against the blob (amplitude 1) and the pixel noise
(``noise`` 0.08): small on purpose, so the self-supervised objective, which gains most
from the instance factors, need not pick the genre up as strongly as the genre labels
make the supervised one do. That is what makes the two objectives distinguishable here.
"""

from __future__ import annotations

import numpy as np

GENRES = ("ambient", "rock", "electro", "gamelan")

# per-genre RGB tint of the background (video) and stripe orientation in degrees
_TINT = np.array([[0.2, 0.4, 1.0], [1.0, 0.3, 0.2], [0.3, 1.0, 0.4], [1.0, 0.9, 0.2]], dtype=np.float32)
_ORIENT = (0.0, 45.0, 90.0, 135.0)


def _partials(genre: int) -> list[tuple[float, float]]:
    """(frequency ratio to f0, amplitude) of each genre's timbre."""
    if genre == 0:
        return [(1.0, 1.0)]
    if genre == 1:
        return [(k, 1.0 / k) for k in (1, 3, 5, 7)]
    if genre == 2:
        return [(k, 1.0 / k) for k in (1, 2, 3, 4, 5, 6)]
    return [(1.0, 1.0), (1.5, 0.7), (2.7, 0.5)]


def make_pairs(
    n: int, seed: int, frames: int = 8, size: int = 16, rate: int = 8000, seconds: float = 1.0, style: float = 0.12,
    noise: float = 0.08, genres: int = 4,
) -> dict[str, np.ndarray]:
    """``n`` paired clips: ``video`` (n, 3, frames, size, size) float32 in about [0, 1.3],
    ``wave`` (n, rate * seconds) float32, ``genre`` (n,) int64 and the latent factors
    ``tempo``, ``phase``, ``pitch`` (n,) for tests."""
    if not 1 <= genres <= len(GENRES):
        raise ValueError(f"genres must be in [1, {len(GENRES)}], got {genres}")
    rng = np.random.default_rng(seed)
    genre = rng.integers(0, genres, n).astype(np.int64)
    tempo = rng.uniform(1.0, 4.0, n)  # beats per second
    phase = rng.uniform(0.0, 1.0, n)
    pitch = rng.uniform(0.0, 1.0, n)

    # video: stripes + tint of the genre, a Gaussian blob at height ~ pitch moving right at
    # a speed ~ tempo from a column ~ phase (wrapping around)
    t = np.arange(frames) / frames * seconds
    yy, xx = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32), indexing="ij")
    video = np.empty((n, 3, frames, size, size), dtype=np.float32)
    for i in range(n):
        g = int(genre[i])
        ang = np.deg2rad(_ORIENT[g])
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(ang) + yy * np.sin(ang)) / 4.0)
        background = style * stripes[None] * _TINT[g][:, None, None]  # (3, H, W)
        y0 = 2.0 + (size - 5.0) * pitch[i]
        for k, tk in enumerate(t):
            x0 = (phase[i] * size + 4.0 * tempo[i] * tk) % size
            dx = np.minimum(np.abs(xx - x0), size - np.abs(xx - x0))  # wrap-around distance
            blob = np.exp(-(dx**2 + (yy - y0) ** 2) / (2 * 1.5**2))
            video[i, :, k] = background + blob[None]
    video += rng.normal(0.0, noise, video.shape).astype(np.float32)

    # music: the genre's partials at f0 ~ pitch, pulsed at the tempo from the phase
    ts = np.arange(int(round(rate * seconds))) / rate
    wave = np.empty((n, ts.size), dtype=np.float32)
    for i in range(n):
        f0 = 150.0 * 4.0 ** pitch[i]
        tone = sum(a * np.sin(2 * np.pi * r * f0 * ts + rng.uniform(0, 2 * np.pi)) for r, a in _partials(int(genre[i])))
        beat = (ts * tempo[i] - phase[i]) % 1.0  # time since the last pulse, in beats
        env = np.exp(-beat * 6.0)
        x = env * tone / max(sum(a for _, a in _partials(int(genre[i]))), 1.0)
        wave[i] = (x + rng.normal(0.0, 0.02, ts.size)).astype(np.float32)
    return {"video": video, "wave": wave, "genre": genre, "tempo": tempo, "phase": phase, "pitch": pitch}


__all__ = ["GENRES", "make_pairs"]
