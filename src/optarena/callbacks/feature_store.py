"""Frozen-backbone features on disk, shared by the runs of a machine (see feature_cache.py).

One file per key: `<label>-<key>.pt` (torch.save of plain tensors, loaded with
weights_only=True) and `<label>-<key>.json` (the key's inputs, for people). Parallel jobs that
need the same features start together: the first to take the file lock computes, the others
wait on the lock and then read. The lock is an OS lock (filelock's flock on Unix), so a job that
dies while computing frees it. Writes go to a temporary file renamed into place, so a reader
never sees half a file; a file that does not load, or whose content does not match its
checksum, key or labels, is computed again and replaced, never trusted.
"""

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch
from filelock import FileLock, Timeout
from torch import Tensor

from optarena.errors import OptArenaError

log = logging.getLogger(__name__)
Splits = dict[str, tuple[Tensor, Tensor]]  # split name -> (inputs or features, labels)


def tensor_digest(tensors: list[Tensor]) -> str:
    """sha256 of the tensors' dtypes, shapes and bytes (weights, features, clips)."""
    digest = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        digest.update(f"{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():  # viewed as bytes: works for every dtype, bfloat16 included
            digest.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    return digest.hexdigest()


class FeatureStore:
    """The features of one key in `directory`; `get` reads them or computes them once."""

    def __init__(self, directory: Path, label: str, key: str, description: dict) -> None:
        self.path = directory / f"{label}-{key}.pt"
        self.key, self.description = key, description

    def get(self, labels: dict[str, Tensor], compute: Callable[[], Splits]) -> tuple[Splits, str]:
        """(features per split, "read" | "computed"); `labels` are the splits' targets."""
        found = self._read(labels, quiet=True)
        if found is not None:
            return found, "read"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OptArenaError(
                f"cannot create the feature cache folder {self.path.parent} ({err}); set "
                "callbacks.feature_cache.cache_dir to a writable folder, or to null for a cache "
                "that lasts one run") from None
        lock = FileLock(f"{self.path}.lock")
        try:
            lock.acquire(blocking=False)
        except Timeout:
            log.info("feature cache: another run is computing %s; waiting for it", self.path.name)
            lock.acquire()
        try:
            found = self._read(labels, quiet=False)  # written while this run waited?
            if found is not None:
                return found, "read"
            features = compute()
            try:
                self._write(features)
            except (OSError, RuntimeError) as err:  # e.g. a full disk: this run still has them
                log.warning("feature cache: could not write %s (%s); this run goes on, later "
                            "runs compute the features again", self.path, err)
            return features, "computed"
        finally:
            lock.release()

    def _read(self, labels: dict[str, Tensor], quiet: bool) -> Splits | None:
        """The stored features when the file is whole and matches; None (with a warning
        unless `quiet`) otherwise."""
        if not self.path.is_file():
            return None
        try:
            stored = torch.load(self.path, weights_only=True, map_location="cpu")
            problem = self._problem(stored, labels)
        except Exception as err:  # any unreadable or malformed file is recomputed
            problem = f"unreadable ({type(err).__name__}: {str(err)[:120]})"
        if problem is None:
            return {name: (stored["features"][name], labels[name]) for name in labels}
        if not quiet:
            log.warning("feature cache: ignoring %s (%s); computing the features again",
                        self.path, problem)
        return None

    def _problem(self, stored: object, labels: dict[str, Tensor]) -> str | None:
        if not isinstance(stored, dict) or stored.get("key") != self.key:
            return "not this key's file"
        features, saved_labels = stored.get("features"), stored.get("labels")
        if not isinstance(features, dict) or set(features) != set(labels):
            return "other splits"
        if tensor_digest([features[n] for n in sorted(features)]) != stored.get("digest"):
            return "checksum mismatch: a damaged file"
        for name, y in labels.items():
            if not torch.equal(saved_labels[name], y.cpu()) or len(features[name]) != len(y):
                return f"the {name} split's labels differ"
        return None

    def _write(self, splits: Splits) -> None:
        features = {name: x.detach().cpu() for name, (x, _) in splits.items()}
        blob = {"key": self.key, "features": features,
                "labels": {name: y.cpu() for name, (_, y) in splits.items()},
                "digest": tensor_digest([features[n] for n in sorted(features)])}
        about = json.dumps({"file": self.path.name, **self.description}, indent=2,
                           default=str) + "\n"
        # Temporary names carry the pid: parallel jobs never write the same file.
        for target, save in ((self.path, lambda f: torch.save(blob, f)),
                             (self.path.with_suffix(".json"), lambda f: f.write_text(about))):
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            try:
                save(tmp)
                tmp.replace(target)
            finally:
                tmp.unlink(missing_ok=True)
        log.info("feature cache: wrote %s (later runs with the same key read it)", self.path)
