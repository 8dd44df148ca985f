"""Segmentation datamodules (seg_folder, oxford_pets, mnist_seg) on tiny fixtures in the real
on-disk formats: what they load, how they split, and the one-line error of each bad input."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from hydra.utils import instantiate
from PIL import Image
from torchvision.transforms import InterpolationMode

from optarena.data.mnist_seg import MNISTSegDataModule
from optarena.data.oxford_pets import OxfordPetsDataModule
from optarena.data.seg_folder import SegFolderDataModule
from optarena.errors import OptArenaError
from tests.conftest import compose_cfg
from tests.seg_fixtures import write_binary_jpeg, write_oxford_pets, write_seg_folder
from tests.vision_fixtures import write_mnist


def folder(root: Path, **kwargs) -> SegFolderDataModule:
    dm = SegFolderDataModule(str(root), **{"batch_size": 4, "val_size": 2, "test_size": 2,
                                           **kwargs})
    dm.setup()
    return dm


def one_line_error(make, *fragments: str) -> str:
    with pytest.raises(OptArenaError) as err:
        make()
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"
    return message


# --- seg_folder --------------------------------------------------------------------------------
def test_seg_folder_loads_classes_splits_and_stats(tmp_path: Path) -> None:
    write_seg_folder(tmp_path)
    dm = folder(tmp_path)
    assert dm.kind == "segmentation" and dm.input_shape == (3, 16, 16)
    assert dm.num_classes == 3 and dm.class_names == ["background", "thing1", "thing2"]
    (x, y), (xv, yv), (xt, yt) = (dm.splits[s] for s in ("train", "val", "test"))
    assert x.shape == (8, 3, 16, 16) and x.dtype == torch.uint8 and y.dtype == torch.uint8
    assert y.shape == (8, 16, 16) and len(xv) == len(yv) == 2 and len(xt) == 2
    assert set(torch.unique(y).tolist()) == {0, 1, 2}
    assert len(dm.mean) == 3 and 0.1 < dm.mean[0] < 0.5 and all(s > 0.05 for s in dm.std)
    stems = [{i.stem for i, _ in dm.files[s]} for s in ("train", "val", "test")]
    assert set.union(*stems) == {f"img_{i:02d}" for i in range(12)}
    assert torch.equal(folder(tmp_path).splits["val"][0], xv)  # the same split every run
    assert not torch.equal(folder(tmp_path, split_seed=1).splits["val"][0], xv)
    xb, yb = next(iter(folder(tmp_path, augment=True).train_dataloader()))
    assert xb.dtype == torch.float32 and yb.dtype == torch.int64 and yb.shape == (4, 16, 16)


def test_seg_folder_split_lists_and_palette_masks_are_read_exactly(tmp_path: Path) -> None:
    truth: dict[str, np.ndarray] = {}
    write_seg_folder(tmp_path, palette=True, truth=truth,
                     splits={"train": list(range(8)), "val": [8, 9], "test": [10, 11]})
    dm = folder(tmp_path)
    _, y = dm.splits["train"]
    assert torch.equal(y, torch.from_numpy(np.stack([truth[f"img_{i:02d}"] for i in range(8)])))
    assert [i.stem for i, _ in dm.files["test"]] == ["img_10", "img_11"]
    (tmp_path / "splits" / "val.txt").unlink()  # val is then carved from train.txt, seeded
    dm = folder(tmp_path, val_size=3)
    train, val = ({i.stem for i, _ in dm.files[s]} for s in ("train", "val"))
    assert len(val) == 3 and len(train) == 5 and train | val == {f"img_{i:02d}" for i in range(8)}


def test_seg_folder_without_classes_txt_counts_ids_and_reads_grey(tmp_path: Path) -> None:
    write_seg_folder(tmp_path, classes_txt=False, grey=True, classes=4)
    dm = SegFolderDataModule(str(tmp_path), val_size=2, test_size=2)
    assert dm.input_shape == (1, 16, 16) and not dm.splits
    assert dm.num_classes == 4 and dm.class_names == ["0", "1", "2", "3"]
    assert dm.splits["train"][0].shape == (8, 1, 16, 16)  # counting the ids read the data


def test_mixed_grey_and_colour_images_become_rgb(tmp_path: Path) -> None:
    write_seg_folder(tmp_path, grey=True)
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "images" / "img_00.png")
    dm = folder(tmp_path, split_seed=3)
    assert dm.input_shape == (3, 16, 16)
    x = torch.cat([dm.splits[s][0] for s in ("train", "val", "test")])
    grey = [i for i in range(len(x)) if torch.equal(x[i, 0], x[i, 1])]
    assert len(grey) == 11  # the grey images, channels repeated


def test_binary_jpeg_masks_are_two_classes(tmp_path: Path) -> None:
    root, truth = write_binary_jpeg(tmp_path / "kvasir")
    dm = folder(root)
    assert dm.num_classes == 2 and dm.class_names == ["background", "foreground"]
    for split in ("train", "val", "test"):
        for (_, mask), y in zip(dm.files[split], dm.splits[split][1], strict=True):
            assert set(torch.unique(y).tolist()) == {0, 1}
            agree = (y.numpy() == truth[mask.stem]).mean()
            assert agree > 0.97, f"{mask}: {agree:.3f} of pixels match"
    one_line_error(lambda: folder(root, binary_masks=False), "cju000.jpg", "is a JPEG",
                   "data.binary_masks=auto")
    (root / "classes.txt").write_text("background\npolyp\nother\n")
    one_line_error(lambda: folder(root), "classes.txt lists 3 classes", "list 2 names")
    (root / "classes.txt").write_text("background\npolyp\n")
    assert folder(root).class_names == ["background", "polyp"]


def test_binary_png_masks_auto_and_forced(tmp_path: Path) -> None:
    truth: dict[str, np.ndarray] = {}
    write_seg_folder(tmp_path, classes=2, classes_txt=False, truth=truth)
    dm = folder(tmp_path)  # masks of 0/1: class ids, 2 classes
    assert dm.class_names == ["0", "1"]
    one_line_error(lambda: folder(tmp_path, binary_masks=True), "holds values 0..1",
                   "data.binary_masks=false")
    for stem, mask in truth.items():
        Image.fromarray(mask * 255).save(tmp_path / "masks" / f"{stem}.png")
    dm = folder(tmp_path)  # now 0/255: binary
    assert dm.class_names == ["background", "foreground"]
    _, y = dm.splits["train"]
    assert torch.equal(y[0], torch.from_numpy(truth[dm.files["train"][0][0].stem]))


def test_resizing_to_image_size_keeps_masks_nearest(tmp_path: Path) -> None:
    truth: dict[str, np.ndarray] = {}
    write_seg_folder(tmp_path, ids=(2,), sizes=[(16, 16), (20, 12), (9, 15)], truth=truth)
    one_line_error(lambda: folder(tmp_path), "img_00.png is 16x16", "img_01.png is 20x12",
                   "data.image_size")
    dm = folder(tmp_path, image_size=[12, 10])
    assert dm.input_shape == (3, 12, 10)
    x, y = dm.splits["train"]
    assert x.shape == (8, 3, 12, 10) and x.dtype == torch.uint8 and y.shape == (8, 12, 10)
    assert set(torch.unique(y).tolist()) == {0, 2}  # no in-between ids: nearest, not bilinear
    stem = dm.files["train"][0][1].stem
    nearest = TF.resize(torch.from_numpy(truth[stem])[None], [12, 10], InterpolationMode.NEAREST)
    assert torch.equal(y[0], nearest[0])


def _save(array: np.ndarray, path: Path) -> None:
    Image.fromarray(array).save(path)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:60])  # the header survives, the pixel data does not


def _split_list(root: Path, name: str, text: str) -> None:
    (root / "splits").mkdir(exist_ok=True)
    (root / "splits" / name).write_text(text)


SEG_FOLDER_ERRORS = {  # name: (break the fixture, when it fails, fragments of the message)
    "mask without image": (lambda r: (r / "images" / "img_03.png").unlink(), "init",
                           ["masks/img_03.png has no image", "images/img_03.png"]),
    "image without mask": (lambda r: (r / "masks" / "img_05.png").unlink(), "init",
                           ["images/img_05.png has no mask", "masks/img_05.png"]),
    "mask size differs": (lambda r: _save(np.zeros((10, 10), np.uint8), r / "masks" / "img_02.png"),
                          "init", ["masks/img_02.png is 10x10", "img_02.png is 16x16"]),
    "class id too high": (lambda r: _save(np.full((16, 16), 7, np.uint8),
                                          r / "masks" / "img_04.png"),
                          "setup", ["masks/img_04.png holds class id(s) [7]", "classes.txt"]),
    "garbage png": (lambda r: (r / "images" / "img_01.png").write_bytes(b"not a png"), "init",
                    ["images/img_01.png cannot be read as an image", "replace it"]),
    "truncated png": (lambda r: _truncate(r / "masks" / "img_06.png"), "setup",
                      ["masks/img_06.png cannot be read as an image"]),
    "colour mask": (lambda r: _save(np.full((16, 16, 3), (255, 0, 0), np.uint8),
                                    r / "masks" / "img_07.png"),
                    "setup", ["masks/img_07.png is a colour (RGB) mask", "to class ids"]),
    "split stem without image": (lambda r: _split_list(r, "val.txt", "img_01\nghost\n"), "init",
                                 ["splits/val.txt names 'ghost'", "no such image"]),
    "stem in two splits": (lambda r: _split_list(r, "test.txt", "img_01\n") or _split_list(
        r, "val.txt", "img_02\nimg_01\n"), "init",
        ["'img_01' is in both splits/val.txt and splits/test.txt"]),
    "no masks folder": (lambda r: shutil.rmtree(r / "masks"), "init",
                        ["has no masks/ folder", "data.root"]),
}


@pytest.mark.parametrize("case", list(SEG_FOLDER_ERRORS))
def test_seg_folder_errors_are_one_line_naming_the_file(tmp_path: Path, case: str) -> None:
    write_seg_folder(tmp_path)
    spoil, when, fragments = SEG_FOLDER_ERRORS[case]
    spoil(tmp_path)
    if when == "init":
        one_line_error(lambda: SegFolderDataModule(str(tmp_path)), *fragments)
    else:
        dm = SegFolderDataModule(str(tmp_path))
        one_line_error(dm.setup, *fragments)


def test_seg_folder_knobs_and_missing_folder(tmp_path: Path) -> None:
    one_line_error(lambda: SegFolderDataModule(str(tmp_path / "nowhere")),
                   f"no {tmp_path / 'nowhere'}/", "data.root")
    write_seg_folder(tmp_path)
    one_line_error(lambda: SegFolderDataModule(str(tmp_path), image_size=[0, 8]),
                   "data.image_size must be [height, width]")
    one_line_error(lambda: SegFolderDataModule(str(tmp_path), binary_masks="yes"),
                   "data.binary_masks must be auto, true or false")
    one_line_error(lambda: SegFolderDataModule(str(tmp_path), crop_padding=-1),
                   "data.crop_padding")


# --- oxford_pets -------------------------------------------------------------------------------
def pets(root: Path, **kwargs) -> OxfordPetsDataModule:
    dm = OxfordPetsDataModule(str(root), **{"image_size": [16, 16], "val_size": 3, **kwargs})
    dm.setup()
    return dm


def test_pets_border_as_class_or_ignored(tmp_path: Path) -> None:
    write_oxford_pets(tmp_path)
    dm = pets(tmp_path)
    assert dm.num_classes == 3 and dm.class_names == ["pet", "background", "border"]
    assert dm.input_shape == (3, 16, 16)
    (x, y), (xv, _), (xt, yt) = (dm.splits[s] for s in ("train", "val", "test"))
    assert x.shape == (9, 3, 16, 16) and x.dtype == torch.uint8 and len(xv) == 3
    assert xt.shape == (6, 3, 16, 16) and dm.stems["test"][0] == "Abyssinian_test0"
    assert set(torch.unique(y).tolist()) == {0, 1, 2}
    ignored = pets(tmp_path, border="ignore")
    assert ignored.num_classes == 2 and ignored.class_names == ["pet", "background"]
    yi = ignored.splits["test"][1]
    assert set(torch.unique(yi).tolist()) == {0, 1, 255}
    assert torch.equal(yi == 255, yt == 2) and torch.equal(yi[yi != 255], yt[yt != 2])
    # grey, CMYK and PNG-inside "JPEGs" are read as RGB; a grey one has equal channels
    where = "train" if "beagle_trainval1" in dm.stems["train"] else "val"
    grey = dm.splits[where][0][dm.stems[where].index("beagle_trainval1")]
    assert torch.equal(grey[0], grey[1]) and not torch.equal(x[0, 0], x[0, 1])
    assert pets(tmp_path).stems == dm.stems  # the same split every run
    assert pets(tmp_path, split_seed=1).stems["val"] != dm.stems["val"]


def test_pets_knobs_are_checked_first(tmp_path: Path) -> None:
    one_line_error(lambda: OxfordPetsDataModule(str(tmp_path), border="thin"),
                   "data.border must be class", "or ignore", "'thin'")
    one_line_error(lambda: OxfordPetsDataModule(str(tmp_path), image_size=None),
                   "data.image_size must be [height, width]")


def test_pets_missing_files_say_where_and_how(tmp_path: Path) -> None:
    one_line_error(lambda: OxfordPetsDataModule(str(tmp_path / "nowhere")),
                   f"no {tmp_path / 'nowhere' / 'oxford-iiit-pet'}/", "data.download=true",
                   "images.tar.gz and annotations.tar.gz")
    folder_ = write_oxford_pets(tmp_path)
    (folder_ / "images" / "beagle_test3.jpg").unlink()
    one_line_error(lambda: OxfordPetsDataModule(str(tmp_path)),
                   "oxford-iiit-pet lacks images/beagle_test3.jpg", "data.download=true")


def test_pets_download_offline_says_so(tmp_path: Path, offline) -> None:
    dm = OxfordPetsDataModule(str(tmp_path), download=True)
    one_line_error(dm.setup, "could not download Oxford-IIIT Pet",
                   str(tmp_path / "oxford-iiit-pet"))


def test_pets_bad_trimap_is_named(tmp_path: Path) -> None:
    folder_ = write_oxford_pets(tmp_path)
    path = folder_ / "annotations" / "trimaps" / "Abyssinian_test2.png"
    trimap = np.array(Image.open(path))
    trimap[0, 0] = 7
    Image.fromarray(trimap).save(path)
    dm = OxfordPetsDataModule(str(tmp_path), image_size=[16, 16])
    one_line_error(dm.setup, "Abyssinian_test2.png holds value(s) [7]", "1 (pet)")


# --- mnist_seg ---------------------------------------------------------------------------------
SCENES = {"train": 30, "val": 8, "test": 10}


def mnist_seg(root: Path, **kwargs) -> MNISTSegDataModule:
    dm = MNISTSegDataModule(str(root), **{"verify_checksums": False, "val_size": 10,
                                          "canvas": 40, "scenes": SCENES, **kwargs})
    dm.setup()
    return dm


def test_mnist_seg_scenes_from_the_mnist_files(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    dm = mnist_seg(tmp_path)
    assert dm.num_classes == 11 and dm.input_shape == (1, 40, 40) and dm.class_names[1] == "0"
    for split, count in SCENES.items():
        x, y = dm.splits[split]
        assert x.shape == (count, 1, 40, 40) and y.shape == (count, 40, 40)
        assert x.dtype == y.dtype == torch.uint8 and int(y.max()) <= 10
    x, y = dm.splits["train"]
    assert len(torch.unique(y)) >= 8  # several digit classes
    assert int(x[:, 0][y > 0].min()) > 0.5 * 255  # labelled where the ink is bright
    assert (y > 0).float().mean() > 0.02
    again = mnist_seg(tmp_path)
    assert torch.equal(again.splits["val"][1], dm.splits["val"][1])
    assert not torch.equal(mnist_seg(tmp_path, split_seed=1).splits["val"][0],
                           dm.splits["val"][0])
    more = mnist_seg(tmp_path, scenes={**SCENES, "train": 12})  # other splits unchanged
    assert torch.equal(more.splits["test"][0], dm.splits["test"][0])


def test_mnist_seg_checks_knobs_and_files(tmp_path: Path) -> None:
    one_line_error(lambda: MNISTSegDataModule(str(tmp_path), canvas=20),
                   "data.canvas must be an integer >= 28")
    one_line_error(lambda: MNISTSegDataModule(str(tmp_path), scenes={"train": 5}),
                   "data.scenes must give a count")
    one_line_error(lambda: MNISTSegDataModule(str(tmp_path), ink=1.5), "data.ink")
    one_line_error(lambda: MNISTSegDataModule(str(tmp_path)), "MNIST not found",
                   "data.download=true")


# --- the configs -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["seg_folder", "oxford_pets", "mnist_seg"])
def test_data_configs_compose_and_instantiate(tmp_path: Path, name: str) -> None:
    root = tmp_path / "ds"
    {"seg_folder": write_seg_folder, "oxford_pets": write_oxford_pets,
     "mnist_seg": write_mnist}[name](root)
    cfg = compose_cfg(tmp_path, [f"data={name}", f"data.root={root}"])
    dm = instantiate(cfg.data, _convert_="all")
    assert dm.kind == "segmentation" and dm.batch_size == cfg.batch_size
    assert dm.input_shape == {"seg_folder": (3, 16, 16), "oxford_pets": (3, 128, 128),
                              "mnist_seg": (1, 64, 64)}[name]
    assert dm.num_classes == {"seg_folder": 3, "oxford_pets": 3, "mnist_seg": 11}[name]
