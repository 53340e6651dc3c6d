"""Fixture writers: folders of pairs in the messy shapes real tools write (uint8 frames
channels-last at another size and frame count, stereo WAV at 16 kHz, MP4 through PyAV,
a labels CSV), for tests and for trying the loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .synthetic import GENRES, make_pairs


def _frames_uint8(video: np.ndarray, size: int) -> np.ndarray:
    """(3, T, s, s) float -> (T, size, size, 3) uint8, nearest-upsampled."""
    x = np.clip(video, 0.0, 1.0).transpose(1, 2, 3, 0)
    rep = max(size // x.shape[1], 1)
    x = x.repeat(rep, axis=1).repeat(rep, axis=2)
    return (x * 255).round().astype(np.uint8)


def write_pairs(
    root: str | Path, n: int = 12, seed: int = 0, layout: str = "folders", video: str = "npy", audio: str = "wav",
    labels: bool = True, rate: int = 16000, size: int = 32, frames: int = 12, stereo: bool = True,
) -> dict[str, Any]:
    """Write ``n`` synthetic pairs under ``root``: ``layout`` ``folders`` (``video/<id>`` +
    ``audio/<id>``, ids ``g<genre>/clipNNN``) or ``npz`` (one archive per pair); ``video``
    ``npy`` (uint8 (T, H, W, 3)), ``npz`` or ``mp4`` / ``gif`` (imageio); ``audio`` ``wav``
    (soundfile, PCM 16, stereo at ``rate``) or ``npy``. Returns the ids, genres and the
    latent factors, in id order."""
    root = Path(root)
    raw = make_pairs(n, seed, frames=frames, size=size // 2, rate=rate, seconds=1.0)
    ids = [f"g{int(g)}/clip{i:03d}" for i, g in enumerate(raw["genre"])]
    for i, key in enumerate(ids):
        frames_u8 = _frames_uint8(raw["video"][i], size)
        wave = raw["wave"][i]
        if layout == "npz":
            p = root / f"{key}.npz"
            p.parent.mkdir(parents=True, exist_ok=True)
            np.savez(p, video=frames_u8, wave=wave, rate=rate, genre=GENRES[int(raw["genre"][i])])
            continue
        vp = root / "video" / f"{key}.{video}"
        ap = root / "audio" / f"{key}.{audio}"
        vp.parent.mkdir(parents=True, exist_ok=True)
        ap.parent.mkdir(parents=True, exist_ok=True)
        if video == "npy":
            np.save(vp, frames_u8)
        elif video == "npz":
            np.savez(vp, frames=frames_u8)
        else:
            import imageio.v3 as iio

            if video == "gif":
                iio.imwrite(vp, frames_u8, plugin="pillow", duration=80, loop=0)
            else:
                iio.imwrite(vp, frames_u8, plugin="pyav", codec="libx264", fps=frames)
        if audio == "wav":
            import soundfile

            data = np.stack([wave, 0.5 * wave], axis=1) if stereo else wave
            soundfile.write(str(ap), data, rate, subtype="PCM_16")
        else:
            np.save(ap, wave)
    if labels and layout == "folders":
        with open(root / "labels.csv", "w") as f:
            f.write("id,genre\n")
            for key, g in zip(ids, raw["genre"]):
                f.write(f"{key},{GENRES[int(g)]}\n")
    order = np.argsort(ids)
    return {"ids": [ids[i] for i in order], "genre": raw["genre"][order], "tempo": raw["tempo"][order],
            "pitch": raw["pitch"][order], "phase": raw["phase"][order]}


__all__ = ["write_pairs"]
