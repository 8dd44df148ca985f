"""A log-mel spectrogram CNN: the fast audio baseline (in the style of PANNs' CNN, smaller)."""

from collections.abc import Sequence

import torch
import torchaudio.transforms as AT
from torch import Tensor, nn

from optarena.errors import OptArenaError
from optarena.models.shapes import require_waveform


class LogMelCNN(nn.Module):
    """Waveform (B, T) -> log-mel (torchaudio) -> per-clip normalisation -> SpecAugment
    (training only) -> conv blocks (3x3 conv, [BN], ReLU, 2x2 average pool) -> global average
    pool -> dropout -> linear.

    SpecAugment (Park et al., 2019) masks `freq_masks` bands of up to `freq_mask_bins` mel bins
    and `time_masks` spans of up to `time_mask_seconds`, per clip, with the band mean (zero
    after normalisation).
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        num_classes: int,
        sample_rate: int = 16000,
        n_mels: int = 64,
        n_fft: int = 1024,
        hop_seconds: float = 0.01,
        channels: Sequence[int] = (32, 64, 128, 256),
        dropout: float = 0.3,
        batchnorm: bool = True,
        spec_augment: bool = True,
        freq_masks: int = 2,
        freq_mask_bins: int = 8,
        time_masks: int = 2,
        time_mask_seconds: float = 0.5,
    ) -> None:
        super().__init__()
        num_samples = require_waveform(tuple(in_shape), "logmel_cnn")
        hop = max(1, round(hop_seconds * sample_rate))
        if num_samples <= n_fft // 2:
            raise OptArenaError(f"clips of {num_samples} samples are shorter than half the FFT "
                                f"window ({n_fft}): lower model.n_fft or raise data.clip_seconds")
        self.melspec = AT.MelSpectrogram(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop,
                                         n_mels=n_mels)
        self.to_db = AT.AmplitudeToDB(top_db=80.0)
        frames = num_samples // hop + 1
        time_mask = min(frames, max(1, round(time_mask_seconds / hop_seconds)))
        self.spec_augment = (
            AT.SpecAugment(n_time_masks=time_masks, time_mask_param=time_mask,
                           n_freq_masks=freq_masks, freq_mask_param=min(n_mels, freq_mask_bins),
                           iid_masks=True, zero_masking=True)
            if spec_augment else None
        )
        layers: list[nn.Module] = []
        c = 1
        for out in channels:
            layers.append(nn.Conv2d(c, out, 3, padding=1, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm2d(out))
            layers += [nn.ReLU(), nn.AvgPool2d(2, ceil_mode=True)]
            c = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(c, num_classes))

    def logmel(self, x: Tensor) -> Tensor:
        """(B, T) -> normalised log-mel (B, 1, n_mels, frames)."""
        with torch.autocast(x.device.type, enabled=False):  # the STFT in float32
            spec = self.to_db(self.melspec(x.float()) + 1e-10)
        # Per clip: zero mean, unit variance (no running statistics to lag behind in eval).
        mean, std = spec.mean(dim=(1, 2), keepdim=True), spec.std(dim=(1, 2), keepdim=True)
        return ((spec - mean) / (std + 1e-5)).unsqueeze(1)

    def classify_logmel(self, spec: Tensor) -> Tensor:
        """Normalised log-mel (B, 1, n_mels, frames) -> logits (what saliency maps explain)."""
        return self.head(self.features(spec).mean(dim=(2, 3)))

    def forward(self, x: Tensor) -> Tensor:
        spec = self.logmel(x)
        if self.training and self.spec_augment is not None:
            spec = self.spec_augment(spec)
        return self.classify_logmel(spec)
