"""The Oxford-IIIT Pet trimaps (Parkhi et al., 2012) in torchvision's layout under `data.root`:

    oxford-iiit-pet/images/<stem>.jpg
    oxford-iiit-pet/annotations/trimaps/<stem>.png      1 = pet, 2 = background, 3 = border
    oxford-iiit-pet/annotations/{trainval,test}.txt     "Abyssinian_100 1 1 1": stem first

Classes: 0 pet, 1 background, 2 border (`border=class`), or with `border=ignore` the border
pixels are 255 (never scored) and 2 classes remain.
Protocol: test = the official test.txt (3,669 images); validation = a seeded `val_size` of
trainval.txt (3,680), fixed by `split_seed`. Every image is read as RGB (a few of the real
JPEGs are PNG, CMYK or grey inside) and resized to `image_size` (bilinear with antialias,
trimaps nearest). `data.download=true` uses torchvision's downloader.
"""

from functools import partial
from pathlib import Path
from urllib.error import URLError

import numpy as np
from torchvision.datasets import OxfordIIITPet

from optarena.data.image_files import image_size_arg, read_mask, read_pairs
from optarena.data.segmentation import IGNORE, SegmentationDataModule, channel_stats, check_masks
from optarena.data.split import seeded_split
from optarena.errors import OptArenaError

FOLDER = "oxford-iiit-pet"
LISTS = {"trainval": "annotations/trainval.txt", "test": "annotations/test.txt"}
BORDERS = ("class", "ignore")
HOW_TO_GET = ("run with data.download=true (needs internet), or copy the extracted "
              "images.tar.gz and annotations.tar.gz there (images/, annotations/)")


def pets_dir(root: Path) -> Path:
    """`root/oxford-iiit-pet`, or root itself when it is that folder."""
    return root if root.name == FOLDER else root / FOLDER


def read_list(path: Path) -> list[str]:
    """The stems of an annotation list: the first field of each line, '#' lines skipped."""
    stems = [line.split()[0] for line in path.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    if not stems:
        raise OptArenaError(f"{path} lists no images; re-extract annotations.tar.gz, {HOW_TO_GET}")
    return stems


def read_trimap(path: Path, border: int) -> np.ndarray:
    """uint8 (H, W) class ids of a trimap: 1 -> 0 (pet), 2 -> 1 (background), 3 -> `border`."""
    values = read_mask(path)
    present = np.flatnonzero(np.bincount(values.ravel(), minlength=256))
    bad = [int(v) for v in present if v not in (1, 2, 3)]
    if bad:
        raise OptArenaError(f"{path} holds value(s) {bad[:5]}, but an Oxford-IIIT Pet trimap "
                            "holds 1 (pet), 2 (background), 3 (border): re-extract "
                            "annotations.tar.gz")
    lut = np.full(256, IGNORE, np.uint8)
    lut[1], lut[2], lut[3] = 0, 1, border
    return lut[values]


class OxfordPetsDataModule(SegmentationDataModule):
    """7,349 pet photos with trimaps: pet / background (/ border) per pixel."""

    def __init__(
        self,
        root: str,
        batch_size: int = 32,
        image_size: list[int] | None = (128, 128),
        border: str = "class",
        val_size: float | int = 0.1,
        split_seed: int = 0,
        download: bool = False,
        augment: bool = False,
        crop_padding: int = 8,
        flip: bool = True,
        device_resident: bool | str = "auto",
    ) -> None:
        super().__init__(batch_size, augment, crop_padding, flip, device_resident)
        size = image_size_arg(image_size)
        if size is None:
            raise OptArenaError("data.image_size must be [height, width] for Oxford-IIIT Pet: "
                                "its images differ in size")
        if border not in BORDERS:
            raise OptArenaError(f"data.border must be class (border pixels are a class) or "
                                f"ignore (never scored), got {border!r}")
        self.image_size, self.border = size, border
        self.val_size, self.split_seed, self.download = val_size, split_seed, download
        self.root = Path(root).expanduser()
        self.num_classes = 3 if border == "class" else 2
        self.class_names = ["pet", "background", "border"][:self.num_classes]
        # Validation mIoU counted as reached: the thin border class is the hard one.
        self.target = 0.6 if border == "class" else 0.75
        self.input_shape = (3, *size)
        if not download:  # fail before the model is built, not minutes later
            self._require_files()

    def missing_files(self) -> str | None:
        """A one-line error naming what is missing where and how to get it, or None."""
        folder = pets_dir(self.root)
        needed = [*LISTS.values(), "images", "annotations/trimaps"]
        lacking = [n for n in needed if not (folder / n).exists()]
        if not lacking:
            stems = [s for name in LISTS.values() for s in read_list(folder / name)]
            lacking = [n for s in stems for n in (f"images/{s}.jpg", f"annotations/trimaps/{s}.png")
                       if not (folder / n).is_file()]
        if not lacking:
            return None
        more = f" (and {len(lacking) - 1} more)" if len(lacking) > 1 else ""
        what = f"{folder} lacks {lacking[0]}{more}" if folder.is_dir() else f"no {folder}/"
        return (f"Oxford-IIIT Pet not found: {what}; {HOW_TO_GET}, or point data.root at the "
                f"folder that holds {FOLDER}/")

    def _require_files(self) -> None:
        problem = self.missing_files()
        if problem:
            raise OptArenaError(problem)

    def prepare_data(self) -> None:
        if self.download and self.missing_files():
            try:
                for split in LISTS:
                    OxfordIIITPet(str(self.root), split=split, target_types="segmentation",
                                  download=True)
            except (URLError, OSError, RuntimeError) as err:
                reason = " ".join(str(err).split())
                raise OptArenaError(
                    f"could not download Oxford-IIIT Pet ({reason}); copy the extracted "
                    f"images.tar.gz and annotations.tar.gz to {pets_dir(self.root)} "
                    "instead") from err

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.prepare_data()
        self._require_files()
        folder = pets_dir(self.root)
        trainval, test = (read_list(folder / LISTS[n]) for n in ("trainval", "test"))
        idx = seeded_split(len(trainval), {"val": self.val_size}, self.split_seed)
        stems = {"train": [trainval[i] for i in idx["train"]],
                 "val": [trainval[i] for i in idx["val"]], "test": test}
        trimap = partial(read_trimap, border=2 if self.border == "class" else IGNORE)
        self.stems = stems  # which image is where
        trimaps = folder / "annotations" / "trimaps"
        splits = {}
        for name, names in stems.items():
            pairs = [(folder / "images" / f"{s}.jpg", trimaps / f"{s}.png") for s in names]
            x, y, _ = read_pairs(pairs, grey=False, size=self.image_size, mask_reader=trimap)
            check_masks(y, self.num_classes, f"{trimaps} ({name})",
                        fix="trimaps hold 1 (pet), 2 (background), 3 (border) only: replace the "
                        "file with the official one (data.download=true)")
            splits[name] = (x, y)
        self.splits = splits  # all or nothing: a failed read leaves none
        self.mean, self.std = channel_stats(self.splits["train"][0])
