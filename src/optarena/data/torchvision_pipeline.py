"""The standard pipeline (`data.pipeline=torchvision`): a Dataset of PIL images, torchvision
transforms per image, a DataLoader with worker processes. Same augmentation as the tensor path;
kept as the reference the fast path is checked and benchmarked against.
"""

from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T


class PILImageDataset(Dataset):
    """uint8 (N, C, H, W) images as PIL images (as torchvision's CIFAR10/MNIST datasets do)."""

    def __init__(self, x: Tensor, y: Tensor, transform: Callable | None = None) -> None:
        # HWC (or HW for grey) numpy arrays: what Image.fromarray takes.
        self.images = x.permute(0, 2, 3, 1).numpy()
        if self.images.shape[-1] == 1:
            self.images = self.images[..., 0]
        self.targets = y
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        image = Image.fromarray(self.images[i])
        if self.transform is not None:
            image = self.transform(image)
        return image, self.targets[i]


def pil_transform(
    mean: Sequence[float], std: Sequence[float], size: tuple[int, int], crop_padding: int = 0,
    flip: bool = False,
) -> T.Compose:
    """torchvision's per-image equivalent of ImageBatchTransform."""
    steps: list = []
    if crop_padding:
        steps.append(T.RandomCrop(size, padding=crop_padding))
    if flip:
        steps.append(T.RandomHorizontalFlip())
    steps += [T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)


def dataloader(
    x: Tensor, y: Tensor, transform: Callable, batch_size: int, shuffle: bool, num_workers: int,
) -> DataLoader:
    return DataLoader(
        PILImageDataset(x, y, transform), batch_size=batch_size, shuffle=shuffle,
        num_workers=num_workers, persistent_workers=num_workers > 0,
        pin_memory=torch.cuda.is_available(),
    )
