"""A job tells the launcher its outcome through a small file (the return value, or the error)."""


import pickle
import traceback
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class WriteJobReturn(Callback):
    """Added to each job by the parallel launcher; writes the task function's outcome."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        value = job_return._return_value
        if job_return.status == JobStatus.COMPLETED:
            payload = {"status": "COMPLETED", "value": value}
        else:
            lines = traceback.format_exception(value) if isinstance(value, BaseException) else []
            payload = {"status": "FAILED", "error": "".join(lines[-12:]).strip() or repr(value)}
        try:
            data = pickle.dumps(payload)
        except Exception:  # an unpicklable return value still reports its text
            data = pickle.dumps({**payload, "value": repr(value)})
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(self.path)


def read_job_return(path: Path) -> dict | None:
    """What the job wrote, or None if it never got there (killed, crashed, exited early)."""
    try:
        return pickle.loads(path.read_bytes())
    except (OSError, EOFError, pickle.UnpicklingError):
        return None
