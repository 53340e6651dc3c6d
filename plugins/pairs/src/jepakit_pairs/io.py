"""Readers: video as frame arrays or files, music as waveforms or files, and the log-mel
spectrogram the tokenizer reads.

* video: ``.npy`` / ``.npz`` frame arrays ``(T, H, W)``, ``(T, H, W, C)`` or ``(C, T, H, W)``
  (uint8 0-255 or float 0-1), or a video file (``.mp4``, ``.avi``, ``.mov``, ``.mkv``,
  ``.webm``, ``.gif``) decoded by imageio through PyAV (``pip install "jepakit-pairs[video]"``);
* music: ``.wav``, ``.flac``, ``.ogg`` (soundfile) or ``.npy`` waveforms (the ``rate`` of
  the data, or an ``.npz`` holding ``wave`` and ``rate``).

Every reader raises :class:`jepakit.kit.DataError` in one line naming the file and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from jepakit.kit import DataError

VIDEO_ARRAYS = (".npy", ".npz")
VIDEO_FILES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif", ".m4v")
AUDIO_FILES = (".wav", ".flac", ".ogg")
AUDIO_ARRAYS = (".npy", ".npz")


# -- music --------------------------------------------------------------------------------


def mel_filters(n_mels: int, n_fft: int, rate: int, fmin: float = 50.0, fmax: float | None = None) -> np.ndarray:
    """``(n_mels, n_fft // 2 + 1)`` triangular filters on the HTK mel scale
    (``2595 log10(1 + f / 700)``), each normalised to unit area so that a filter's output
    does not grow with its bandwidth."""
    fmax = rate / 2 if fmax is None else fmax
    mel = lambda f: 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)  # noqa: E731
    edges = hz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    freqs = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    fb = np.zeros((n_mels, freqs.size), dtype=np.float64)
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        up = (freqs - lo) / max(mid - lo, 1e-9)
        down = (hi - freqs) / max(hi - mid, 1e-9)
        fb[m] = np.clip(np.minimum(up, down), 0.0, None)
        fb[m] /= max(fb[m].sum(), 1e-9)
    return fb.astype(np.float32)


def log_mel(wave: np.ndarray, rate: int, n_mels: int = 16, frames: int = 32, n_fft: int = 256) -> np.ndarray:
    """``(n_mels, frames)`` log-mel spectrogram of a mono ``wave`` (or ``(n, samples)``
    waves -> ``(n, n_mels, frames)``): Hann windows of ``n_fft`` samples, the hop chosen so
    that exactly ``frames`` windows cover the wave (250 samples for 1 s at 8 kHz and 32
    frames: 31 ms windows every 31 ms), ``log(1e-6 + power)``."""
    x = np.atleast_2d(np.asarray(wave, dtype=np.float32))
    samples = x.shape[-1]
    hop = max((samples - n_fft) // max(frames - 1, 1), 1)
    need = n_fft + hop * (frames - 1)
    if samples < need:
        x = np.pad(x, ((0, 0), (0, need - samples)))
    idx = np.arange(frames)[:, None] * hop + np.arange(n_fft)[None]
    win = np.hanning(n_fft).astype(np.float32)
    spec = np.abs(np.fft.rfft(x[:, idx] * win, axis=-1)) ** 2  # (n, frames, bins)
    mel = spec @ mel_filters(n_mels, n_fft, rate).T  # (n, frames, n_mels)
    out = np.log(1e-6 + mel).transpose(0, 2, 1).astype(np.float32)
    return out[0] if np.ndim(wave) == 1 else out


def fit_wave(wave: np.ndarray, rate: int, target_rate: int, seconds: float, path: Any = "") -> np.ndarray:
    """Mono ``wave`` resampled from ``rate`` to ``target_rate`` (polyphase) and cropped
    (centre) or zero-padded to ``seconds``."""
    from fractions import Fraction

    x = np.asarray(wave, dtype=np.float64)
    if x.ndim == 2:  # (samples, channels) as soundfile gives it, or (channels, samples)
        x = x.mean(axis=1) if x.shape[0] >= x.shape[1] else x.mean(axis=0)
    if x.ndim != 1 or x.size == 0:
        raise DataError(f"{path}: a waveform must be 1-D (or samples x channels), got shape {np.shape(wave)}; save one channel")
    if not np.isfinite(x).all():
        raise DataError(f"{path}: the waveform holds NaN or Inf; clean or drop the file")
    if int(rate) != int(target_rate):
        from scipy.signal import resample_poly

        ratio = Fraction(int(target_rate), int(rate)).limit_denominator(1000)
        x = resample_poly(x, ratio.numerator, ratio.denominator)
    n = int(round(target_rate * seconds))
    if x.size >= n:
        start = (x.size - n) // 2
        x = x[start : start + n]
    else:
        x = np.pad(x, (0, n - x.size))
    return x.astype(np.float32)


def read_audio(path: str | Path, rate: int) -> tuple[np.ndarray, int]:
    """``(wave, its rate)`` of an audio file or array (``.npy``: the data's ``rate``)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in AUDIO_FILES:
        try:
            import soundfile
        except ImportError:  # pragma: no cover - soundfile is a dependency
            raise DataError(f"{p}: reading {suffix} needs soundfile: pip install soundfile") from None
        try:
            wave, sr = soundfile.read(str(p), dtype="float32", always_2d=False)
        except Exception as exc:  # libsndfile's own error types
            raise DataError(f"{p}: soundfile cannot read it ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); re-encode it as WAV") from None
        return np.asarray(wave), int(sr)
    if suffix == ".npy":
        return _load_array(p), int(rate)
    if suffix == ".npz":
        with _open_npz(p) as z:
            key = "wave" if "wave" in z else ("audio" if "audio" in z else None)
            if key is None:
                raise DataError(f"{p}: an audio .npz needs a 'wave' array (and optionally 'rate'); it holds {sorted(z.files)}")
            sr = int(z["rate"]) if "rate" in z else int(rate)
            return np.asarray(z[key]), sr
    raise DataError(f"{p}: not an audio file this plugin reads ({', '.join(AUDIO_FILES + AUDIO_ARRAYS)})")


# -- video --------------------------------------------------------------------------------


def _load_array(p: Path) -> np.ndarray:
    try:
        return np.load(p, allow_pickle=False)
    except Exception as exc:
        raise DataError(f"{p}: not a readable .npy array ({type(exc).__name__}); save it with numpy.save") from None


def _open_npz(p: Path):
    try:
        return np.load(p, allow_pickle=False)
    except Exception as exc:
        raise DataError(f"{p}: not a readable .npz archive ({type(exc).__name__}); save it with numpy.savez") from None


def read_video(path: str | Path) -> np.ndarray:
    """Raw frames of a video array or file, as stored (see :func:`fit_video`)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        return _load_array(p)
    if suffix == ".npz":
        with _open_npz(p) as z:
            key = next((k for k in ("video", "frames") if k in z), None)
            if key is None:
                raise DataError(f"{p}: a video .npz needs a 'video' (or 'frames') array; it holds {sorted(z.files)}")
            return np.asarray(z[key])
    if suffix in VIDEO_FILES:
        try:
            import imageio.v3 as iio
        except ImportError:
            raise DataError(f"{p}: decoding {suffix} needs imageio and PyAV: pip install 'jepakit-pairs[video]', "
                            "or save the frames as .npy") from None
        try:
            plugin = "pillow" if suffix == ".gif" else "pyav"
            return np.asarray(iio.imread(str(p), plugin=plugin, index=None))
        except ImportError:
            raise DataError(f"{p}: decoding {suffix} needs PyAV: pip install 'jepakit-pairs[video]', or save the frames as .npy") from None
        except Exception as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"{p}: the video cannot be decoded ({msg}); re-encode it (e.g. H.264 .mp4) or save the frames as .npy") from None
    raise DataError(f"{p}: not a video this plugin reads ({', '.join(VIDEO_ARRAYS + VIDEO_FILES)})")


def fit_video(frames: np.ndarray, num_frames: int, size: int, path: Any = "") -> np.ndarray:
    """``(3, num_frames, size, size)`` float32 in [0, 1] from frames ``(T, H, W)``,
    ``(T, H, W, C)`` (C = 1, 3 or 4) or ``(C, T, H, W)``: uint8 scaled by 1/255, grey
    repeated to RGB, alpha dropped, ``num_frames`` frames picked evenly over the clip and
    each resized (area average) to ``size`` x ``size``."""
    import torch
    import torch.nn.functional as F

    x = np.asarray(frames)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    elif not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise DataError(f"{path}: frames must be numbers, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if x.ndim == 3:  # (T, H, W) grey
        x = x[..., None]
    if x.ndim != 4:
        raise DataError(f"{path}: frames must be (T, H, W), (T, H, W, C) or (C, T, H, W), got shape {x.shape}")
    if x.shape[0] in (1, 3, 4) and x.shape[-1] not in (1, 3, 4):  # (C, T, H, W)
        x = x.transpose(1, 2, 3, 0)
    if x.shape[-1] == 4:
        x = x[..., :3]
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if x.shape[-1] != 3:
        raise DataError(f"{path}: frames need 1, 3 or 4 channels last (T, H, W, C), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise DataError(f"{path}: the frames hold NaN or Inf; clean or drop the clip")
    t = x.shape[0]
    if t < 1:
        raise DataError(f"{path}: the clip has no frame")
    pick = np.round(np.linspace(0, t - 1, num_frames)).astype(int)  # repeats frames of a shorter clip
    v = torch.from_numpy(np.ascontiguousarray(x[pick].transpose(0, 3, 1, 2)))  # (T, 3, H, W)
    if v.shape[-2:] != (size, size):
        v = F.interpolate(v, size=(size, size), mode="area" if min(v.shape[-2:]) >= size else "bilinear",
                          **({} if min(v.shape[-2:]) >= size else {"align_corners": False}))
    return v.permute(1, 0, 2, 3).contiguous().numpy()


__all__ = ["AUDIO_ARRAYS", "AUDIO_FILES", "VIDEO_ARRAYS", "VIDEO_FILES", "fit_video", "fit_wave", "log_mel", "mel_filters",
           "read_audio", "read_video"]
