"""The fork server of the parallel launcher imports and loads once what every job shares."""

import json
import sys
from pathlib import Path

import pytest

from hydra_plugins.optarena_launcher.processes import Starter
from optarena.sweep.warm import spec
from tests.conftest import compose_full

PROBE = """
import json, sys
from optarena.data import digits
from optarena.data.digits import DigitsDataModule
dm = DigitsDataModule(split_seed=int(sys.argv[2]))
dm.setup()
json.dump({"sklearn": "sklearn.model_selection" in sys.modules,
           "tensorboard": "torch.utils.tensorboard" in sys.modules,
           "read": digits._images_and_labels.cache_info().currsize,
           "train": dm.splits["train"][1].tolist()}, open(sys.argv[1], "w"))
"""


def test_spec_names_the_sweeps_modules_and_its_data() -> None:
    wanted = json.loads(spec(compose_full(["seed=3"])))
    assert {"optarena.data.digits", "optarena.models.cnn", "torch.optim",
            "lightning.pytorch.loggers", "torch.utils.tensorboard",
            "optarena.callbacks.divergence"} <= set(wanted["modules"])
    assert wanted["data"]["_target_"] == "optarena.data.digits.DigitsDataModule"
    assert wanted["data"]["batch_size"] == 64
    assert wanted["config"] == {"dir": str(Path(__file__).parents[1] / "conf"), "name": "train"}


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="the fork server is Linux only")
def test_jobs_forked_from_a_warm_server_find_the_data_read_and_split_it_as_their_own(
        tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    fresh = tmp_path / "fresh.json"
    starter = Starter(["optarena.run"], spec(compose_full([])))
    try:
        results = []
        for seed in (0, 1):
            out = tmp_path / f"job{seed}.json"
            job = starter.start([sys.executable, str(script), str(out), str(seed)],
                                {"PATH": ""}, tmp_path / f"job{seed}.log", threads=1)
            assert job.wait(120) == 0, (tmp_path / f"job{seed}.log").read_text()
            results.append(json.loads(out.read_text()))
    finally:
        starter.close()
    assert all(r["sklearn"] and r["tensorboard"] for r in results)  # imported by the server
    assert all(r["read"] == 1 for r in results)  # the files were read before the fork
    assert results[0]["train"] != results[1]["train"]  # each job splits by its own seed
    cold = Starter([])  # no fork server: a new interpreter reads the files itself
    job = cold.start([sys.executable, str(script), str(fresh), "1"], {"PYTHONPATH": ":".join(
        sys.path)}, tmp_path / "fresh.log", threads=1)
    assert job.wait(120) == 0, (tmp_path / "fresh.log").read_text()
    assert json.loads(fresh.read_text())["train"] == results[1]["train"]
