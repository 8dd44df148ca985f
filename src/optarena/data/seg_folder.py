"""Any segmentation dataset in the common folder layout under `data.root`:

    images/<stem>.png|.jpg|.jpeg   the images: grey (1 channel) when all are grey, else RGB
    masks/<stem>.png               class id per pixel ('L' values or 'P' palette indices),
                                   255 = ignore; binary 0/255 masks may also be .jpg
    classes.txt                    optional: one class name per line (the class count)
    splits/{train,val,test}.txt    optional: stems, one per line

Classes: the names in classes.txt; without it, max id + 1 over all masks (named "0", "1", ...).
Binary masks (`binary_masks`): 0/255 masks, as Kvasir-SEG and ISIC ship them (JPEG ones only
near 0/255), are thresholded at 128 into background and foreground; auto: when every mask
holds only 0 and 255, or any mask is a JPEG.

Protocol: a split with a file in splits/ is that list; the others are a seeded `val_size` /
`test_size` of train.txt's stems (of all other stems without one), fixed by `split_seed`.
Images and masks are read once with PIL (in threads) and resized to `image_size` (images
bilinear with antialias, masks nearest), or all must share one size.
"""

from itertools import combinations
from pathlib import Path

import numpy as np
import torch

from optarena.data.image_files import (
    GREY_MODES,
    JPEG,
    image_size_arg,
    probe,
    read_pairs,
    size_mismatch,
)
from optarena.data.segmentation import SegmentationDataModule, channel_stats, check_masks
from optarena.data.split import seeded_split
from optarena.errors import OptArenaError

SUFFIXES = (".png", ".jpg", ".jpeg")  # of images; of masks too (.jpg/.jpeg: binary only)
SPLITS = ("train", "val", "test")
THRESHOLD = 128   # binary masks: >= 128 is foreground
BINARY_NAMES = ["background", "foreground"]


def files_by_stem(folder: Path, strip: str = "") -> dict[str, Path]:
    """{stem: file} of the .png/.jpg/.jpeg files in `folder` (hidden files skipped); `strip`:
    a suffix every stem carries here (ISIC's '_segmentation')."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in SUFFIXES:
            continue
        stem = path.stem[:len(path.stem) - len(strip)] if path.stem.endswith(strip) else None
        if stem is None:
            raise OptArenaError(f"{path} has no image: its name lacks data.mask_suffix="
                                f"{strip!r}; rename it, remove it, or fix data.mask_suffix")
        if stem in found:
            raise OptArenaError(f"{found[stem]} and {path} share the stem {stem!r}: keep one")
        found[stem] = path
    return found


class SegFolderDataModule(SegmentationDataModule):
    """images/ + masks/ (+ classes.txt, splits/) under `root`; see the module docstring.

    `num_classes` and `class_names` come from classes.txt (or binary masks) at construction;
    otherwise from the masks, which the first use of either reads (the whole dataset, once).
    """

    target = 0.6  # validation mIoU counted as reached: a fair U-Net on a typical folder dataset

    def __init__(
        self,
        root: str,
        batch_size: int = 16,
        image_size: list[int] | None = None,
        binary_masks: bool | str = "auto",
        mask_suffix: str = "",
        val_size: float | int = 0.1,
        test_size: float | int = 0.1,
        split_seed: int = 0,
        augment: bool = False,
        crop_padding: int = 8,
        flip: bool = True,
        device_resident: bool | str = "auto",
    ) -> None:
        super().__init__(batch_size, augment, crop_padding, flip, device_resident)
        self.image_size = image_size_arg(image_size)
        if not (isinstance(binary_masks, bool) or binary_masks == "auto"):
            raise OptArenaError(f"data.binary_masks must be auto, true or false, "
                                f"got {binary_masks!r}")
        if not isinstance(mask_suffix, str):
            raise OptArenaError(f"data.mask_suffix must be a string, got {mask_suffix!r}")
        self.binary_masks, self.mask_suffix = binary_masks, mask_suffix
        self.val_size, self.test_size, self.split_seed = val_size, test_size, split_seed
        self.root = Path(root).expanduser()
        self._names: list[str] | None = None
        self._index()

    # --- classes: known now, or once the masks are read ------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def class_names(self) -> list[str]:
        if self._names is None:
            self.setup()
        assert self._names is not None
        return self._names

    # --- the index: pairs, splits, sizes (headers only) ------------------------------------
    def _index(self) -> None:
        root = self.root
        if not root.is_dir():
            raise OptArenaError(f"segmentation folder not found: no {root}/; point data.root at "
                                "a folder holding images/ and masks/")
        for sub in ("images", "masks"):
            if not (root / sub).is_dir():
                raise OptArenaError(f"{root} has no {sub}/ folder: a segmentation folder holds "
                                    "images/<stem>.png|jpg and masks/<stem>.png; point data.root "
                                    "at one")
        images = files_by_stem(root / "images")
        masks = files_by_stem(root / "masks", self.mask_suffix)
        if not images:
            raise OptArenaError(f"{root / 'images'} holds no .png, .jpg or .jpeg images")
        self._check_pairs(images, masks)
        self._jpeg = any(p.suffix.lower() in JPEG for p in masks.values())
        if self._jpeg and self.binary_masks is False:
            first = next(p for p in masks.values() if p.suffix.lower() in JPEG)
            raise OptArenaError(f"{first} is a JPEG, whose values are not exact class ids: set "
                                "data.binary_masks=auto for 0/255 masks, or store ids as PNG")
        self._classes_file = self._read_classes()
        binary = self.binary_masks is True or (self.binary_masks == "auto" and self._jpeg)
        if self._classes_file is not None:
            if binary and len(self._classes_file) != 2:
                raise self._binary_classes_error()
            self._names = self._classes_file
        elif binary:
            self._names = list(BINARY_NAMES)
        stems = self._split_stems(sorted(images))
        self.files = {s: [(images[t], masks[t]) for t in stems[s]] for s in SPLITS}
        self.input_shape = self._shape([p for pairs in self.files.values() for p in pairs])

    def _check_pairs(self, images: dict[str, Path], masks: dict[str, Path]) -> None:
        for have, lack, kind, where in ((images, masks, "mask", "masks"),
                                        (masks, images, "image", "images")):
            orphans = [s for s in have if s not in lack]
            if orphans:
                more = f" (and {len(orphans) - 1} more)" if len(orphans) > 1 else ""
                suffix = self.mask_suffix if kind == "mask" else ""
                raise OptArenaError(
                    f"{have[orphans[0]]} has no {kind}{more}: expected {self.root / where}/"
                    f"{orphans[0]}{suffix}.png|.jpg|.jpeg; add it or remove the file")

    def _read_classes(self) -> list[str] | None:
        path = self.root / "classes.txt"
        if not path.is_file():
            return None
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if not 2 <= len(names) <= 255:
            raise OptArenaError(f"{path} lists {len(names)} class names; list 2 to 255, one per "
                                "line (class id = line number from 0)")
        return names

    def _binary_classes_error(self) -> OptArenaError:
        return OptArenaError(
            f"{self.root / 'classes.txt'} lists {len(self._classes_file or [])} classes but the "
            "masks are binary (0/255, or JPEG): list 2 names (background, foreground), or set "
            "data.binary_masks=false for masks of class ids")

    def _split_stems(self, stems: list[str]) -> dict[str, list[str]]:
        known, listed = set(stems), {}
        for name in SPLITS:
            path = self.root / "splits" / f"{name}.txt"
            if not path.is_file():
                continue
            lines = [line.strip() for line in path.read_text().splitlines()]
            names = [Path(s).stem if Path(s).suffix.lower() in SUFFIXES else s
                     for s in lines if s and not s.startswith("#")]
            unknown = [s for s in names if s not in known]
            if unknown or not names:
                raise OptArenaError(
                    f"{path} lists no stems" if not names else
                    f"{path} names {unknown[0]!r}{' (and more)' if len(unknown) > 1 else ''} but "
                    f"{self.root / 'images'} has no such image: fix the list or add the image")
            listed[name] = list(dict.fromkeys(names))
        for a, b in combinations(listed, 2):
            common = sorted(set(listed[a]) & set(listed[b]))
            if common:
                raise OptArenaError(f"{common[0]!r} is in both splits/{a}.txt and splits/{b}.txt: "
                                    "each stem belongs to one split")
        taken = {s for names in listed.values() for s in names}
        pool = listed.get("train") or [s for s in stems if s not in taken]
        carve = {n: size for n, size in (("val", self.val_size), ("test", self.test_size))
                 if n not in listed}
        if not pool:
            raise OptArenaError(f"{self.root / 'splits'} leaves no stems for training")
        if not carve:
            return {**listed, "train": pool}
        idx = seeded_split(len(pool), carve, self.split_seed)
        return {**listed, **{n: [pool[i] for i in idx[n]] for n in (*carve, "train")}}

    def _shape(self, pairs: list[tuple[Path, Path]]) -> tuple[int, int, int]:
        grey, first = True, None
        for image, mask in pairs:
            mode, hw = probe(image)
            mask_hw = probe(mask)[1]
            if mask_hw != hw:
                raise size_mismatch(mask, mask_hw, image, hw)
            grey &= mode in GREY_MODES
            if first is None:
                first = (image, hw)
            elif self.image_size is None and hw != first[1]:
                raise OptArenaError(
                    f"{first[0]} is {first[1][0]}x{first[1][1]} but {image} is {hw[0]}x{hw[1]} "
                    "(H x W): set data.image_size=[H,W] to resize every image and mask to one size")
        self._grey = grey
        assert first is not None
        return (1 if grey else 3, *(self.image_size or first[1]))

    # --- Lightning hook ---------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        read = {s: read_pairs(self.files[s], self._grey, self.image_size) for s in SPLITS}
        named = [(m, h) for s in SPLITS for (_, m), h in zip(self.files[s], read[s][2],
                                                              strict=True)]
        binary = self._binary([h for _, h in named])
        if binary:
            self._check_binary(named)
        names = self._resolve_names(binary, named)
        if not binary:
            for mask, hist in named:
                check_masks(torch.from_numpy(np.flatnonzero(hist).astype(np.uint8)),
                            len(names), str(mask))
        splits = {}
        for s in SPLITS:
            x, y, _ = read[s]
            y = (y >= THRESHOLD).to(torch.uint8) if binary else y
            check_masks(y, len(names), f"{self.root / 'masks'} ({s} split)")
            splits[s] = (x, y)
        self.splits, self._names = splits, names
        self.mean, self.std = channel_stats(self.splits["train"][0])

    def _binary(self, hists: list[np.ndarray]) -> bool:
        if self.binary_masks != "auto":
            return bool(self.binary_masks)
        return self._jpeg or all(h[1:255].sum() == 0 for h in hists)

    def _check_binary(self, named: list[tuple[Path, np.ndarray]]) -> None:
        for mask, hist in named:
            top = int(np.flatnonzero(hist).max())
            if mask.suffix.lower() == ".png" and 0 < top < THRESHOLD:
                raise OptArenaError(
                    f"{mask} holds values 0..{top}, but binary masks are read as 0/255 "
                    "(threshold 128): set data.binary_masks=false to read class ids")

    def _resolve_names(self, binary: bool, named: list[tuple[Path, np.ndarray]]) -> list[str]:
        if self._classes_file is not None:
            if binary and len(self._classes_file) != 2:
                raise self._binary_classes_error()
            return self._classes_file
        if binary:
            return list(BINARY_NAMES)
        ids = np.flatnonzero(sum(h for _, h in named)[:255])
        count = int(ids.max(initial=0)) + 1
        if count < 2:
            raise OptArenaError(f"the masks in {self.root / 'masks'} hold only class 0: a "
                                "segmentation dataset needs 2 or more classes")
        return [str(i) for i in range(count)]
