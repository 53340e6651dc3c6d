"""Shared fixtures of the ecg plugin's tests (records are written with wfdb.wrsamp by
jepakit_ecg.testing)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import shutil  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from jepakit_ecg.testing import make_ptbxl  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def _ptbxl_master(tmp_path_factory):
    # wfdb.wrsamp is slow (~0.3 s a record): write the folder once per session
    return make_ptbxl(tmp_path_factory.mktemp("ptbxl-master") / "ptbxl")


@pytest.fixture
def ptbxl(_ptbxl_master, tmp_path):
    """A private copy of a 13-record PTB-XL-shaped folder (100 Hz and 500 Hz records)."""
    return shutil.copytree(_ptbxl_master, tmp_path / "ptbxl")
