"""``g2d tune``: the search space is validated with the config, the study runs on validation only
(the test split is never touched), resumes from its SQLite file, and writes best.yaml, the trials
table and the history figure that ``g2d report`` shows."""
from __future__ import annotations

import builtins
import csv
import json
from pathlib import Path

import pytest
import yaml

from g2d.api import load_data
from g2d.cli import main
from g2d.config import parse_config
from g2d.validation import ConfigError, G2DError
from tests.conftest import tiny_config

pytest.importorskip("optuna", reason="optuna is not installed (pip install 'g2d[tune]')")

from g2d.tuning.study import check_space, config_values, tune  # noqa: E402

SPACE = {"params": {"method.options.alpha": {"type": "float", "low": 0.1, "high": 10.0, "log": True},
                    "method.options.phases": {"type": "int", "low": 1, "high": 2, "size": 1},
                    "student.optim.lr": {"type": "float", "low": 0.01, "high": 0.1, "log": True}},
         "startup_trials": 1, "warmup_epochs": 0}


def tune_config(**overrides):
    raw = tiny_config(student__epochs=3, teachers__epochs=1, method__options={"phases": [1]}).model_dump(mode="json")
    raw["tune"] = {**SPACE, **overrides}
    return parse_config(raw, "tune test config")


class TestSplitTouched:
    """Stands in for the test split: any use fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"tuning touched the test split ({name})")

    def __len__(self):
        raise AssertionError("tuning touched the test split (len)")


def test_a_study_never_reads_the_test_split_and_writes_its_outputs(tmp_path: Path) -> None:
    config = tune_config()
    splits = load_data(config)
    splits.test = TestSplitTouched()
    result = tune(config, tmp_path, trials=4, splits=splits, log=lambda msg: None)
    summary = json.loads((tmp_path / "tune.json").read_text())
    assert [r["trial"] for r in summary["trials"]] == [0, 1, 2, 3]
    assert summary["trials"][0]["source"] == "the config's own values"
    assert summary["trials"][0]["params"] == {"method.options.alpha": 1.0, "method.options.phases": [1],
                                              "student.optim.lr": 0.05}
    assert result.default_value == summary["trials"][0]["value"]
    complete = [r for r in summary["trials"] if r["state"] == "complete"]
    assert result.best_value == max(r["value"] for r in complete)
    # no teacher card and no trial result holds test metrics; data.json records no test split
    assert all(json.loads(p.read_text())["test"] == {} for p in tmp_path.glob("teachers/*/card.json"))
    assert all(json.loads(p.read_text())["test"] == {} for p in tmp_path.glob("trials/students/*/result.json"))
    assert json.loads((tmp_path / "data.json").read_text())["sizes"]["test"] is None
    best = yaml.safe_load((tmp_path / "best.yaml").read_text())
    assert "tune" not in best and best["method"]["options"]["alpha"] == pytest.approx(result.best_params["method.options.alpha"])
    assert best["analysis"]["track"] is True  # the experiment's own setting, not the trials' (off)
    parse_config(best)  # runnable as it is
    with open(tmp_path / "trials.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["trial"] for r in rows] == ["0", "1", "2", "3"]
    assert list(rows[0])[-3:] == ["method.options.alpha", "method.options.phases", "student.optim.lr"]
    assert (tmp_path / "history.png").stat().st_size > 1000 and (tmp_path / "history.svg").exists()
    assert (tmp_path / "trials.md").read_text().startswith("| trial | state | val accuracy | epoch |")


def test_a_rerun_resumes_the_study_and_reuses_the_teachers(tmp_path: Path) -> None:
    config = tune_config()
    tune(config, tmp_path, trials=2, log=lambda msg: None)
    weights = tmp_path / "teachers" / "strong" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    messages: list[str] = []
    tune(config, tmp_path, trials=3, log=messages.append)
    assert weights.stat().st_mtime_ns == stamp
    assert f"tune: reusing the teachers in {tmp_path / 'teachers'}" in messages
    assert any(m.startswith("tune: 2 trials already in the study, running up to 1 more") for m in messages)
    assert len(json.loads((tmp_path / "tune.json").read_text())["trials"]) == 3
    other = parse_config({**config.model_dump(mode="json"), "seed": 5})
    with pytest.raises(ConfigError, match=r"its teachers were trained for another experiment:\n  seed: 0 -> 5"):
        tune(other, tmp_path, trials=4, log=lambda msg: None)


def test_the_search_space_is_validated_at_load() -> None:
    with pytest.raises(ConfigError, match=r"cannot be tuned; teachers, data and the teacher cache are built once"):
        tune_config(params={"teachers.optim.lr": {"type": "float", "low": 0.01, "high": 0.1}})
    with pytest.raises(ConfigError, match="log scale needs low > 0, got low=0.0"):
        tune_config(params={"student.optim.lr": {"type": "float", "low": 0.0, "high": 0.1, "log": True}})
    with pytest.raises(ConfigError, match="expected low < high, got low=5, high=2"):
        tune_config(params={"method.options.phases": {"type": "int", "low": 5, "high": 2, "size": 1}})
    with pytest.raises(ConfigError, match="tune.params.method.options.alpha: Input tag 'bogus' found using 'type' "
                                          "does not match any of the expected tags: 'float', 'int', 'categorical'"):
        tune_config(params={"method.options.alpha": {"type": "bogus", "low": 1, "high": 2}})


def test_a_range_outside_what_the_option_accepts_names_the_parameter() -> None:
    config = tune_config(params={"method.options.alpha": {"type": "float", "low": -1.0, "high": 2.0}})
    with pytest.raises(ConfigError, match=r"tune.params\['method.options.alpha'\] = -1.0 gives an invalid "
                                          r"experiment:\n  .*greater than or equal to 0"):
        check_space(config, config.tune)


def test_the_configs_own_values_are_enqueued_only_when_inside_the_space() -> None:
    inside = tune_config()
    assert config_values(inside, inside.tune)["method.options.phases[0]"] == 1
    outside = tune_config(params={"student.optim.lr": {"type": "float", "low": 0.1, "high": 1.0}})
    assert config_values(outside, outside.tune) is None


def test_cli_tune_and_report_show_the_study(tmp_path: Path, capsys) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump(tune_config().model_dump(mode="json")))
    run = tmp_path / "tune"
    assert main(["tune", str(config), "--trials", "2", "--out", str(run), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "the config's own values (trial 0): val accuracy" in out and f"written {run / 'best.yaml'}" in out
    assert main(["report", str(run)]) == 0  # default: RUN/report/
    html = (run / "report" / "report.html").read_text()
    assert "Tuning: tune" in html and "optimisation history" in html and "best.yaml" in html
    assert (run / "report" / "report_figures" / "tuning_history.png").exists()


def test_cli_without_a_tune_section_says_what_to_add(tmp_path: Path, capsys) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump(tiny_config().model_dump(mode="json")))
    assert main(["tune", str(config), "--trials", "2", "--out", str(tmp_path / "t")]) == 2
    assert "no tune: section; declare the search space" in capsys.readouterr().err


def test_without_optuna_tune_says_how_to_install_it(tmp_path: Path, monkeypatch, capsys) -> None:
    real_import = builtins.__import__

    def no_optuna(name, *args, **kwargs):
        if name == "optuna":
            raise ImportError("No module named 'optuna'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_optuna)
    assert main(["tune", "configs/demo.yaml", "--trials", "1", "--out", str(tmp_path)]) == 2
    assert "g2d tune needs Optuna, which is not installed: install it with `pip install 'g2d[tune]'`" \
        in capsys.readouterr().err


class FakeTrial:
    def __init__(self, prune_after: int) -> None:
        self.reports: list[tuple[float, int]] = []
        self.user_attrs: dict[str, int] = {}
        self.prune_after = prune_after

    def report(self, value: float, step: int) -> None:
        self.reports.append((value, step))

    def should_prune(self) -> bool:
        return len(self.reports) > self.prune_after

    def set_user_attr(self, key: str, value: int) -> None:
        self.user_attrs[key] = value


def test_pruning_reports_the_best_validation_so_far_and_stops_the_trial() -> None:
    import optuna
    from types import SimpleNamespace

    from g2d.tuning.study import PruneOnValidation

    trial = FakeTrial(prune_after=2)
    callback = PruneOnValidation(trial, "accuracy")
    for epoch, best in enumerate([0.5, 0.6]):
        callback.on_epoch_end(SimpleNamespace(best={"val": {"accuracy": best}}), epoch, {})
    with pytest.raises(optuna.TrialPruned, match="pruned after epoch 2"):
        callback.on_epoch_end(SimpleNamespace(best={"val": {"accuracy": 0.6}}), 2, {})
    assert trial.reports == [(0.5, 0), (0.6, 1), (0.6, 2)] and trial.user_attrs == {"pruned_at_epoch": 2}
