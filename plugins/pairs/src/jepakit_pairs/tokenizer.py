"""One tokenizer, two modalities: video tubelets and music spectrogram patches as the two
segments of one layout, so one shared transformer embeds either (each segment at the
positions of its own grid plus a segment embedding, added by the core)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from jepakit.contract import Batch, Layout, Tokenizer
from jepakit.kit import as_shape, check


class PairTokenizer(Tokenizer):
    """``video`` (B, 3, T, S, S) cut into ``tubelet`` (t, h, w) tubelets, ``audio`` (B,
    n_mels, frames) into patches of ``audio_patch`` frames x all mel bands; each linearly
    embedded (one projection per modality). Layout: segments ``video`` (T/t, S/h, S/w)
    and ``audio`` (frames / audio_patch,). ``video_shape`` and ``audio_shape`` are the
    data's facts (offered by the core)."""

    def __init__(self, dim: int, video_shape: Sequence[int], audio_shape: Sequence[int],
                 tubelet: Sequence[int] | int = (2, 4, 4), audio_patch: int = 2):
        super().__init__()
        c, t, h, w = (int(s) for s in video_shape)
        m, f = (int(s) for s in audio_shape)
        tt, th, tw = as_shape(tubelet, 3, "tokenizer.tubelet")
        check(t % tt == 0 and h % th == 0 and w % tw == 0,
              f"tokenizer.tubelet {(tt, th, tw)} must divide the clip's (frames, size, size) {(t, h, w)}; set data.frames/data.size or the tubelet")
        check(f % int(audio_patch) == 0, f"tokenizer.audio_patch {audio_patch} must divide data.audio_frames {f}")
        self.dim = int(dim)
        self.c, self.tubelet, self.ap, self.n_mels = c, (tt, th, tw), int(audio_patch), m
        self.vgrid = (t // tt, h // th, w // tw)
        self.agrid = (f // int(audio_patch),)
        self.video = nn.Linear(c * tt * th * tw, self.dim)
        self.audio = nn.Linear(m * int(audio_patch), self.dim)

    def layout(self, batch: Batch) -> Layout:
        return Layout.of_segments([("video", self.vgrid), ("audio", self.agrid)])

    def embed(self, batch: Batch) -> Tensor:
        v = batch["video"].to(self.video.weight.dtype)
        b = v.shape[0]
        (gt, gh, gw), (tt, th, tw) = self.vgrid, self.tubelet
        check(tuple(v.shape[1:]) == (self.c, gt * tt, gh * th, gw * tw),
              f"video batch has shape {tuple(v.shape[1:])}, the tokenizer was built for {(self.c, gt * tt, gh * th, gw * tw)}")
        v = v.reshape(b, self.c, gt, tt, gh, th, gw, tw).permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, gt * gh * gw, -1)
        a = batch["audio"].to(self.audio.weight.dtype)
        check(tuple(a.shape[1:]) == (self.n_mels, self.agrid[0] * self.ap),
              f"audio batch has shape {tuple(a.shape[1:])}, the tokenizer was built for {(self.n_mels, self.agrid[0] * self.ap)}")
        a = a.reshape(b, self.n_mels, self.agrid[0], self.ap).permute(0, 2, 1, 3).reshape(b, self.agrid[0], -1)
        return torch.cat([self.video(v), self.audio(a)], dim=1)


__all__ = ["PairTokenizer"]
