"""ECG tokenizers: ECG-JEPA's joint patching (all leads of one window -> one token) and
a per-lead variant (lead x time tokens with a lead embedding) that tolerates missing
leads by flagging their tokens invalid."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from jepakit.contract import Batch, Layout, Tokenizer
from jepakit.kit import DataError, check


def _signal(batch: Batch, key: str, in_chans: int, length: int) -> Tensor:
    if key not in batch:
        raise DataError(f"the batch has no {key!r} entry (keys: {', '.join(batch)}); set tokenizer.key")
    x = batch[key]
    if tuple(x.shape[1:]) != (in_chans, length):
        raise DataError(f"ECG tokenizer expects signals of shape (B, {in_chans}, {length}), got {tuple(x.shape)}")
    return x.float()


def _present(batch: Batch, b: int, in_chans: int, device: torch.device) -> Tensor:
    p = batch.get("present")
    if p is None:
        return torch.ones(b, in_chans, dtype=torch.bool, device=device)
    return p.to(device=device, dtype=torch.bool)


class JointPatchTokenizer(Tokenizer):
    """All leads of ``patch`` consecutive samples -> one token (ECG-JEPA): a linear map
    of the (leads x patch) window, grid ``(length // patch,)``. Absent leads are zeros in
    the signal; a learned per-lead "absent" vector tells the model which ones."""

    def __init__(self, dim: int, in_chans: int, length: int, patch: int = 25, key: str = "signal"):
        super().__init__()
        check(patch >= 1 and length % patch == 0, f"patch {patch} must divide the crop length {length}")
        self.dim, self.in_chans, self.length, self.patch, self.key = dim, int(in_chans), int(length), int(patch), key
        self.grid = (self.length // self.patch,)
        self.proj = nn.Conv1d(self.in_chans, dim, kernel_size=self.patch, stride=self.patch)
        nn.init.trunc_normal_(self.proj.weight, std=(1.0 / (self.in_chans * self.patch)) ** 0.5)
        nn.init.zeros_(self.proj.bias)
        self.absent = nn.Linear(self.in_chans, dim, bias=False)
        nn.init.zeros_(self.absent.weight)

    def layout(self, batch: Batch) -> Layout:
        return Layout(self.grid)

    def embed(self, batch: Batch) -> Tensor:
        x = _signal(batch, self.key, self.in_chans, self.length)
        tokens = self.proj(x).transpose(1, 2)
        missing = (~_present(batch, x.shape[0], self.in_chans, x.device)).to(tokens.dtype)
        return tokens + self.absent(missing).unsqueeze(1)


class PerLeadTokenizer(Tokenizer):
    """Each lead's ``patch``-sample window -> one token: a shared linear map plus a
    learned lead embedding, grid ``(in_chans, length // patch)``. Tokens of absent leads
    are flagged ``valid = False`` so maskers never pick them and pooling skips them."""

    def __init__(self, dim: int, in_chans: int, length: int, patch: int = 25, key: str = "signal"):
        super().__init__()
        check(patch >= 1 and length % patch == 0, f"patch {patch} must divide the crop length {length}")
        self.dim, self.in_chans, self.length, self.patch, self.key = dim, int(in_chans), int(length), int(patch), key
        self.steps = self.length // self.patch
        self.grid = (self.in_chans, self.steps)
        self.proj = nn.Linear(self.patch, dim)
        nn.init.trunc_normal_(self.proj.weight, std=(1.0 / self.patch) ** 0.5)
        nn.init.zeros_(self.proj.bias)
        self.lead = nn.Parameter(torch.zeros(self.in_chans, dim))
        nn.init.trunc_normal_(self.lead, std=0.02)

    def no_weight_decay(self) -> set[str]:
        return {"lead"}  # a learned lead embedding, like a position table

    def layout(self, batch: Batch) -> Layout:
        x = _signal(batch, self.key, self.in_chans, self.length)
        present = _present(batch, x.shape[0], self.in_chans, x.device)
        valid = present.unsqueeze(-1).expand(-1, -1, self.steps).reshape(x.shape[0], -1)
        return Layout(self.grid, flags={"valid": valid})

    def embed(self, batch: Batch) -> Tensor:
        x = _signal(batch, self.key, self.in_chans, self.length)
        b = x.shape[0]
        patches = x.reshape(b, self.in_chans, self.steps, self.patch)
        tokens = self.proj(patches) + self.lead[None, :, None, :].to(x.dtype)
        return tokens.reshape(b, self.in_chans * self.steps, self.dim)
