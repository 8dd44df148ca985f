"""Decode audio files once (soundfile), resample (torchaudio), fix their length; cache on disk.

The cache holds one float32 tensor of all clips, keyed by everything that changes it: the
sample rate, the clip length, the list of files with their sizes, and the decoder version.
A later run with the same settings loads that tensor instead of decoding again.
"""

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio.functional as AF
from torch import Tensor

from optarena.errors import OptArenaError

log = logging.getLogger(__name__)
FORMAT_VERSION = 1  # bump when decoding changes, so that old cache files are not reused
RESAMPLE_CHUNK = 64  # clips resampled per call


def decode(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples and the sample rate of one file; a clear error names a bad file."""
    if not path.is_file():
        raise OptArenaError(f"audio file missing: {path}; restore the dataset (or re-download it)")
    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as err:
        raise OptArenaError(f"cannot decode audio file {path} ({err}); replace or re-download "
                            "it, or remove it from the metadata") from None
    if samples.shape[0] == 0:
        raise OptArenaError(f"audio file {path} holds no samples; replace or re-download it")
    return samples.mean(axis=1), int(rate)


def fit_length(wave: Tensor, length: int) -> Tensor:
    """Crop or zero-pad the last dimension to `length` samples."""
    if wave.shape[-1] >= length:
        return wave[..., :length]
    return torch.nn.functional.pad(wave, (0, length - wave.shape[-1]))


def decode_all(paths: list[Path], sample_rate: int, length: int) -> Tensor:
    """(N, length) float32: every file decoded, resampled to `sample_rate`, cropped or padded."""
    out = torch.zeros(len(paths), length)
    groups: dict[tuple[int, int], list[tuple[int, np.ndarray]]] = {}
    for i, path in enumerate(paths):
        samples, rate = decode(path)
        groups.setdefault((rate, len(samples)), []).append((i, samples))
    # Files of one rate and length are resampled together: one kernel, batched convolution.
    for (rate, _), items in groups.items():
        for start in range(0, len(items), RESAMPLE_CHUNK):
            chunk = items[start : start + RESAMPLE_CHUNK]
            batch = torch.from_numpy(np.stack([s for _, s in chunk]))
            if rate != sample_rate:
                batch = AF.resample(batch, rate, sample_rate)
            out[[i for i, _ in chunk]] = fit_length(batch, length)
    return out


def cache_key(paths: list[Path], sample_rate: int, length: int, extra: dict) -> str:
    """A short hash of the settings and of the files (names and sizes)."""
    files = [(p.name, p.stat().st_size if p.is_file() else -1) for p in paths]
    blob = json.dumps({"version": FORMAT_VERSION, "sample_rate": sample_rate, "length": length,
                       "files": files, **extra}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def load_or_decode(paths: list[Path], sample_rate: int, length: int, cache_file: Path | None
                   ) -> Tensor:
    """The clips from `cache_file` when it exists, else decoded (and written there)."""
    if cache_file is not None and cache_file.is_file():
        try:
            waves = torch.load(cache_file, weights_only=True)
        except (OSError, RuntimeError, EOFError) as err:
            log.warning("ignoring unreadable cache %s (%s): decoding again", cache_file, err)
        else:
            if isinstance(waves, Tensor) and tuple(waves.shape) == (len(paths), length):
                return waves
            log.warning("ignoring cache %s: unexpected shape; decoding again", cache_file)
    log.info("decoding %d audio files at %d Hz (once; later runs read the cache)",
             len(paths), sample_rate)
    waves = decode_all(paths, sample_rate, length)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")  # parallel jobs: no clash
        torch.save(waves, tmp)
        tmp.replace(cache_file)
    return waves
