"""T-JEPA feature tokenizer: one token per column plus learnable regularization tokens.

* numeric column j: ``x_j * w_j + b_j`` (T-JEPA / FT-Transformer per-feature affine map),
  or with ``numeric="periodic"`` the PLR embedding of Gorishniy et al. (2022):
  ``ReLU(Linear_j([cos(2 pi c_j x), sin(2 pi c_j x)]))`` with learned frequencies ``c_j``;
  a missing value takes the column's learned "missing" vector instead;
* categorical column j: a row of the column's own embedding table (row 0 = missing,
  row 1 = unknown category, then the vocabulary);
* every token gets its column's learned embedding (so the identity of a column is known
  even where the encoder's position embedding is turned off);
* ``num_reg_tokens`` learnable regularization tokens (T-JEPA) are the layout's prefix:
  always visible, never masked or predicted, so mask indices stay column indices.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from jepakit import Batch, DataError, Layout, Tokenizer
from jepakit.kit import check

from .schema import Schema


class TabularTokenizer(Tokenizer):
    """One token per column of a fitted :class:`~jepakit_tabular.schema.Schema`."""

    def __init__(
        self,
        dim: int,
        schema: dict | Schema,
        num_reg_tokens: int = 2,
        numeric: str = "affine",
        frequencies: int = 16,
        sigma: float = 1.0,
        column_embedding: bool = True,
    ):
        super().__init__()
        schema = Schema.from_dict(schema)
        check(num_reg_tokens >= 0, f"num_reg_tokens must be >= 0, got {num_reg_tokens}")
        check(numeric in ("affine", "periodic"), f"numeric must be 'affine' or 'periodic', got {numeric!r}")
        check(frequencies >= 1 and sigma > 0, "frequencies must be >= 1 and sigma > 0")
        self.dim, self.numeric_kind = int(dim), numeric
        self.n_num, self.n_cat = len(schema.numeric), len(schema.categorical)
        self.n_cols = self.n_num + self.n_cat
        check(self.n_cols > 0, "the schema has no feature columns")
        self.num_reg_tokens = int(num_reg_tokens)
        bound = 1.0 / math.sqrt(dim)
        if self.n_num:
            if numeric == "affine":
                self.num_weight = nn.Parameter(torch.empty(self.n_num, dim).uniform_(-bound, bound))
                self.num_bias = nn.Parameter(torch.empty(self.n_num, dim).uniform_(-bound, bound))
            else:
                self.freq = nn.Parameter(torch.randn(self.n_num, frequencies) * sigma)
                b2 = 1.0 / math.sqrt(2 * frequencies)
                self.plr_weight = nn.Parameter(torch.empty(self.n_num, 2 * frequencies, dim).uniform_(-b2, b2))
                self.plr_bias = nn.Parameter(torch.empty(self.n_num, dim).uniform_(-b2, b2))
            self.num_missing = nn.Parameter(torch.empty(self.n_num, dim).uniform_(-bound, bound))
        cards = schema.cardinalities
        if cards:
            self.register_buffer("cat_offsets", torch.tensor([0, *cards[:-1]]).cumsum(0), persistent=False)
            self.register_buffer("cat_cards", torch.tensor(cards), persistent=False)
            self.cat_table = nn.Embedding(sum(cards), dim)
            nn.init.uniform_(self.cat_table.weight, -bound, bound)
        self.column = nn.Parameter(torch.zeros(self.n_cols, dim)) if column_embedding else None
        if self.column is not None:
            nn.init.trunc_normal_(self.column, std=0.02)
        self.reg_tokens = nn.Parameter(torch.zeros(1, self.num_reg_tokens, dim)) if self.num_reg_tokens else None
        if self.reg_tokens is not None:
            nn.init.trunc_normal_(self.reg_tokens, std=0.02)

    def no_weight_decay(self) -> set[str]:
        """Per-column biases, frequencies, missing-value tokens, column embeddings and
        regularization tokens are offsets and codes, not weights: they are not decayed."""
        names = {"num_bias", "num_missing", "freq", "plr_bias", "column", "reg_tokens"}
        return {n for n, _ in self.named_parameters(recurse=False) if n in names}

    def layout(self, batch: Batch) -> Layout:
        return Layout((self.n_cols,), num_prefix=self.num_reg_tokens)

    def _check(self, batch: Batch, key: str, width: int) -> Tensor:
        if key not in batch:
            raise DataError(f"the batch has no {key!r} entry (keys: {', '.join(batch)}); is this tabular data?")
        x = batch[key]
        if x.ndim != 2 or x.shape[1] != width:
            raise DataError(f"tabular tokenizer expects {key!r} of shape (B, {width}), got {tuple(x.shape)}")
        return x

    def embed(self, batch: Batch) -> Tensor:
        parts = []
        if self.n_num:
            x = self._check(batch, "num", self.n_num).float()
            miss = self._check(batch, "num_missing", self.n_num).bool()
            x = x.masked_fill(miss, 0.0)
            if self.numeric_kind == "affine":
                tok = x.unsqueeze(-1) * self.num_weight + self.num_bias
            else:
                angle = 2 * math.pi * x.unsqueeze(-1) * self.freq  # (B, n, k)
                feats = torch.cat([angle.cos(), angle.sin()], dim=-1)
                tok = torch.relu(torch.einsum("bnk,nkd->bnd", feats, self.plr_weight) + self.plr_bias)
            tok = torch.where(miss.unsqueeze(-1), self.num_missing.to(tok.dtype).expand_as(tok), tok)
            parts.append(tok)
        if self.n_cat:
            codes = self._check(batch, "cat", self.n_cat).long()
            if bool(((codes < 0) | (codes >= self.cat_cards)).any()):
                raise DataError("categorical codes out of range for this schema; encode rows with the saved schema")
            parts.append(self.cat_table(codes + self.cat_offsets))
        tokens = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        if self.column is not None:
            tokens = tokens + self.column.to(tokens.dtype)
        return tokens

    def prefix(self, batch_size: int) -> Tensor | None:
        if self.reg_tokens is None:
            return None
        return self.reg_tokens.expand(batch_size, -1, -1)
