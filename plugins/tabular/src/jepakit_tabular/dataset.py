"""Map-style datasets over encoded tables: one row per item, standardised on the fly.

No tensor of the whole table's tokens ever exists: an item is one row's numeric values
(standardised with the schema, missing flagged), its categorical codes and, for tasks,
its label. Rows come from an in-memory array (tables read by pandas) or straight from a
``.npy`` file (:class:`jepakit_tabular.io.NpyRows`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .schema import Schema

# standardised values beyond this are clipped so a wild outlier cannot blow up the
# affine embedding (10 sd is far beyond any ordinary value)
CLIP = 10.0


class TableDataset:
    """Rows ``indices`` of a table as batch dicts ``{"num", "num_missing", "cat"[, "label"]}``.

    ``rows`` has ``row(i)`` returning the numeric features of row ``i`` in schema order
    (``cols`` selects them from a wider raw row); ``cat`` is an ``(N, n_cat)`` code array;
    ``labels`` the per-row labels (indexed like the table) or None.
    """

    def __init__(
        self,
        rows: Any,
        cat: np.ndarray,
        schema: Schema,
        indices: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        cols: np.ndarray | None = None,
        clip: float = CLIP,
    ):
        self.rows, self.cat, self.schema = rows, cat, schema
        self.indices = None if indices is None else np.asarray(indices, dtype=np.int64)
        self.cols = None if cols is None else np.asarray(cols, dtype=np.int64)
        self._labels = labels
        self.mean = np.array([c["mean"] for c in schema.numeric], dtype=np.float32)
        self.std = np.array([c["std"] for c in schema.numeric], dtype=np.float32)
        self.clip = float(clip)
        self.n_total = rows.shape[0]

    def __len__(self) -> int:
        return self.n_total if self.indices is None else len(self.indices)

    def _row_index(self, i: int) -> int:
        if i < 0 or i >= len(self):
            raise IndexError(i)
        return int(i) if self.indices is None else int(self.indices[i])

    @property
    def ids(self) -> np.ndarray:
        """One id per item (:mod:`jepakit.export`'s item-id protocol): its row number in the table."""
        return np.arange(self.n_total) if self.indices is None else self.indices

    @property
    def labels(self) -> np.ndarray:
        """Labels of the items in order (the core reads this instead of every item)."""
        if self._labels is None:
            raise AttributeError("labels")
        return self._labels if self.indices is None else self._labels[self.indices]

    def numeric(self, r: int) -> np.ndarray:
        x = self.rows.row(r)
        if self.cols is not None:
            x = x[self.cols]
        return x.astype(np.float32, copy=False)

    def __getitem__(self, i: int) -> dict[str, Any]:
        r = self._row_index(i)
        raw = self.numeric(r)
        miss = np.isnan(raw)
        z = np.where(miss, 0.0, (raw - self.mean) / self.std).astype(np.float32)
        np.clip(z, -self.clip, self.clip, out=z)
        item = {
            "num": torch.from_numpy(z),
            "num_missing": torch.from_numpy(miss),
            "cat": torch.from_numpy(np.asarray(self.cat[r], dtype=np.int64)),
        }
        if self._labels is not None:
            y = self._labels[r]
            item["label"] = torch.tensor(int(y)) if self.schema.task == "multiclass" else torch.tensor(float(y))
        return item

    def features(self, positions: np.ndarray | None = None) -> np.ndarray:
        """Raw-column features for baselines: standardised numeric columns (missing = 0)
        plus a missing indicator per numeric column that has gaps, and one-hot categories
        (missing and unknown get their own columns)."""
        positions = np.arange(len(self)) if positions is None else np.asarray(positions)
        items = [self[int(p)] for p in positions]
        num = np.stack([it["num"].numpy() for it in items]) if items else np.zeros((0, len(self.mean)), np.float32)
        miss = np.stack([it["num_missing"].numpy() for it in items]).astype(np.float32) if items else num
        parts = [num]
        gappy = [j for j, c in enumerate(self.schema.numeric) if c.get("missing", 0.0) > 0]
        if miss.size and gappy:
            parts.append(miss[:, gappy])
        if self.schema.categorical:
            codes = np.stack([it["cat"].numpy() for it in items])
            for j, card in enumerate(self.schema.cardinalities):
                parts.append(np.eye(card, dtype=np.float32)[codes[:, j]])
        return np.concatenate(parts, axis=1).astype(np.float32)
