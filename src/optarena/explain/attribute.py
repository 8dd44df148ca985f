"""Attribution with captum: Saliency, IntegratedGradients, LayerGradCam -> one heat map per item.

Heat maps (what the figure draws, and what tests check): images (N, H, W), the absolute
attribution summed over colour channels; spectrograms (N, n_mels, frames); waveforms (N, BINS),
the mean absolute attribution in BINS equal windows over time.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import IntegratedGradients, LayerGradCam, Saliency

from optarena.errors import OptArenaError
from optarena.explain.inputs import Subject
from optarena.explain.options import ExplainOptions

BINS = 200  # windows over a clip's time axis for waveform attributions


def attribute(subject: Subject, options: ExplainOptions, model_name: str = "the model"
              ) -> np.ndarray:
    inputs = subject.inputs.detach().clone().requires_grad_(True)
    target = subject.targets
    if options.method == "saliency":
        attr = Saliency(subject.forward).attribute(inputs, target=target, abs=True)
    elif options.method == "integrated_gradients":
        # Baseline: zeros of the model's input (the training mean of normalised images,
        # silence for waveforms, the mean level of a normalised spectrogram).
        ig = IntegratedGradients(subject.forward)
        attr = ig.attribute(inputs, target=target, n_steps=options.steps,
                            internal_batch_size=options.internal_batch_size).abs()
    else:
        if subject.cam_layer is None:
            raise OptArenaError(f"explain.method=gradcam needs a convolutional layer, and "
                                f"{model_name} has none: use explain.method=saliency or "
                                "integrated_gradients")
        cam = LayerGradCam(subject.forward, subject.cam_layer)
        attr = cam.attribute(inputs, target=target, relu_attributions=True)
        # (N, 1, h, w) or (N, 1, t) at the layer's resolution -> the input's
        size = inputs.shape[2:] if subject.kind != "waveform" else inputs.shape[1:]
        mode = "bilinear" if len(size) == 2 else "linear"
        attr = F.interpolate(attr.float(), size=tuple(size), mode=mode, align_corners=False)
    return heat_maps(subject.kind, attr.detach().float().cpu())


def heat_maps(kind: str, attr: torch.Tensor) -> np.ndarray:
    if kind == "waveform":
        flat = attr.abs().reshape(len(attr), -1)
        edges = np.linspace(0, flat.shape[1], min(BINS, flat.shape[1]) + 1).astype(int)
        return np.stack([flat[:, a:b].mean(1).numpy() for a, b in
                         zip(edges[:-1], edges[1:], strict=True)], axis=1)
    return attr.abs().sum(dim=1).numpy()  # over channels (colour; 1 for spectrograms)
