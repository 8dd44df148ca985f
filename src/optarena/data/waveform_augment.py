"""Training augmentation of waveform batches with tensor ops: random gain and time shift."""

import torch
from torch import Tensor


class WaveformAugment:
    """Per clip: a gain uniform in +-`gain_db` dB and a circular shift of up to +-`max_shift`
    samples (ESC-50 clips are padded with silence, so a shift moves the event in its clip)."""

    def __init__(self, gain_db: float = 6.0, max_shift: int = 0) -> None:
        self.gain_db, self.max_shift = float(gain_db), int(max_shift)

    def __call__(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        if self.gain_db > 0:
            db = (torch.rand(n, 1, device=x.device) * 2 - 1) * self.gain_db
            x = x * torch.pow(10.0, db / 20)
        if self.max_shift > 0:
            shifts = torch.randint(-self.max_shift, self.max_shift + 1, (n,)).tolist()
            x = torch.stack([torch.roll(row, s) for row, s in zip(x, shifts, strict=True)])
        return x
