"""Ctrl-C and SIGTERM in the parallel launcher: raised as an interruption everywhere except
while a job is being started (or reaped), where they wait until that step is done."""

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGINT), handled like Ctrl-C: the running jobs are stopped cleanly."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"received {signal.Signals(signum).name}")
        self.signum = signum


class StopSignals:
    """SIGINT and SIGTERM raise Terminated, except while `held`: a job being started (or
    reaped) is finished first, and the signal is raised after, so no job is started without
    being counted as running, and so stopped (a job handed to the fork server is running)."""

    def __init__(self) -> None:
        self.holding, self.pending = False, None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.holding:
            self.pending = signum
            return
        raise Terminated(signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only
            return
        previous = {s: signal.signal(s, self._handler) for s in STOP_SIGNALS}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise Terminated(signum)
