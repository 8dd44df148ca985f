"""What is explained: a fixed, class-stratified set of test items, the function captum
attributes (logits of the input it is computed on), and what the figure draws.

Three kinds of input, by what the model offers:
- image: the normalised image batch the model takes (classification or segmentation);
- spectrogram: models with a log-mel front end (`logmel`, `classify_logmel`: logmel_cnn) are
  explained on their log-mel input, time x mel;
- waveform: models on raw audio (HuBERT) are explained on the samples, through the whole
  backbone (never the frozen-feature cache), and shown over time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from optarena.errors import OptArenaError
from optarena.explain.load import LoadedRun

BACKGROUND = "background"


@dataclass
class Subject:
    kind: str                              # image | spectrogram | waveform
    forward: Callable[[Tensor], Tensor]    # inputs -> (N, classes) scores captum attributes
    inputs: Tensor                         # (N, ...) on the model's device
    targets: Tensor                        # (N,) the class each item is explained for
    display: np.ndarray                    # what is drawn: images in [0, 1], dB, waveforms
    indices: list[int]                     # positions in the test split
    titles: list[tuple[str, str]]          # (true, predicted) per item
    correct: list[bool]
    cam_layer: nn.Module | None            # the last convolution, for Grad-CAM
    seconds: float = 0.0                   # audio: clip length, for the time axis
    masks: np.ndarray | None = None        # segmentation: (N, 2, H, W) true / predicted mask


def stratified(labels: list[int], n: int) -> list[int]:
    """n positions taking each class in turn (in class order), each class's items in split
    order: the same items for every run on the same data."""
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(i)
    picked: list[int] = []
    depth = 0
    while len(picked) < min(n, len(labels)):
        for label in sorted(by_class):
            if depth < len(by_class[label]) and len(picked) < n:
                picked.append(by_class[label][depth])
        depth += 1
    return picked


def last_conv(module: nn.Module, types: tuple[type, ...] = (nn.Conv2d, nn.Conv1d)
              ) -> nn.Module | None:
    convs = [m for m in module.modules() if isinstance(m, types)]
    return convs[-1] if convs else None


def _test_split(run: LoadedRun) -> tuple[Tensor, Tensor]:
    """The test split as stored (before any transform)."""
    dm = run.datamodule
    dm.prepare_data()
    dm.setup("test")
    return dm.splits["test"]


def _model_inputs(run: LoadedRun, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Items transformed as the test loader transforms its batches (normalisation)."""
    dm = run.datamodule
    transform = dm.eval_transform()
    if transform is not None:
        x = transform(x)
    pair = dm.pair_transform(False)
    if pair is not None:
        x, y = pair(x, y)
    return x.float(), y


def _image_display(x: Tensor) -> np.ndarray:
    """The images as shown: the stored pixels before normalisation (uint8 -> [0, 1]); float
    data is rescaled per image. (N, H, W) grey or (N, H, W, 3)."""
    if x.dtype == torch.uint8:
        img = x.float() / 255.0
    elif bool(((x >= 0) & (x <= 1)).all()):  # already in [0, 1] (digits)
        img = x.float()
    else:
        flat = x.float().flatten(1)
        lo = flat.min(1).values[:, None, None, None]
        hi = flat.max(1).values[:, None, None, None]
        img = (x.float() - lo) / (hi - lo).clamp_min(1e-8)
    img = img.cpu().numpy()
    return img[:, 0] if img.shape[1] == 1 else img.transpose(0, 2, 3, 1)[..., :3]


def _names(run: LoadedRun) -> list[str]:
    dm = run.datamodule
    return list(getattr(dm, "class_names", [])) or [str(i) for i in range(dm.num_classes)]


def subject(run: LoadedRun, n: int, seg_class: int | None = None) -> Subject:
    """The run's explained items and what captum attributes for them."""
    net, device = run.net, run.built.trainer.strategy.root_device
    net.to(device).eval()
    x, y = _test_split(run)
    if run.kind == "segmentation":
        return _segmentation(run, x, y, n, seg_class, device)
    idx = stratified(y.tolist(), n)
    names = _names(run)
    inputs, targets = (t.to(device) for t in _model_inputs(run, x[idx], y[idx]))
    if hasattr(net, "logmel") and hasattr(net, "classify_logmel"):
        kind, forward = "spectrogram", net.classify_logmel
        with torch.no_grad():  # shown in dB, before the per-clip normalisation
            display = net.to_db(net.melspec(inputs.float()) + 1e-10).cpu().numpy()
            inputs = net.logmel(inputs)
        cam = last_conv(net, (nn.Conv2d,))
    elif inputs.dim() == 2:  # (N, T) waveforms through the whole model
        kind, forward, display = "waveform", net, inputs.cpu().numpy()
        encoder = getattr(getattr(net, "backbone", None), "feature_extractor", net)
        cam = last_conv(encoder, (nn.Conv1d,))
    else:
        kind, forward, display = "image", net, _image_display(x[idx])
        cam = last_conv(net)
    with torch.no_grad():
        preds = forward(inputs).argmax(-1).tolist()
    truth = targets.tolist()
    return Subject(kind, forward, inputs, targets, display, idx,
                   [(names[t], names[p]) for t, p in zip(truth, preds, strict=True)],
                   [t == p for t, p in zip(truth, preds, strict=True)], cam,
                   seconds=float(getattr(run.datamodule, "clip_seconds", 0.0)))


def _explained_class(mask: Tensor, names: list[str], seg_class: int | None) -> int:
    """The given class, else the image's largest labelled class that is not background."""
    if seg_class is not None:
        return seg_class
    counts = torch.bincount(mask[mask < len(names)].flatten().long(), minlength=len(names))
    for i, name in enumerate(names):
        if name.lower() == BACKGROUND and counts.sum() > counts[i]:
            counts[i] = -1
    return int(counts.argmax())


def _segmentation(run: LoadedRun, x: Tensor, y: Tensor, n: int, seg_class: int | None,
                  device: torch.device) -> Subject:
    names = _names(run)
    if seg_class is not None and seg_class >= len(names):
        raise OptArenaError(f"explain.seg_class={seg_class}: the data has {len(names)} classes "
                            f"(0..{len(names) - 1})")
    classes = [_explained_class(m, names, seg_class) for m in y]
    idx = stratified(classes, n)
    net = run.net
    inputs = _model_inputs(run, x[idx], y[idx])[0].to(device)
    targets = torch.tensor([classes[i] for i in idx], device=device)

    def forward(batch: Tensor) -> Tensor:
        """(N, C) per class: the sum of its logit over the pixels predicted as that class
        (captum's segmentation recipe): attributing class c explains its predicted mask."""
        logits = net(batch)
        chosen = F.one_hot(logits.argmax(1), logits.shape[1]).permute(0, 3, 1, 2)
        return (logits * chosen).sum(dim=(2, 3))

    with torch.no_grad():
        pred = net(inputs).argmax(1).cpu()
    true = y[idx].long()
    titles, correct, masks = [], [], []
    for k, c in enumerate(targets.tolist()):
        t_mask, p_mask = true[k] == c, pred[k] == c
        union = int((t_mask | p_mask).sum())
        iou = int((t_mask & p_mask).sum()) / union if union else float("nan")
        titles.append((names[c], f"mask IoU {iou:.2f}"))
        correct.append(iou >= 0.5)
        masks.append(np.stack([t_mask.numpy(), p_mask.numpy()]))
    return Subject("image", forward, inputs, targets, _image_display(x[idx]), idx, titles,
                   correct, last_conv(net), masks=np.stack(masks))
