"""Every option of every config group composes; lr semantics; bad values give one clear line."""

from pathlib import Path

import pytest
from hydra.utils import instantiate

from optarena import config_check, record
from optarena.errors import OptArenaError
from tests.conftest import CONF, compose_cfg, compose_full, run_train

# Groups whose options need a companion choice to compose (data_model: <data>_<model>).
SPECIAL = {"data_model", "hydra", "debug", "experiment", "hparams_search"}


def _options() -> list[tuple[str, str]]:
    return sorted((p.parent.relative_to(CONF).as_posix(), p.stem)
                  for p in CONF.glob("*/**/*.yaml")
                  if p.parent.relative_to(CONF).parts[0] not in SPECIAL)


@pytest.mark.parametrize(("group", "option"), _options())
def test_every_group_option_composes(tmp_path: Path, group: str, option: str) -> None:
    cfg = compose_cfg(tmp_path, [f"{group}={option}"])
    assert cfg[group.split("/")[0]] is not None


def _appended() -> list[list[str]]:
    """Overrides composing each experiment file (appended with +) and each file of its subgroups."""
    out = []
    for p in sorted((CONF / "experiment").glob("**/*.yaml")):
        rel = p.relative_to(CONF / "experiment").with_suffix("")
        parent = [f"+experiment={rel.parts[0]}"] if len(rel.parts) > 1 else []
        out.append([*parent, f"+experiment{'/' + rel.parent.as_posix() if parent else ''}="
                    f"{rel.name}"])
    return out


@pytest.mark.parametrize("overrides", _appended(), ids=" ".join)
def test_every_experiment_composes(tmp_path: Path, overrides: list[str]) -> None:
    cfg = compose_cfg(tmp_path, overrides)
    assert cfg.task_name != "train"  # each study names its runs


@pytest.mark.parametrize(("group", "option"), sorted(
    (p.parent.relative_to(CONF).as_posix(), p.stem)
    for g in ("hydra/launcher", "hparams_search") for p in (CONF / g).glob("*.yaml")))
def test_every_launcher_and_search_composes(tmp_path: Path, group: str, option: str) -> None:
    cfg = compose_full([f"{group}={option}"])
    node = cfg.hydra.launcher if group == "hydra/launcher" else cfg.hydra.sweeper
    assert node._target_.split(".")[0] == "hydra_plugins"


DATA_MODEL = sorted((CONF / "data_model").glob("*.yaml"))


def _data_and_model(path: Path) -> tuple[str, str]:
    """The (data, model) pair a data_model file is named after: <data>_<model>.yaml."""
    pairs = [(d, m) for d in (p.stem for p in (CONF / "data").glob("*.yaml"))
             for m in (p.stem for p in (CONF / "model").glob("*.yaml"))
             if f"{d}_{m}" == path.stem]
    assert len(pairs) == 1, (f"{path.name} must be named <data>_<model>.yaml after one option "
                             f"of conf/data and one of conf/model; matches {pairs}")
    return pairs[0]


def _leaves(node: dict, prefix: str = "") -> list[tuple[str, object]]:
    return [item for key, value in node.items() for item in (
        _leaves(value, f"{prefix}{key}.") if isinstance(value, dict)
        else [(f"{prefix}{key}", value)])]


@pytest.mark.parametrize("path", DATA_MODEL, ids=lambda p: p.stem)
def test_data_model_specialisations_are_picked_up(tmp_path: Path, path: Path) -> None:
    import yaml
    from omegaconf import OmegaConf

    data, model = _data_and_model(path)
    text = path.read_text()
    assert text.startswith("# @package _global_\n# "), f"{path.name}: the reason comes first"
    recipe = yaml.safe_load(text)
    # A recipe's defaults list may include another recipe (its values checked as this one's)
    # and name a schedule for scheduler=auto; nothing else.
    entries = [e for e in recipe.pop("defaults", []) if e != "_self_"]
    for included in (e for e in entries if isinstance(e, str)):
        assert included.startswith("/data_model/"), included
        base = yaml.safe_load((CONF / f"{included.lstrip('/')}.yaml").read_text())
        assert "defaults" not in base, f"{included}: one level of inclusion"
        recipe = OmegaConf.to_container(OmegaConf.merge(base, recipe))  # as Hydra merges
    named = {k: v for e in entries if isinstance(e, dict) for k, v in e.items()}
    assert set(named) <= {record.RECIPE_SCHEDULER.replace("scheduler@", "/scheduler@")}, named
    schedule = next(iter(named.values()), None)

    def check(cfg) -> None:
        for key, value in _leaves(recipe):
            assert OmegaConf.select(cfg, key) == value, key
        target = OmegaConf.select(cfg, "scheduler._target_", default=None)
        assert target == (f"optarena.optim.schedulers.{schedule}" if schedule else None)

    check(compose_cfg(tmp_path, [f"data={data}", f"model={model}"]))
    # The recipe also applies when the model picks its data by itself, and the command line wins.
    full = compose_full([f"model={model}"])
    if full.hydra.runtime.choices.data == data:
        check(full)
        assert record.choice(full.hydra.runtime.choices, "scheduler") == (schedule or "none")
    cfg = compose_cfg(tmp_path, [f"data={data}", f"model={model}", "batch_size=7",
                                 "max_epochs=3"])
    assert (cfg.batch_size, cfg.max_epochs) == (7, 3)


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF / "debug").glob("*.yaml")))
def test_debug_options_compose(tmp_path: Path, option: str) -> None:
    assert compose_cfg(tmp_path, [f"debug={option}"]).max_epochs >= 1


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF / "optimizer").glob("*.yaml")))
def test_lr_defaults_to_the_optimizer_and_top_level_lr_wins(tmp_path: Path, option: str) -> None:
    cfg = compose_cfg(tmp_path, [f"optimizer={option}"])
    assert config_check.resolved_lr(cfg) == cfg.optimizer.lr
    cfg = compose_cfg(tmp_path, [f"optimizer={option}", "lr=0.0123"])
    assert config_check.resolved_lr(cfg) == 0.0123


def test_sgd_and_adam_do_not_share_a_default_lr(tmp_path: Path) -> None:
    sgd = config_check.resolved_lr(compose_cfg(tmp_path, ["optimizer=sgd"]))
    adam = config_check.resolved_lr(compose_cfg(tmp_path, ["optimizer=adam"]))
    assert sgd != adam


def test_adan_uses_the_one_minus_beta_convention(tmp_path: Path) -> None:
    cfg = compose_cfg(tmp_path, ["optimizer=adan"])
    assert list(cfg.optimizer.betas) == [0.02, 0.08, 0.01]  # paper: (0.98, 0.92, 0.99)


def test_regularization_composes_as_a_list(tmp_path: Path) -> None:
    cfg = compose_cfg(tmp_path, ["regularization=[dropout,l2]"])
    assert cfg.regularization.dropout == 0.5 and cfg.regularization.l2 == 5e-4
    assert cfg.regularization.weight_decay == 0.0


def test_scheduler_none_builds_nothing(tmp_path: Path) -> None:
    cfg = compose_cfg(tmp_path, ["scheduler=none"])
    assert not cfg.scheduler.get("_target_")
    assert callable(instantiate(compose_cfg(tmp_path, ["scheduler=cosine"]).scheduler))


def test_scheduler_auto_runs_the_recipes_schedule_unless_one_is_chosen(tmp_path: Path) -> None:
    # digits x vit's recipe names warm-up + cosine; digits x cnn_small's names none.
    assert compose_cfg(tmp_path, ["model=vit"]).scheduler._target_.endswith(".warmup_cosine")
    assert not compose_cfg(tmp_path, ["model=cnn_small"]).scheduler.get("_target_")
    assert not compose_cfg(tmp_path, ["model=vit", "scheduler=none"]).scheduler.get("_target_")
    cosine = compose_cfg(tmp_path, ["model=vit", "scheduler=cosine"]).scheduler
    assert cosine._target_.endswith(".cosine") and "warmup_fraction" not in cosine
    tuned = compose_cfg(tmp_path, ["model=vit", "recipe.scheduler.warmup_fraction=0.3"])
    assert tuned.scheduler.warmup_fraction == 0.3
    # The record names the schedule that ran, not "auto".
    for overrides, name in ((["model=vit"], "warmup_cosine"), (["model=cnn_small"], "none"),
                            (["model=vit", "scheduler=none"], "none")):
        assert record.choice(compose_full(overrides).hydra.runtime.choices, "scheduler") == name


@pytest.mark.parametrize(("overrides", "message"), [
    (["lr=-0.1"], "lr must be > 0"),
    (["max_epochs=0"], "max_epochs must be a whole number >= 1"),
    (["regularization=dropout", "regularization.dropout=1.5"], "dropout must be in [0, 1)"),
    (["target=3"], "target is a validation accuracy"),
    # scheduler=auto with no recipe schedule: the option would be dropped, not applied
    (["++scheduler.warmup_fraction=0.2"], "scheduler.warmup_fraction is set but no schedule is"),
    (["scheduler=cosine", "+scheduler.warmup_fraction=0.2"],
     "scheduler.warmup_fraction is not an option of cosine; its options: eta_min"),
])
def test_bad_values_raise_one_clear_error(make_cfg, overrides, message) -> None:
    from optarena.run import train

    with pytest.raises(OptArenaError, match=message.replace("[", r"\[").replace(")", r"\)")):
        train(make_cfg(*overrides))


@pytest.mark.parametrize(("value", "message"), [
    ("lr=-1", "lr must be > 0, got -1.0"),
    ("ckpt_path=NOTES", "ckpt_path=NOTES is not a Lightning checkpoint (not a file written by "
                        "torch.save); pass a checkpoints/last.ckpt or best.ckpt"),
    ("++scheduler.warmup_fraction=0.2", "scheduler.warmup_fraction is set but no schedule is: "
     "choose one (e.g. scheduler=warmup_cosine scheduler.warmup_fraction=0.1), or change the "
     "recipe's (recipe.scheduler.<option>=...)"),
])
def test_cli_bad_value_prints_one_line_and_exits_2_before_start_up(tmp_path: Path, value: str,
                                                                   message: str) -> None:
    (tmp_path / "NOTES").write_text("not a checkpoint")
    out = run_train(tmp_path, value, "debug=fast")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"error: {message}"]
    assert [p.name for p in tmp_path.iterdir()] == ["NOTES"]  # no run folder, no record


@pytest.mark.slow
def test_cli_unknown_option_lists_the_choices(tmp_path: Path) -> None:
    out = run_train(tmp_path, "optimizer=adamm")
    assert out.returncode != 0
    assert "adamw" in out.stderr and "Could not find 'optimizer/adamm'" in out.stderr


@pytest.mark.slow
def test_help_lists_groups(tmp_path: Path) -> None:
    out = run_train(tmp_path, "--help")
    assert out.returncode == 0
    assert "optimizer: adadelta" not in out.stdout
    for text in ("optarena", "optimizer:", "madgrad", "regularization:", "label_smoothing"):
        assert text in out.stdout


def test_tensorboard_run_name_is_one_folder_even_with_slashes(tmp_path: Path) -> None:
    from optarena.resolvers import run_name

    compose_cfg(tmp_path, ["+experiment=cifar10_backbones",
                           "+experiment/cifar10_backbones=vgg16", "data.root=/data/cifar"])
    name = run_name()
    assert "/" not in name
    assert "cifar10_backbones=vgg16" in name and "data.root=\u2215data\u2215cifar" in name


def test_a_run_name_of_many_overrides_still_fits_in_one_folder_name(tmp_path: Path) -> None:
    from optarena.resolvers import MAX_NAME_BYTES, run_name

    long = ["data=cifar10", f"data.root=/{'d' * 120}", "data.verify_checksums=false",
            "data.val_size=1000", "callbacks.progress_bar=null",
            "+trainer.enable_progress_bar=false"]
    names = set()
    for lr in ("0.001", "0.0001"):
        compose_cfg(tmp_path, [*long, f"lr={lr}"])
        name = run_name()
        assert len(name.encode()) <= MAX_NAME_BYTES and "/" not in name
        (tmp_path / "tb" / name).mkdir(parents=True)  # a real folder of that name
        names.add(name)
    assert len(names) == 2  # cut names stay distinct (the hash of the whole name)
