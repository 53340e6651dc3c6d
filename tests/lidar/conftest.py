"""Shared LiDAR test data written as a user's files are (the writers live in
:mod:`jepakit_lidar.testing`)."""

from __future__ import annotations

import pytest

from jepakit_lidar.testing import write_kitti_folder


@pytest.fixture
def kitti_folder():
    return write_kitti_folder
