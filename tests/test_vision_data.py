"""CIFAR-10 and MNIST datamodules on tiny fixtures in the official formats; batch augmentation."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from optarena.data.augment import ImageBatchTransform, random_crop_flip
from optarena.data.cifar10 import CIFAR10DataModule
from optarena.data.in_memory import resident_device
from optarena.data.mnist import MNISTDataModule
from optarena.errors import OptArenaError
from tests.vision_fixtures import write_cifar10, write_mnist


def cifar(root: Path, **kwargs) -> CIFAR10DataModule:
    return CIFAR10DataModule(root=str(root), **{"verify_checksums": False, "batch_size": 8,
                                                "val_size": 10, **kwargs})


def test_cifar10_fixture_loads_with_a_seeded_stratified_split(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    dm = cifar(tmp_path)
    dm.setup()
    (x, y), (xv, yv), (xt, yt) = dm.splits["train"], dm.splits["val"], dm.splits["test"]
    assert x.shape == (90, 3, 32, 32) and x.dtype == torch.uint8 and len(y) == 90
    assert xv.shape == (10, 3, 32, 32) and sorted(yv.tolist()) == list(range(10))  # stratified
    assert xt.shape == (40, 3, 32, 32) and yt.tolist() == [i % 10 for i in range(40)]
    assert dm.class_names[0] == "airplane"
    again = cifar(tmp_path)
    again.setup()
    assert torch.equal(again.splits["val"][0], xv)
    other = cifar(tmp_path, split_seed=1)
    other.setup()
    assert not torch.equal(other.splits["val"][0], xv)
    fraction = cifar(tmp_path, val_size=0.2)
    fraction.setup()
    assert len(fraction.splits["val"][1]) == 20


def test_cifar10_missing_offline_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(OptArenaError) as err:
        cifar(tmp_path / "nowhere")
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "nowhere" / "cifar-10-batches-py") in message
    assert "data.download=true" in message


def test_cifar10_download_offline_says_so(tmp_path: Path, offline) -> None:
    dm = cifar(tmp_path, download=True)
    with pytest.raises(OptArenaError, match="could not download CIFAR-10 from https://"):
        dm.setup()


def test_cifar10_checksums_are_checked_by_default_and_name_the_file(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    dm = cifar(tmp_path, verify_checksums=True)
    with pytest.raises(OptArenaError, match=r"data_batch_1 fails its md5 check.*"
                                            r"data\.verify_checksums=false"):
        dm.setup()


def test_cifar10_corrupt_batch_is_named(tmp_path: Path) -> None:
    folder = write_cifar10(tmp_path)
    (folder / "data_batch_3").write_bytes(b"not a pickle at all")
    with pytest.raises(OptArenaError, match=r"data_batch_3 is not a readable CIFAR-10 batch"):
        cifar(tmp_path).setup()


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_fixture_loads_plain_and_gzipped_idx(tmp_path: Path, gz: bool) -> None:
    write_mnist(tmp_path, gz=gz)
    dm = MNISTDataModule(root=str(tmp_path), verify_checksums=False, val_size=0.1)
    dm.setup()
    (x, y), (xv, _), (xt, yt) = dm.splits["train"], dm.splits["val"], dm.splits["test"]
    assert x.shape == (90, 1, 28, 28) and x.dtype == torch.uint8 and xv.shape[0] == 10
    assert y.dtype == torch.int64 and len(y) == 90
    assert xt.shape == (40, 1, 28, 28) and yt.tolist() == [i % 10 for i in range(40)]


def test_mnist_checks_gz_md5_and_official_sizes(tmp_path: Path) -> None:
    write_mnist(tmp_path / "gz", gz=True)
    with pytest.raises(OptArenaError, match=r"train-images-idx3-ubyte\.gz fails its md5 check"):
        MNISTDataModule(root=str(tmp_path / "gz")).setup()
    write_mnist(tmp_path / "raw")
    with pytest.raises(OptArenaError, match=r"not the official \(60000, 28, 28\).*"
                                            r"verify_checksums=false"):
        MNISTDataModule(root=str(tmp_path / "raw")).setup()


def test_mnist_truncated_file_is_named_and_missing_files_listed(tmp_path: Path) -> None:
    folder = write_mnist(tmp_path)
    path = folder / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(OptArenaError, match=r"t10k-labels-idx1-ubyte is truncated"):
        MNISTDataModule(root=str(tmp_path), verify_checksums=False).setup()
    path.unlink()
    with pytest.raises(OptArenaError, match=r"lacks t10k-labels-idx1-ubyte \(or \.gz\)"):
        MNISTDataModule(root=str(tmp_path))


def test_mnist_download_offline_says_so(tmp_path: Path, offline) -> None:
    dm = MNISTDataModule(root=str(tmp_path), download=True)
    with pytest.raises(OptArenaError, match="could not download MNIST") as err:
        dm.setup()
    assert "\n" not in str(err.value)  # torchvision's multi-line report, on one line


# --- batch augmentation ----------------------------------------------------------------------
def test_random_crop_flip_takes_a_window_of_the_zero_padded_image() -> None:
    torch.manual_seed(0)
    x = torch.randint(1, 256, (64, 3, 8, 8), dtype=torch.uint8)
    out = random_crop_flip(x, 2, flip=False)
    padded = F.pad(x, (2, 2, 2, 2))
    offsets = set()
    for i in range(len(x)):
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if torch.equal(out[i], padded[i, :, dy:dy + 8, dx:dx + 8])]
        assert hits, f"image {i} is not a crop of its padded input"
        offsets.add(hits[0])
    assert len(offsets) > 10  # per-image offsets, not one for the whole batch


def test_random_crop_flip_mirrors_about_half_of_the_crops() -> None:
    torch.manual_seed(0)
    x = torch.randint(1, 256, (400, 1, 6, 6), dtype=torch.uint8)
    out = random_crop_flip(x, 1, flip=True)
    padded = F.pad(x, (1, 1, 1, 1))
    mirrored = 0
    for i in range(len(x)):
        windows = [padded[i, :, dy:dy + 6, dx:dx + 6] for dy in range(3) for dx in range(3)]
        plain = any(torch.equal(out[i], win) for win in windows)
        flipped = any(torch.equal(out[i], win.flip(2)) for win in windows)
        assert plain or flipped, f"image {i} is neither a crop nor a mirrored crop"
        mirrored += flipped and not plain
    assert 150 < mirrored < 250
    assert torch.equal(random_crop_flip(x, 0, flip=False), x)


def test_tensor_path_matches_torchvision_transforms(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    fast = cifar(tmp_path, augment=False)
    fast.setup()
    reference = cifar(tmp_path, augment=False, pipeline="torchvision", num_workers=0)
    reference.splits = fast.splits
    xb, yb = next(iter(fast.val_dataloader()))
    xr, yr = next(iter(reference.val_dataloader()))
    assert torch.equal(yb, yr) and xb.dtype == torch.float32
    assert torch.allclose(xb, xr, atol=1e-5)
    x, y = fast.splits["train"]
    xt = ImageBatchTransform(fast.mean, fast.std)(x)
    assert xt.mean().abs() < 1.5 and xt.shape == x.shape


def test_augmentation_follows_the_data_options(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    assert cifar(tmp_path).train_transform().crop_padding == 4
    assert cifar(tmp_path).train_transform().flip
    off = cifar(tmp_path, augment=False).train_transform()
    assert off.crop_padding == 0 and not off.flip
    with pytest.raises(OptArenaError, match="data.pipeline must be one of tensor, torchvision"):
        cifar(tmp_path, pipeline="dali")


def test_residency_decision() -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    gib = 2**30
    assert resident_device(cpu, gib, "auto") == cpu
    assert resident_device(gpu, gib, "auto", device_memory=80 * gib) == gpu
    assert resident_device(gpu, 30 * gib, "auto", device_memory=80 * gib) == cpu
    assert resident_device(gpu, 30 * gib, True, device_memory=80 * gib) == gpu
    assert resident_device(gpu, gib, False, device_memory=80 * gib) == cpu
    assert resident_device(torch.device("mps"), gib, "auto") == cpu

