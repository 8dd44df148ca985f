"""Shared fixtures: compose the real config (shrunk for speed) and run train.py end to end."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from optarena.resolvers import register

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
FAST = ["debug=fast", "logger=csv"]

register()


def compose_full(overrides: list[str] = ()) -> DictConfig:
    """The composed config of `python train.py <overrides>`, with its `hydra` node."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


def compose_cfg(tmp_path: Path, overrides: list[str] = ()) -> DictConfig:
    """The composed config of `python train.py <overrides>`, writing into tmp_path."""
    cfg = compose_full(overrides)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.root_dir = str(tmp_path)
        cfg.paths.data_dir = str(tmp_path / "data")
        cfg.paths.output_dir = str(tmp_path / "run")
        cfg.paths.tensorboard_dir = str(tmp_path / "outputs" / "tensorboard")
        del cfg.hydra
    return cfg


@pytest.fixture
def offline(monkeypatch):
    """No network: name resolution fails at once, as on an offline machine."""
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)


@pytest.fixture
def make_cfg(tmp_path: Path):
    def make(*overrides: str) -> DictConfig:
        return compose_cfg(tmp_path, [*FAST, *overrides])

    return make


def run_train(cwd: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python train.py ARGS` in cwd (outputs/ and multirun/ land there)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, env=env, text=True,
        capture_output=True, timeout=timeout,
    )
