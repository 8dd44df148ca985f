"""The reproduction table: a study's own figures (`reference:`) beside ours at its setting."""

import pandas as pd
import pytest
from report_fixtures import make_seeds

from optarena.report import reproduction
from optarena.report.collect import collect_runs

SOURCE = "seeds/004_08bbe4b7002e05e5.txt"
REFS = [
    # The study's lr and batch size: ours at lr 0.001 and batch 32, though 0.01 wins on val.
    {"data": "digits", "model": "cnn_small", "optimizer": "adam", "lr": 0.001, "batch_size": 32,
     "metric": "test_acc", "value": 0.6671, "source": SOURCE},
    # No optimizer, no lr: one row per optimizer of ours, at its validation-chosen lr.
    {"data": "digits", "model": "cnn_small", "metric": "test_acc", "value": 0.9, "source": SOURCE},
    {"data": "digits", "model": "cnn_small", "optimizer": "adam", "metric": "best_lr",
     "value": 0.01, "source": SOURCE},
    {"data": "digits", "model": "cnn_small", "optimizer": "adam", "epochs": 30,
     "metric": "test_acc", "value": 0.7, "source": SOURCE},
    {"data": "digits", "model": "cnn_small", "optimizer": "adam", "lr": 0.001,
     "setting": {"regularization": ["dropout", "batchnorm"]}, "metric": "test_acc",
     "value": 0.7, "source": SOURCE},
    {"data": "cifar10", "model": "vgg16", "metric": "test_acc", "value": 0.86, "source": SOURCE},
    {"data": "digits", "model": "cnn_small", "metric": "test_acc"},  # no value, no source
]


def test_the_reproduction_table_reads_the_references(tmp_path):
    config = {"reference": REFS}
    for optimizer, lr, val, tests in (("adam", 0.001, 0.7, (0.65, 0.66, 0.67)),
                                      ("adam", 0.01, 0.9, (0.90, 0.91, 0.92)),
                                      ("sgd", 0.1, 0.8, (0.80, 0.81, 0.82))):
        make_seeds(tmp_path, f"{optimizer}_{lr}", [{"val_acc_best": val, "test_acc": t}
                                                   for t in tests],
                   optimizer=optimizer, lr=lr, config=config, hparams={"batch_size": 32})
    runs, _ = collect_runs([tmp_path])
    refs, problems = reproduction.parse_references(runs["reference"])
    assert len(refs) == 6 and len(problems) == 1
    assert problems[0].endswith("ignored: missing value, source")
    table = reproduction.table(reproduction.rows(refs, runs))
    assert list(table["optimizer"]) == [
        "adam", "adam (the study names none)", "sgd (the study names none)", "adam", "adam",
        "adam", "not stated"]
    first = table.iloc[0]
    half = 4.302652729749464 * 0.01 / 3 ** 0.5  # t(0.975, 2) * sd / sqrt(3)
    assert first["ours [95% CI]"] == f"0.6600 [{0.66 - half:.4f}, {0.66 + half:.4f}], n=3"
    assert (first["study"], first["ours − study"], first["study inside ours"]) == (
        "0.6671", "-0.0071", "yes")
    assert first["our setting"] == "lr=0.001 (as the study: lr, batch size)"
    assert table.iloc[1]["our setting"] == "lr=0.01 (chosen on validation: lr)"
    assert (table.iloc[1]["ours − study"], table.iloc[1]["study inside ours"]) == ("+0.0100",
                                                                                 "yes")
    assert table.iloc[2]["study inside ours"] == "no"  # sgd: 0.81 [0.785, 0.835] vs 0.9
    assert (table.iloc[3]["ours [95% CI]"], table.iloc[3]["study inside ours"]) == (
        "0.01", "same")
    assert [table.iloc[i]["ours [95% CI]"] for i in (4, 5, 6)] == [
        "not run: no runs of 30 epochs", "not run: no runs with regularization=[dropout,batchnorm]",
        "not run: no runs of cifar10/vgg16"]


def test_a_stated_setting_matches_the_config_when_it_was_not_overridden(tmp_path):
    ref = {"data": "digits", "model": "cnn_small", "optimizer": "adam", "metric": "test_acc",
           "setting": {"model.dropout": 0.1}, "value": 0.68, "source": SOURCE}
    make_seeds(tmp_path, "default", [{"test_acc": 0.7}] * 2,
               config={"reference": [ref], "model": {"dropout": 0.1}})
    make_seeds(tmp_path, "swept", [{"test_acc": 0.5, "val_acc_best": 0.99}] * 2,
               extra_overrides=["model.dropout=0.5"], config={"reference": [ref]})
    runs, _ = collect_runs([tmp_path])
    (row,) = reproduction.rows(reproduction.parse_references(runs["reference"])[0], runs)
    assert (row["ours"], row["n"]) == (pytest.approx(0.7), 2)


def test_every_seed_study_reference_parses_and_names_real_configs():
    import yaml

    from tests.conftest import CONF

    found = {}
    for path in sorted((CONF / "experiment").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text()).get("reference", [])
        refs, problems = reproduction.parse_references(pd.Series([raw]))
        assert problems == [] and len(refs) == len(raw), path.name
        for ref in refs:
            assert (CONF / "data" / f"{ref.data}.yaml").is_file(), ref
            assert (CONF / "model" / f"{ref.model}.yaml").is_file(), ref
            assert ref.source.startswith("seeds/") and ref.value > 0, ref
        found[path.stem] = len(refs)
    assert found == {"cifar10_backbones": 6, "cifar10_regularization": 3,
                     "esc10_hubert_optimizers": 0, "mnist_classic_optimizers": 6,
                     "segmentation_optimizers": 0}
