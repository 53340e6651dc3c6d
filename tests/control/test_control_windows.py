"""Windows: action chunks align with observations, and no window reaches across an episode
boundary, through the loader from a file."""

from __future__ import annotations

import numpy as np
import pytest

from jepakit_control.data import load
from jepakit_control.episodes import Windows
from jepakit_control.testing import tagged_episodes, write_tagged

T, K = 4, 3


def _check_window(item, e, t, length):
    obs, fut, act = item["obs"], item["future"], item["actions"]
    # every row is episode e's: nothing of the previous or the next episode
    assert (obs[:, 0] == e).all() and (fut[:, 0] == e).all() and (act[:, 0] == e).all()
    # past: o[t-T+1 .. t], the steps before the start repeating o[0]
    np.testing.assert_array_equal(obs[:, 1], np.clip(np.arange(t - T + 1, t + 1), 0, None))
    # the chunk a[t .. t+K-1] starts at the current observation o[t] (obs[-1])
    np.testing.assert_array_equal(act[:, 1], np.arange(t, t + K) + 0.5)
    assert act[0, 1] - 0.5 == obs[-1, 1]
    # future: o[t+1 .. t+K], the observations those actions led to, inside the episode
    np.testing.assert_array_equal(fut[:, 1], np.arange(t + 1, t + K + 1))
    assert fut[-1, 1] <= length - 1


@pytest.mark.parametrize("final_obs", [False, True])
def test_chunks_align_and_never_cross_episode_boundaries(final_obs):
    lengths = [10, 5, 4, 12]  # 4 steps: too short for a chunk of 3 with a future
    eps = tagged_episodes(lengths, final_obs=final_obs)
    w = Windows(eps, T, K, labelled=[True] * 4)
    seen = {}
    for i in range(len(w)):
        e, t = (int(x) for x in w.rows[i])
        _check_window(w[i], e, t, len(eps[e].obs))
        seen.setdefault(e, []).append(t)
    # every step that has K future actions and observations inside its episode, from step 0
    for e, n in enumerate(lengths):
        last = min(len(eps[e].obs) - 1 - K, n - K)
        assert seen.get(e, []) == list(range(0, last + 1))


def test_loading_a_flat_file_keeps_episodes_apart_and_labels_only_demonstrations(tmp_path):
    path = write_tagged(tmp_path / "d.npz", [14, 9, 11, 13, 10, 12, 9, 15, 10, 11])
    bundle = load(str(tmp_path / "d.npz"), window=T, chunk=K, demos=2, labelled_share=None, test_fraction=0.2, seed=1)
    data = bundle.pretrain.control
    assert len(data.train) == 8 and len(data.test) == 2
    train_ids = {int(e.obs[0, 0]) for e in data.train}
    assert not train_ids & {int(e.obs[0, 0]) for e in data.test}  # whole episodes held out
    demo_ids = {int(data.train[i].obs[0, 0]) for i in data.demos}
    assert len(demo_ids) == 2 and all(i % 2 == 0 for i in demo_ids)  # odd episodes failed: never imitated
    for i in range(len(bundle.pretrain)):
        item = bundle.pretrain[i]
        e = int(item["obs"][0, 0])
        assert item["labelled"] == float(e in demo_ids)
        _check_window(item, e, int(item["obs"][-1, 1]), len(data.train[[int(x.obs[0, 0]) for x in data.train].index(e)].obs))
    # probe items carry the true state at t (or t + chunk), and no future observation
    task = bundle.tasks["future-step"]
    item = task.test[0]
    assert "future" not in item and item["label"] == item["obs"][-1, 1] + K
    assert path.exists()


def test_labelled_share_oversamples_demonstrations_and_one_keeps_them_only():
    eps = tagged_episodes([20] * 6)
    labelled = [True, False, False, False, False, False]
    share = Windows(eps, T, K, labelled, labelled_share=0.5)
    lab = np.array([share[i]["labelled"] for i in range(len(share))])
    assert 0.4 < lab.mean() < 0.6
    only = Windows(eps, T, K, labelled, labelled_share=1.0)
    assert all(only[i]["labelled"] == 1.0 for i in range(len(only))) and len(only) == 20 - K
