"""ESC-50 / ESC-10 datamodule on a tiny checkout in the official layout."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch
import torchaudio.functional as AF

from optarena.data import waveform_cache
from optarena.data.esc50 import ESC50DataModule
from optarena.data.waveform_augment import WaveformAugment
from optarena.errors import OptArenaError
from tests.esc50_fixture import CLIPS_PER_FOLD, RATE, write_esc50

SECONDS = 0.5


@pytest.fixture(scope="module")
def esc50_root(tmp_path_factory) -> Path:
    return write_esc50(tmp_path_factory.mktemp("esc50") / "ESC-50-master")


def _module(root: Path, tmp_path: Path, **kwargs) -> ESC50DataModule:
    kwargs = {"clip_seconds": SECONDS, "cache_dir": str(tmp_path / "cache"), **kwargs}
    return ESC50DataModule(str(root), **kwargs)


def _expected(root: Path, fold: int, subset: str) -> torch.Tensor:
    """The clips of one fold, decoded and resampled independently of the datamodule."""
    meta = pd.read_csv(root / "meta" / "esc50.csv")
    meta = meta[(meta["fold"] == fold) & (meta["esc10"] | (subset == "esc50"))]
    waves = [soundfile.read(root / "audio" / f, dtype="float32")[0]
             for f in sorted(meta["filename"])]
    return AF.resample(torch.from_numpy(np.stack(waves)), RATE, 16000)[:, : int(16000 * SECONDS)]


def test_official_folds_remapped_classes_and_resampling(esc50_root: Path, tmp_path: Path) -> None:
    dm = _module(esc50_root, tmp_path, subset="esc10", test_fold=5)
    dm.setup()
    assert dm.num_classes == 4 and dm.input_shape == (8000,)
    assert dm.class_names == ["dog", "rooster", "rain", "clock_tick"]  # ESC-50 targets 0, 1, 10, 38
    per_fold = 4 * CLIPS_PER_FOLD
    assert {k: len(y) for k, (_, y) in dm.splits.items()} == {
        "train": 3 * per_fold, "val": per_fold, "test": per_fold}
    for split, fold in (("test", 5), ("val", 4)):  # the default validation fold: the one before
        torch.testing.assert_close(dm.splits[split][0], _expected(esc50_root, fold, "esc10"),
                                   atol=1e-4, rtol=0)
    labels = torch.cat([y for _, y in dm.splits.values()])
    assert sorted(labels.unique().tolist()) == [0, 1, 2, 3]


def test_esc50_keeps_all_classes_and_fold_1_validates_on_fold_5(esc50_root: Path,
                                                                 tmp_path: Path) -> None:
    dm = _module(esc50_root, tmp_path, subset="esc50", test_fold=1)
    dm.setup()
    assert dm.num_classes == 6 and dm.class_names[2] == "cat"
    torch.testing.assert_close(dm.splits["val"][0], _expected(esc50_root, 5, "esc50"),
                               atol=1e-4, rtol=0)


def test_second_load_reads_the_cache(esc50_root: Path, tmp_path: Path, monkeypatch) -> None:
    first = _module(esc50_root, tmp_path)
    first.prepare_data()
    first.setup()
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1

    def no_decoding(path: Path) -> None:
        raise AssertionError(f"decoded {path} although it is cached")

    monkeypatch.setattr(waveform_cache, "decode", no_decoding)
    second = _module(esc50_root, tmp_path)
    second.setup()
    torch.testing.assert_close(second.splits["train"][0], first.splits["train"][0])
    with pytest.raises(AssertionError, match="decoded"):  # other settings, another cache entry
        _module(esc50_root, tmp_path, sample_rate=8000).setup()


def test_a_corrupt_file_is_named(esc50_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "ESC-50"
    shutil.copytree(esc50_root, root)
    bad = sorted((root / "audio").glob("3-*-A-10.wav"))[0]
    bad.write_bytes(b"RIFF\x00\x00not really a wave file")
    with pytest.raises(OptArenaError, match=f"cannot decode audio file .*{bad.name}"):
        _module(root, tmp_path, cache_dir=None).setup()
    bad.unlink()
    with pytest.raises(OptArenaError, match=f"audio file missing: .*{bad.name}"):
        _module(root, tmp_path, cache_dir=None).setup()


def test_missing_dataset_says_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(OptArenaError, match=r"no .*nowhere/meta/esc50.csv.*data.download=true"):
        ESC50DataModule(str(tmp_path / "nowhere"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"test_fold": 6}, "test_fold must be one of the folds 1..5"),
    ({"test_fold": 2, "val_fold": 2}, "val_fold=2 equals data.test_fold"),
    ({"subset": "esc20"}, "subset must be one of esc10, esc50"),
])
def test_bad_options_are_one_clear_error(esc50_root: Path, tmp_path: Path, kwargs, message) -> None:
    with pytest.raises(OptArenaError, match=message):
        _module(esc50_root, tmp_path, **kwargs)


def test_augmentation_gain_and_shift_train_only(esc50_root: Path, tmp_path: Path) -> None:
    assert _module(esc50_root, tmp_path).train_transform() is None
    dm = _module(esc50_root, tmp_path, augment=True, gain_db=6.0, max_shift_seconds=0.1)
    transform = dm.train_transform()
    x = torch.randn(16, 8000)
    y = transform(x)
    assert y.shape == x.shape and not torch.equal(x, y)
    ratio = y.norm(dim=1) / x.norm(dim=1)  # a roll keeps the energy: only the gain changes it
    assert (ratio >= 10 ** (-6 / 20) - 1e-4).all() and (ratio <= 10 ** (6 / 20) + 1e-4).all()
    assert ratio.std() > 0.01
    ramps = torch.arange(8000.0).repeat(16, 1)  # distinct values: a roll shows its shift
    shifted = WaveformAugment(gain_db=0.0, max_shift=1600)(ramps)
    shifts = [int((out == 0).nonzero()) for out in shifted]
    shifts = [s - 8000 if s > 4000 else s for s in shifts]
    assert all(abs(s) <= 1600 for s in shifts) and len(set(shifts)) > 1
    for row, out, s in zip(ramps, shifted, shifts, strict=True):
        assert torch.equal(torch.roll(row, s), out)


def test_download_fetches_the_official_archive_into_root(tmp_path: Path, monkeypatch) -> None:
    import torchvision.datasets.utils as tv_utils

    calls = []

    def fake_download(url: str, download_root: str, **kwargs) -> None:
        calls.append(url)
        write_esc50(Path(download_root) / "ESC-50-master")  # what the archive unpacks to

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", fake_download)
    dm = _module(tmp_path / "data" / "esc50", tmp_path, download=True)
    assert calls == ["https://github.com/karoldvl/ESC-50/archive/master.zip"]
    assert dm.num_classes == 4 and (tmp_path / "data" / "esc50" / "meta" / "esc50.csv").is_file()
    _module(tmp_path / "data" / "esc50", tmp_path, download=True)  # present: no second download
    assert len(calls) == 1

    def offline(url: str, download_root: str, **kwargs) -> None:
        raise OSError("Name or service not known")

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", offline)
    with pytest.raises(OptArenaError, match="could not download ESC-50 .*set data.root"):
        _module(tmp_path / "elsewhere", tmp_path, download=True)
