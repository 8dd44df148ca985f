"""One writer per run folder: `<run dir>/writer.lock`, held while a process writes the folder.

The lock is `fcntl.flock` on the open file, which the kernel releases when the process ends,
however it ends (kill -9 included): a lock file left by a process that is gone never blocks.
The file holds the writer's pid and host, so that a refusal can name the process. Where the
file system has no flock (some network or FUSE mounts), the pid is checked instead: a pid that
is not alive on this host is a stale lock; a lock from another host is reported as such.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from pathlib import Path

from optarena.errors import OptArenaError

LOCK = "writer.lock"
# Set for the ranks a distributed run starts besides the first; only rank 0 writes the folder.
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")
_held: dict[str, int] = {}  # resolved run dir -> the open, locked file descriptor


def is_first_rank() -> bool:
    return all(os.environ.get(v, "0") in ("", "0") for v in RANK_VARIABLES)


def _key(run_dir: Path) -> str:
    return os.path.realpath(run_dir)


def _read_owner(fd: int) -> tuple[int | None, str]:
    try:
        text = os.pread(fd, 256, 0).decode("utf-8", "replace").split()
        return int(text[0]), (text[1] if len(text) > 1 else "")
    except (OSError, ValueError, IndexError):
        return None, ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _try_lock(fd: int) -> bool:
    """Take the flock; False when another process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as err:  # no flock on this file system: judge by the recorded pid
        if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
            raise
        pid, host = _read_owner(fd)
        return pid is None or pid == os.getpid() or (host == socket.gethostname()
                                                     and not _alive(pid))


def _refusal(run_dir: Path, fd: int) -> OptArenaError:
    pid, host = _read_owner(fd)
    here = socket.gethostname()
    who = f"pid {pid}" if pid is not None else "another process"
    if host and host != here:
        who += f" on host {host}"
    how = (f"wait for it to end or stop it (kill {pid})" if host in ("", here) and pid
           else f"wait for it to end, or if that machine is gone, delete {run_dir / LOCK}")
    return OptArenaError(f"{run_dir} is being written by {who}; {how}, or use another folder "
                         "(hydra.run.dir / hydra.sweep.dir)")


def holder(run_dir: Path) -> str | None:
    """Who else writes `run_dir` now (a one-line description), or None."""
    run_dir = Path(run_dir)
    if _key(run_dir) in _held:
        return None
    try:
        fd = os.open(run_dir / LOCK, os.O_RDWR)
    except OSError:  # no lock file (or unreadable): nobody holds it
        return None
    try:
        if _try_lock(fd):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        return str(_refusal(run_dir, fd))
    finally:
        os.close(fd)


def claim(run_dir: Path) -> bool:
    """Become the one writer of `run_dir` (created if missing). True if this call took the
    lock, False if this process already held it; OptArenaError naming the other writer."""
    run_dir = Path(run_dir)
    if _key(run_dir) in _held:
        return False
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    if not _try_lock(fd):
        err = _refusal(run_dir, fd)
        os.close(fd)
        raise err
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    _held[_key(run_dir)] = fd
    return True


def release(run_dir: Path) -> None:
    """Stop being the writer of `run_dir` (the end of the process does the same)."""
    fd = _held.pop(_key(Path(run_dir)), None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
