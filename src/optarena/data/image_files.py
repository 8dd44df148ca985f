"""Reading image and mask files with PIL: modes, resizing, and one clear error per bad file.

Shared by the segmentation datasets stored as image files (seg_folder, oxford_pets). Images
become grey (1 channel) or RGB; masks keep their stored values ('L' values, 'P' palette
indices), and a colour mask is an error. Pairs are read in threads (PIL decodes without the
GIL) and resized once: images bilinear with antialias, masks nearest.
"""

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image
from torch import Tensor
from torchvision.transforms import InterpolationMode

from optarena.errors import OptArenaError

JPEG = (".jpg", ".jpeg")
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})
COLOUR_MODES = frozenset({"RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"})
JPEG_SPREAD = 48  # a grey JPEG stored as RGB: its channels differ by a few levels, not more
WORKERS = min(16, os.cpu_count() or 1)
READ_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


def image_size_arg(size: object) -> tuple[int, int] | None:
    """`data.image_size`: [height, width] or null."""
    if size is None:
        return None
    if isinstance(size, list | tuple) and len(size) == 2 and all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in size):
        return int(size[0]), int(size[1])
    raise OptArenaError(f"data.image_size must be [height, width] (two integers >= 1) or null, "
                        f"got {size!r}")


def unreadable(path: Path, err: Exception) -> OptArenaError:
    reason = " ".join(str(err).split())
    return OptArenaError(f"{path} cannot be read as an image ({type(err).__name__}: {reason}); "
                         "replace it with a good copy, or remove it and its pair")


def probe(path: Path) -> tuple[str, tuple[int, int]]:
    """The mode and (H, W) from the file's header (nothing decoded)."""
    try:
        with Image.open(path) as img:
            return img.mode, (img.height, img.width)
    except READ_ERRORS as err:
        raise unreadable(path, err) from None


def decoded(path: Path) -> Image.Image:
    """The fully decoded image; a truncated or garbage file is named."""
    try:
        img = Image.open(path)
    except READ_ERRORS as err:
        raise unreadable(path, err) from None
    try:
        img.load()
    except READ_ERRORS as err:
        img.close()
        raise unreadable(path, err) from None
    return img


def read_image(path: Path, grey: bool) -> np.ndarray:
    """uint8 (C, H, W): 'L' (1 channel) or RGB (3); palette, alpha, CMYK, 16-bit converted."""
    img = decoded(path)
    if img.mode in GREY_MODES and img.mode != "L":
        img = img.convert("L")
    pixels = np.array(img.convert("L" if grey else "RGB"))
    return pixels[None] if grey else pixels.transpose(2, 0, 1).copy()


def read_mask(path: Path) -> np.ndarray:
    """uint8 (H, W) of the stored values: 'L' values, 'P' palette indices; an RGB mask only
    when it is grey (R = G = B, within JPEG noise for a .jpg)."""
    img = decoded(path)
    mode = img.mode
    if mode in COLOUR_MODES:
        rgb = np.array(img.convert("RGB")).astype(np.int16)
        spread = int((rgb.max(axis=2) - rgb.min(axis=2)).max(initial=0))
        if spread > (JPEG_SPREAD if path.suffix.lower() in JPEG else 0):
            raise OptArenaError(
                f"{path} is a colour ({mode}) mask: convert it to class ids, a one-channel PNG "
                "(mode 'L' or 'P') whose pixel values are the class ids (255 = ignore)")
        return np.array(img.convert("L"))
    if mode in ("LA", "PA"):
        return np.array(img)[..., 0]
    values = np.array(img)
    if mode == "F" or values.min(initial=0) < 0 or values.max(initial=0) > 255:
        raise OptArenaError(f"{path} ({mode}) holds values outside 0..255: store class ids "
                            "0..254 (255 = ignore) in a one-channel 8-bit PNG")
    return values.astype(np.uint8)


def read_pair(image: Path, mask: Path, grey: bool, size: tuple[int, int] | None,
              mask_reader: Callable[[Path], np.ndarray] = read_mask
              ) -> tuple[Tensor, Tensor, np.ndarray]:
    """(uint8 image (C, h, w), uint8 mask (h, w), the mask's 256-bin histogram of stored
    values), resized to `size` (image bilinear with antialias, mask nearest)."""
    x = torch.from_numpy(read_image(image, grey))
    values = mask_reader(mask)
    if values.shape != tuple(x.shape[1:]):
        raise size_mismatch(mask, values.shape, image, tuple(x.shape[1:]))
    hist = np.bincount(values.ravel(), minlength=256)
    y = torch.from_numpy(values)
    if size is not None and tuple(x.shape[1:]) != size:
        x = TF.resize(x, list(size), InterpolationMode.BILINEAR, antialias=True)
        y = TF.resize(y[None], list(size), InterpolationMode.NEAREST)[0]
    return x, y, hist


def read_pairs(pairs: list[tuple[Path, Path]], grey: bool, size: tuple[int, int] | None,
               mask_reader: Callable[[Path], np.ndarray] = read_mask
               ) -> tuple[Tensor, Tensor, list[np.ndarray]]:
    """Every pair read in threads (PIL decodes without the GIL): stacked images, masks and
    the masks' histograms. All must share one size (or `size` is given)."""
    with ThreadPoolExecutor(WORKERS) as pool:
        out = list(pool.map(lambda p: read_pair(p[0], p[1], grey, size, mask_reader), pairs))
    xs, ys, hists = zip(*out, strict=True)
    return torch.stack(xs), torch.stack(ys), list(hists)


def size_mismatch(mask: Path, mask_hw: tuple, image: Path, image_hw: tuple) -> OptArenaError:
    return OptArenaError(
        f"{mask} is {mask_hw[0]}x{mask_hw[1]} but its image {image} is {image_hw[0]}x"
        f"{image_hw[1]} (H x W): a mask must match its image pixel for pixel; fix the pair")
