"""Trajectory files round-trip (npz flat and grouped, Parquet, HDF5), and every bad file is
one line naming it and the fix."""

from __future__ import annotations

import numpy as np
import pytest

from jepakit.kit import DataError
from jepakit_control.io import read_episodes
from jepakit_control.testing import tagged_episodes, write_broken, write_tagged

LENGTHS = [12, 9, 15]


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.obs, y.obs)
        np.testing.assert_array_equal(x.actions, y.actions)
        np.testing.assert_array_equal(x.states, y.states)
        np.testing.assert_allclose(x.rewards, y.rewards)
        assert x.success == y.success


@pytest.mark.parametrize("name,layout", [("t.npz", "flat"), ("t.npz", "grouped"), ("t.parquet", "flat"), ("t.h5", "grouped")])
def test_trajectory_files_round_trip(tmp_path, name, layout):
    if name.endswith(".h5"):
        pytest.importorskip("h5py")
    final = layout == "grouped"  # grouped files keep the final observation (Minari's L + 1)
    path = write_tagged(tmp_path / name, LENGTHS, layout, final_obs=final)
    episodes, names = read_episodes(path)
    _same(episodes, tagged_episodes(LENGTHS, final_obs=final))
    assert names == ["episode", "step"]
    assert all(str(path) in e.source for e in episodes)


def test_flat_episode_boundaries_from_ids_and_d4rl_flags(tmp_path):
    arrays = dict(np.load(write_tagged(tmp_path / "a.npz", LENGTHS)))
    ends = arrays.pop("episode_ends")
    ids = np.repeat(np.arange(3) * 7, LENGTHS)  # any ids, contiguous runs
    np.savez(tmp_path / "ids.npz", **arrays, episode=ids)
    terminals = np.zeros(len(ids), bool)
    terminals[ends[:2] - 1] = True  # the last episode ends by the rows running out
    np.savez(tmp_path / "d4rl.npz", **arrays, terminals=terminals)
    for f in ("ids.npz", "d4rl.npz"):
        eps, _ = read_episodes(tmp_path / f)
        assert [len(e.obs) for e in eps] == LENGTHS
        assert [int(e.obs[0, 0]) for e in eps] == [0, 1, 2]


def test_a_folder_reads_every_file_and_skips_a_bad_one_with_its_reason(tmp_path):
    write_tagged(tmp_path / "a.npz", [10, 11])
    write_tagged(tmp_path / "b.parquet", [12])
    write_broken(tmp_path / "c.npz", "nan")
    with pytest.warns(Warning, match=r"skipped .*c\.npz.*NaN or Inf in actions"):
        eps, _ = read_episodes(tmp_path)
    assert [len(e.obs) for e in eps] == [10, 11, 12]


@pytest.mark.parametrize("defect,message", [
    ("nan", r"NaN or Inf in actions at step 3; repair or drop"),
    ("lengths", r"rows of actions for 11 observations"),
    ("ends", r"episode_ends must rise strictly and end at the row count 11"),
    ("split", r"episode 0 is split .*sort the rows by episode"),
    ("keys", r"no 'observations' array"),
])
def test_bad_files_are_one_line_naming_the_file_and_the_fix(tmp_path, defect, message):
    path = write_broken(tmp_path / f"{defect}.npz", defect)
    with pytest.raises(DataError, match=message) as err:
        read_episodes(path)
    text = str(err.value)
    assert "\n" not in text and str(path) in text


def test_unequal_episode_shapes_and_unknown_formats_are_refused(tmp_path):
    eps = tagged_episodes([8, 8])
    eps[1].obs = eps[1].obs[:, :2]
    from jepakit_control.io import write_episodes

    write_episodes(tmp_path / "shapes.npz", eps, "grouped")
    with pytest.raises(DataError, match="observations of shape .* every episode"):
        read_episodes(tmp_path / "shapes.npz")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(DataError, match=r"unknown trajectory format '.csv'"):
        read_episodes(tmp_path / "x.csv")
    with pytest.raises(DataError, match="no trajectory files"):
        read_episodes(tmp_path / "empty") if (tmp_path / "empty").mkdir() is None else None
