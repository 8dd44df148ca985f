"""Tiny segmentation datasets in the exact on-disk formats, with learnable structure.

Each scene is dim noise with a few squares; a square of class k is bright (and, in colour,
brightest in channel k % 3), so a small network can tell the classes from the pixels. MNIST
scenes reuse tests/vision_fixtures.write_mnist.
"""

from pathlib import Path

import numpy as np
from PIL import Image

BREEDS = [("Abyssinian", 1, 1), ("beagle", 2, 2)]  # (breed, class id, species: 1 cat, 2 dog)


def scene(rng: np.random.Generator, hw: tuple[int, int], classes: int, channels: int = 3,
          ids: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """uint8 image (H, W, C) and mask (H, W): noise, background 0, and one square per class of
    `ids` (default 1..classes-1) at a random position."""
    h, w = hw
    image = rng.integers(0, 50, size=(h, w, channels))
    mask = np.zeros((h, w), np.uint8)
    for k in ids if ids is not None else range(1, classes):
        side = max(2, min(h, w) // 3)
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        mask[top:top + side, left:left + side] = k
        image[top:top + side, left:left + side] += 100 + 20 * k
        image[top:top + side, left:left + side, k % channels] += 60
    return image.clip(0, 255).astype(np.uint8), mask


def save_image(array: np.ndarray, path: Path) -> None:
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)


def write_seg_folder(root: Path, n: int = 12, hw: tuple[int, int] = (16, 16), classes: int = 3,
                     classes_txt: bool = True, splits: dict[str, list[int]] | None = None,
                     grey: bool = False, sizes: list[tuple[int, int]] | None = None,
                     palette: bool = False, ids: tuple[int, ...] | None = None, seed: int = 0,
                     truth: dict[str, np.ndarray] | None = None) -> Path:
    """root/images/img_XX.png + root/masks/img_XX.png ('L' class ids, or 'P' with palette);
    classes.txt; splits/<name>.txt listing the given image numbers. `sizes`: per-image
    (H, W), cycled (images of differing sizes); `ids`: the classes drawn in every mask (default
    all but 0). `truth` receives the masks by stem."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    for i in range(n):
        size = sizes[i % len(sizes)] if sizes else hw
        image, mask = scene(rng, size, classes, 1 if grey else 3, ids)
        save_image(image, root / "images" / f"img_{i:02d}.png")
        if truth is not None:
            truth[f"img_{i:02d}"] = mask
        out = Image.fromarray(mask)
        if palette:  # indices = class ids, colours unrelated to them
            out = Image.frombytes("P", (mask.shape[1], mask.shape[0]), mask.tobytes())
            out.putpalette([v for k in range(256) for v in (40 * k % 256, 90 * k % 256, 7)])
        out.save(root / "masks" / f"img_{i:02d}.png")
    if classes_txt:
        names = ["background", *(f"thing{k}" for k in range(1, classes))]
        (root / "classes.txt").write_text("\n".join(names) + "\n")
    for name, numbers in (splits or {}).items():
        (root / "splits").mkdir(exist_ok=True)
        (root / "splits" / f"{name}.txt").write_text("".join(f"img_{i:02d}\n" for i in numbers))
    return root


def write_binary_jpeg(root: Path, n: int = 10, hw: tuple[int, int] = (24, 24), seed: int = 0
                      ) -> tuple[Path, dict[str, np.ndarray]]:
    """A Kvasir-SEG-style set: images/*.jpg and masks/*.jpg, the masks 0/255 saved as (RGB)
    JPEG, so their values are only near 0 and 255. Returns root and the exact 0/1 masks."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    truth = {}
    for i in range(n):
        image, mask = scene(rng, hw, 2)
        Image.fromarray(image).save(root / "images" / f"cju{i:03d}.jpg", quality=90)
        grey = (mask * 255).astype(np.uint8)
        Image.fromarray(np.stack([grey] * 3, axis=-1)).save(root / "masks" / f"cju{i:03d}.jpg")
        truth[f"cju{i:03d}"] = mask
    return root, truth


def trimap_scene(rng: np.random.Generator, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A pet photo (H, W, 3) and its trimap: 1 pet (a bright square), 3 its 1-px border,
    2 background."""
    h, w = hw
    image = rng.integers(0, 60, size=(h, w, 3))
    trimap = np.full((h, w), 2, np.uint8)
    side = min(h, w) // 2
    top, left = rng.integers(1, h - side), rng.integers(1, w - side)
    trimap[top - 1:top + side + 1, left - 1:left + side + 1] = 3
    trimap[top:top + side, left:left + side] = 1
    image[trimap == 1] += 150
    image[trimap == 3] += 80
    return image.clip(0, 255).astype(np.uint8), trimap


def write_oxford_pets(root: Path, trainval: int = 12, test: int = 6, seed: int = 0) -> Path:
    """root/oxford-iiit-pet/ in torchvision's layout: JPEG images of two sizes (one of them grey,
    one CMYK, one a PNG named .jpg, as in the real archive), trimap PNGs of 1/2/3, and
    annotations/{trainval,test}.txt in the official line format (with a '#' header line)."""
    rng = np.random.default_rng(seed)
    folder = root / "oxford-iiit-pet"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "annotations" / "trimaps").mkdir(parents=True, exist_ok=True)
    for split, count in (("trainval", trainval), ("test", test)):
        lines = ["#Image CLASS-ID SPECIES BREED ID"]
        for i in range(count):
            breed, class_id, species = BREEDS[i % 2]
            stem = f"{breed}_{split}{i}"
            image, trimap = trimap_scene(rng, (20, 24) if i % 3 else (28, 18))
            photo = Image.fromarray(image)
            path = folder / "images" / f"{stem}.jpg"
            if i == 1:
                photo.convert("L").save(path, format="JPEG")
            elif i == 2:
                photo.convert("CMYK").save(path, format="JPEG")
            elif i == 4:
                photo.save(path, format="PNG")
            else:
                photo.save(path, format="JPEG", quality=90)
            Image.fromarray(trimap).save(folder / "annotations" / "trimaps" / f"{stem}.png")
            lines.append(f"{stem} {class_id} {species} {i + 1}")
        (folder / "annotations" / f"{split}.txt").write_text("\n".join(lines) + "\n")
    # macOS resource forks, as in the real annotations archive: never read
    (folder / "annotations" / "trimaps" / "._Abyssinian_trainval0.png").write_bytes(b"\x00junk")
    return folder
