"""The shared feature store: computed once per key, parallel jobs wait, damage is recomputed."""

import multiprocessing
import time
from pathlib import Path

import pytest
import torch

from optarena.callbacks.feature_store import FeatureStore
from optarena.errors import OptArenaError

LABELS = {"train": torch.tensor([0, 1, 2, 1]), "val": torch.tensor([2, 0])}


def _features(value: float = 1.0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {name: (torch.full((len(y), 3), value) + torch.arange(len(y))[:, None], y)
            for name, y in LABELS.items()}


def _store(folder: Path, key: str = "k1") -> FeatureStore:
    return FeatureStore(folder, "test", key, {"why": "a test"})


class Counter:
    """compute() that counts its calls in a file (visible across processes) and can be slow."""

    def __init__(self, file: Path, seconds: float = 0.0) -> None:
        self.file, self.seconds = file, seconds

    def __call__(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        with self.file.open("a") as f:
            f.write("computed\n")
        time.sleep(self.seconds)
        return _features()

    @property
    def calls(self) -> int:
        return len(self.file.read_text().splitlines()) if self.file.exists() else 0


def test_the_same_key_is_computed_once_then_read(tmp_path: Path) -> None:
    count = Counter(tmp_path / "calls.txt")
    first, how = _store(tmp_path / "cache").get(LABELS, count)
    assert how == "computed" and count.calls == 1
    path = _store(tmp_path / "cache").path
    assert path.is_file() and "a test" in path.with_suffix(".json").read_text()
    written = path.stat().st_mtime_ns
    second, how = _store(tmp_path / "cache").get(LABELS, count)
    assert how == "read" and count.calls == 1 and path.stat().st_mtime_ns == written
    for name, (x, y) in first.items():
        assert torch.equal(second[name][0], x) and torch.equal(second[name][1], y)
    # Another key is another entry, computed on its own.
    _, how = _store(tmp_path / "cache", "k2").get(LABELS, count)
    assert how == "computed" and count.calls == 2
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 2
    assert not list((tmp_path / "cache").glob("*.tmp"))  # no temporary file left behind


def _damage_bytes(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a truncated file


def _damage_values(path: Path) -> None:
    blob = torch.load(path, weights_only=True)
    blob["features"]["train"][0, 0] += 1.0  # loads fine, but not what was written
    torch.save(blob, path)


def _wrong_labels(path: Path) -> None:
    blob = torch.load(path, weights_only=True)
    blob["labels"]["val"] = torch.tensor([0, 2])
    torch.save(blob, path)


@pytest.mark.parametrize(("damage", "reason"), [
    (_damage_bytes, "unreadable"), (_damage_values, "checksum mismatch"),
    (_wrong_labels, "the val split's labels differ"),
])
def test_a_damaged_file_is_recomputed_not_trusted(tmp_path: Path, caplog, damage, reason) -> None:
    count = Counter(tmp_path / "calls.txt")
    _store(tmp_path).get(LABELS, count)
    damage(_store(tmp_path).path)
    with caplog.at_level("WARNING", logger="optarena.callbacks.feature_store"):
        features, how = _store(tmp_path).get(LABELS, count)
    assert how == "computed" and count.calls == 2
    assert f"ignoring {_store(tmp_path).path} ({reason}" in caplog.text
    assert torch.equal(features["train"][0], _features()["train"][0])
    _, how = _store(tmp_path).get(LABELS, count)  # the replaced file is whole again
    assert how == "read" and count.calls == 2


def _job(folder: Path, calls: Path, barrier, results) -> None:
    barrier.wait()  # both jobs ask for the features at the same moment
    features, how = _store(folder).get(LABELS, Counter(calls, seconds=1.0))
    results.put((how, features["train"][0].sum().item()))


def test_jobs_starting_together_compute_once(tmp_path: Path) -> None:
    # fork: the children start at once, without importing torch again
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    jobs = [ctx.Process(target=_job, args=(tmp_path / "cache", tmp_path / "calls.txt",
                                           barrier, results)) for _ in range(2)]
    for job in jobs:
        job.start()
    outcomes = [results.get(timeout=60) for _ in jobs]
    for job in jobs:
        job.join(timeout=10)
    assert all(job.exitcode == 0 for job in jobs)
    assert Counter(tmp_path / "calls.txt").calls == 1
    assert sorted(how for how, _ in outcomes) == ["computed", "read"]
    assert outcomes[0][1] == outcomes[1][1] == _features()["train"][0].sum().item()


def test_an_unwritable_cache_folder_says_how_to_fix_it(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OptArenaError, match=r"cannot create the feature cache folder .*"
                                            r"callbacks.feature_cache.cache_dir"):
        _store(tmp_path / "file" / "cache").get(LABELS, Counter(tmp_path / "calls.txt"))


def test_a_failed_write_keeps_the_run_going(tmp_path: Path, caplog, monkeypatch) -> None:
    def full_disk(*args, **kwargs) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with caplog.at_level("WARNING", logger="optarena.callbacks.feature_store"):
        features, how = _store(tmp_path).get(LABELS, Counter(tmp_path / "calls.txt"))
    assert how == "computed" and torch.equal(features["val"][0], _features()["val"][0])
    assert "could not write" in caplog.text and "No space left on device" in caplog.text
    assert not list(tmp_path.glob("test-k1.pt")) and not list(tmp_path.glob("test-k1.json"))
    assert not list(tmp_path.glob(".*.tmp"))
