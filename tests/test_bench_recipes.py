"""bench/recipes.py: a recipe passes only when every seed's run reaches its bar on its own data
(the training runs are replaced by records here; bench/recipes.py itself runs train.py)."""

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("bench_recipes", ROOT / "bench" / "recipes.py")
recipes = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = recipes  # its dataclass looks its module up there
spec.loader.exec_module(recipes)


def _record(seed: int, acc: float, data: str = "digits") -> dict:
    return {"status": "completed", "data": data, "optimizer": "adam",
            "scheduler": "warmup_cosine", "seed": seed, "metrics": {"test/acc": acc},
            "epochs": 40, "steps": 800, "wall_seconds": 60.0, "command": 66.0}


@pytest.mark.parametrize(("accs", "data", "code", "failed"), [
    ({0: 0.97, 1: 0.96}, "digits", 0, None),
    ({0: 0.97, 1: 0.91}, "digits", 1, "vit-seed1: test/acc below 0.95"),
    ({0: 0.97, 1: 0.97}, "mnist", 1, "vit-seed0: ran on mnist"),
])
def test_a_recipe_passes_only_if_every_seed_reaches_the_bar_on_its_data(
        monkeypatch, capsys, tmp_path: Path, accs: dict, data: str, code: int,
        failed: str | None) -> None:
    seen = []

    def fake_run(recipe, extra, folder, seed=None):
        seen.append((recipe.model, seed, folder.name))
        return _record(seed, accs[seed], data)

    monkeypatch.setattr(recipes, "run", fake_run)
    monkeypatch.setattr(sys, "argv", ["recipes.py", "--models", "vit", "--seeds", "0,1",
                                      "--keep", str(tmp_path)])
    assert recipes.main() == code
    assert seen == [("vit", 0, "vit-seed0"), ("vit", 1, "vit-seed1")]
    out, err = capsys.readouterr()
    rows = [line for line in out.splitlines() if line.startswith("| digits | vit |")]
    assert [r.split(" | ")[4] for r in rows] == ["0", "1"]  # the seed column
    assert all(" | warmup_cosine | " in r for r in rows)
    assert (failed in err) if failed else "FAILED" not in err


def test_bad_seeds_are_one_line_and_exit_2(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", ["recipes.py", "--models", "vit", "--seeds", "0,x"])
    with pytest.raises(SystemExit) as exit_info:
        recipes.main()
    assert exit_info.value.code == 2
    assert "--seeds must be comma-separated integers" in capsys.readouterr().err
