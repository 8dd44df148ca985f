"""A parallel sweep stopped by a signal leaves no process behind, whatever the moment; the
sweep summary counts the jobs it never started."""

import os
import signal
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.utils import setup_globals
from hydra.types import HydraContext

from hydra_plugins.optarena_launcher import parallel_launcher, processes
from optarena.record import write_record
from optarena.sweep.summary import summarize
from tests.conftest import CONF

# A job that starts a child of its own (as DDP ranks and data loader workers are) and waits.
JOB = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"


def _live(pid_or_group: int) -> list[int]:
    """The live processes that are `pid_or_group` or in that process group (Linux /proc;
    zombies count as gone)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        if fields[0] != "Z" and pid_or_group in (pid, int(fields[2])):
            found.append(pid)
    return found


def _launcher(tmp_path: Path, monkeypatch) -> "parallel_launcher.ParallelLauncher":
    """The parallel launcher set up as Hydra sets it up, its jobs being JOB (no fork server)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"hydra.sweep.dir={tmp_path / 'sweep'}",
                                          "hydra/launcher=parallel"], return_hydra_config=True)
        loader = GlobalHydra.instance().config_loader()
    setup_globals()
    # Patched after composing: Hydra's plugin scan executes the plugin modules again.
    monkeypatch.setattr(parallel_launcher, "script", lambda: [sys.executable, "-c", JOB])
    monkeypatch.setattr(parallel_launcher, "configure_log", lambda *args: None)
    launcher = parallel_launcher.ParallelLauncher(gpus=[], n_jobs=1, preload=[],
                                                  stop_grace_seconds=5)
    launcher.setup(hydra_context=HydraContext(config_loader=loader, callbacks=None),
                   task_function=lambda c: None, config=cfg)
    return launcher


@pytest.mark.skipif(sys.platform != "linux", reason="process groups as Linux reports them")
def test_sigterm_while_a_job_is_being_started_stops_it_and_its_children(tmp_path: Path,
                                                                       monkeypatch) -> None:
    launcher = _launcher(tmp_path, monkeypatch)
    started: list[int] = []
    start = parallel_launcher.Starter.start

    def start_then_sigterm(self, *args):  # the signal lands after the job was handed over
        proc = start(self, *args)
        started.append(proc.proc.pid)  # the Popen of an Interpreter job
        os.kill(os.getpid(), signal.SIGTERM)
        return proc

    monkeypatch.setattr(parallel_launcher.Starter, "start", start_then_sigterm)
    with pytest.raises(SystemExit) as stopped:
        launcher.launch([["seed=0"], ["seed=1"]], initial_job_idx=0)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert len(started) == 1 and _live(started[0]) == []  # the job and its child are gone
    sweep = tmp_path / "sweep"
    text, counts = summarize(sweep)
    assert counts == {"failed": 1, "not started": 1}, text
    assert "1    not started" in text and "seed=1  <- the sweep was stopped before" in text
    assert "killed by SIGTERM" in (sweep / "0" / "metrics.json").read_text()


def test_the_fork_server_stops_with_the_launcher() -> None:
    starter = processes.Starter(["json"])
    starter.ready()
    from multiprocessing import forkserver

    pid = forkserver._forkserver._forkserver_pid
    assert pid is not None and os.kill(pid, 0) is None  # running
    starter.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_the_summary_names_the_log_files_the_runs_have(tmp_path: Path) -> None:
    run = tmp_path / "sweep" / "0"
    write_record(run / "metrics.json", {"status": "completed", "overrides": ["seed=0"]})
    (run / "train.log").write_text("")  # Hydra's log; the basic launcher writes no job.log
    text, _ = summarize(tmp_path / "sweep")
    assert "(metrics.json, checkpoints/, train.log)" in text and "job.log" not in text
