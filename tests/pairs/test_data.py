"""Paired data: both halves of an item stay together through batching, shuffling and the
folder readers; missing or unreadable halves are told, never silently re-matched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jepakit.errors import DataError
from jepakit.train import batch_indices, collate_of
from jepakit_pairs.data import PairDataset, hide_labels, load
from jepakit_pairs.io import fit_video, fit_wave, log_mel
from jepakit_pairs.synthetic import make_pairs
from jepakit_pairs.testing import write_pairs


def _assert_aligned(ds: PairDataset, batch: dict) -> None:
    idx = batch["pair"].long()
    assert torch.equal(batch["video"], ds.video[idx])
    assert torch.equal(batch["audio"], ds.audio[idx])
    if ds.labels is not None:
        assert torch.equal(batch[ds.label_key].long(), torch.as_tensor(ds.labels[idx.numpy()]))


def test_pairs_stay_aligned_through_the_training_loops_shuffled_batches(small_bundle):
    ds = small_bundle.pretrain
    collate = collate_of(small_bundle)
    seen = set()
    for step in range(6):  # the loop's own per-step shuffle
        idx = batch_indices(len(ds), 16, seed=0, step=step)
        batch = collate([ds[i] for i in idx])
        _assert_aligned(ds, batch)
        seen.update(batch["pair"].tolist())
    assert len(seen) > 16  # batches differ: the check was not made on one ordering only
    loader = torch.utils.data.DataLoader(ds, batch_size=10, shuffle=True, generator=torch.Generator().manual_seed(1))
    order = []
    for batch in loader:
        _assert_aligned(ds, batch)
        order += batch["pair"].tolist()
    assert sorted(order) == list(range(len(ds))) and order != sorted(order)  # shuffled, every pair once
    for task in small_bundle.tasks.values():  # and the task splits, which the retrieval gallery is
        _assert_aligned(task.test, torch.utils.data.default_collate([task.test[i] for i in (5, 0, 3)]))


def test_the_two_modalities_share_the_latent_factors():
    raw = make_pairs(64, 0)
    # tempo is visible in both: blob speed (frame-to-frame centroid shift) and pulse count
    v = raw["video"][:, :, :, :, :].mean(1)  # (n, T, H, W)
    motion = np.abs(np.diff(v, axis=1)).sum((1, 2, 3))
    env = np.abs(raw["wave"]).reshape(64, 100, 80).max(2)  # 10 ms envelope
    pulses = (np.diff((env > 0.5 * env.max(1, keepdims=True)).astype(int), axis=1) == 1).sum(1)
    assert np.corrcoef(motion, raw["tempo"])[0, 1] > 0.5
    assert np.corrcoef(pulses, raw["tempo"])[0, 1] > 0.7
    # the genre is in the video's colour and in the music's spectrum
    colour = raw["video"].mean((2, 3, 4))
    for g in range(4):
        assert colour[raw["genre"] == g].mean(0).argmax() == colour[raw["genre"] == g].mean(0).argmax()


def test_labels_are_hidden_by_class_for_the_semi_supervised_objective(small_bundle):
    y = np.repeat(np.arange(4), 25)
    hidden = hide_labels(y, 0.2, 0)
    assert ((hidden >= 0).sum()) == 20 and all((hidden == k).sum() == 5 for k in range(4))
    assert np.all(hidden[hidden >= 0] == y[hidden >= 0])  # a kept label is the true one
    assert set(np.unique(small_bundle.pretrain.labels)) <= {-1, 0, 1, 2, 3}
    assert "label" in small_bundle.tasks["genre"].test[0] and "genre" in small_bundle.pretrain[0]


def test_log_mel_and_fitting_shapes():
    wave = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000).astype(np.float32)
    mel = log_mel(wave, 8000, 16, 32)
    assert mel.shape == (16, 32) and np.isfinite(mel).all()
    assert mel.mean(1).argmax() == log_mel(wave, 8000, 16, 32).mean(1).argmax()
    stereo = np.stack([wave, wave], 1)
    assert fit_wave(stereo, 8000, 8000, 0.5).shape == (4000,)
    assert fit_wave(wave, 16000, 8000, 1.0).shape == (8000,)  # 0.5 s at 16 kHz -> padded
    frames = (np.random.default_rng(0).random((5, 40, 30, 3)) * 255).astype(np.uint8)
    v = fit_video(frames, 8, 16)
    assert v.shape == (3, 8, 16, 16) and 0 <= v.min() and v.max() <= 1
    assert fit_video(np.zeros((3, 4, 16, 16), np.float32), 8, 16).shape == (3, 8, 16, 16)  # channels first
    with pytest.raises(DataError, match="clip.npy: frames must be"):
        fit_video(np.zeros((4, 4)), 8, 16, "clip.npy")


def _brightness_order(bundle) -> tuple[np.ndarray, np.ndarray]:
    ds = bundle.pretrain
    return ds.video.mean((1, 2, 3, 4)).numpy(), ds.audio.numpy()


def test_a_folder_of_pairs_keeps_each_pair_together(tmp_path):
    truth = write_pairs(tmp_path / "d", n=12, seed=1)
    bundle = load(str(tmp_path / "d"), test_fraction=0.25, label_fraction=1.0)
    ds = bundle.pretrain
    test = bundle.tasks["genre"].test
    assert len(ds) + len(test) == 12 and len(test) >= 3
    # every loaded pair is the one written under its id, both halves: the pitch sets the
    # blob's height (video) and the music's strongest mel band (audio); were the halves
    # mismatched, the two would not agree
    ids = list(ds.ids) + list(test.ids)
    video = torch.cat([ds.video, test.video])
    audio = torch.cat([ds.audio, test.audio])
    pitch = np.array([truth["pitch"][truth["ids"].index(k)] for k in ids])
    blob_height = np.array([float(v.mean((0, 1)).max(1).values.argmax()) for v in video])
    band = np.array([float(a.max(1).values.argmax()) for a in audio])
    assert np.corrcoef(pitch, blob_height)[0, 1] > 0.9
    assert np.corrcoef(blob_height, band)[0, 1] > 0.7
    genre_of = {k: g for k, g in zip(truth["ids"], truth["genre"])}
    names = bundle.tasks["genre"].classes
    for i, key in enumerate(test.ids):
        assert names[int(test.labels[i])] == ["ambient", "rock", "electro", "gamelan"][genre_of[key]]
    assert bundle.info["audio_shape"] == [16, 32] and tuple(audio.shape[1:]) == (16, 32)


def test_a_missing_half_is_an_error_naming_it_and_skip_leaves_the_pair_out(tmp_path):
    write_pairs(tmp_path / "d", n=8, seed=2, labels=False)
    lonely = sorted((tmp_path / "d" / "audio").rglob("*.wav"))[0]
    lonely.unlink()
    with pytest.raises(DataError) as err:
        load(str(tmp_path / "d"))
    msg = str(err.value)
    assert "\n" not in msg and "without music" in msg and lonely.with_suffix("").name in msg and "data.unpaired=skip" in msg
    with pytest.warns(UserWarning, match="left out 1 video\\(s\\) without music"):
        bundle = load(str(tmp_path / "d"), unpaired="skip")
    assert len(bundle.pretrain) == 7 and not bundle.tasks  # no labels: pretraining only


def test_an_unreadable_half_drops_its_pair_with_a_notice(tmp_path):
    write_pairs(tmp_path / "d", n=8, seed=2, labels=False)
    bad = sorted((tmp_path / "d" / "video").rglob("*.npy"))[1]
    bad.write_bytes(b"not an array")
    with pytest.warns(UserWarning, match=f"skipped .*{bad.name}"):
        bundle = load(str(tmp_path / "d"))
    assert len(bundle.pretrain) == 7
    for p in (tmp_path / "d" / "video").rglob("*.npy"):
        p.write_bytes(b"x")
    with pytest.raises(DataError, match="none of the 8 pairs could be read"):
        load(str(tmp_path / "d"))


def test_npz_pairs_and_a_bad_labels_file(tmp_path):
    truth = write_pairs(tmp_path / "z", n=8, seed=4, layout="npz")
    bundle = load(str(tmp_path / "z"), test_fraction=0.25)
    assert len(bundle.pretrain) + len(bundle.tasks["genre"].test) == 8
    assert bundle.tasks["genre"].classes == sorted({["ambient", "rock", "electro", "gamelan"][g] for g in truth["genre"]})
    write_pairs(tmp_path / "f", n=4, seed=4)
    (tmp_path / "f" / "labels.csv").write_text("name,genre\na,b\n")
    with pytest.raises(DataError, match="labels.csv: needs a header 'id,<label name>'"):
        load(str(tmp_path / "f"))
    with pytest.raises(DataError, match="no such folder"):
        load(str(tmp_path / "nothing"))


@pytest.mark.slow  # PyAV's import and H.264 encoding: ~15 s on one shared core
def test_video_files_decode_through_imageio(tmp_path):
    pytest.importorskip("av")
    pytest.importorskip("imageio")
    write_pairs(tmp_path / "m", n=2, seed=5, video="mp4", labels=False)
    write_pairs(tmp_path / "g", n=2, seed=5, video="gif", labels=False)
    a = load(str(tmp_path / "m")).pretrain
    b = load(str(tmp_path / "g")).pretrain
    assert a.video.shape == b.video.shape == (2, 3, 8, 16, 16)
    # lossy H.264 against lossless GIF: the same clips within compression error
    assert float((a.video - b.video).abs().mean()) < 0.08
