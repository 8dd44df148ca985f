"""Checkpoints written whole or not at all: a kill during a write leaves the previous file.

Lightning's own writer goes through a temporary file in the system's temp folder and then
`shutil.move`, which copies (and so can be cut short) when that folder is on another file
system. Here the checkpoint is written beside its destination, flushed to disk, and renamed
over it, which is atomic on POSIX file systems.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO


def temporary_name(path: Path) -> Path:
    """`.last.ckpt.<pid>.tmp` beside `last.ckpt` (resume removes those left by a kill)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Trainer(plugins=[AtomicCheckpointIO()]): every checkpoint of a run (optarena.run)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):  # remote storage: Lightning's
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_name(path)
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
