"""g2d.resume: the changed keys of a resumed run, which are safe, and the messages naming them."""
from __future__ import annotations

import pytest

from g2d.resume import SAFE_KEYS, check_changes, config_changes, is_safe, parse_allowed, schedule_signature
from g2d.validation import ConfigError

from conftest import tiny_config

OLD = tiny_config().model_dump(mode="json")


def changed(key: str, value):
    import copy

    new = copy.deepcopy(OLD)
    node = new
    *parents, leaf = key.split(".")
    for p in parents:
        node = node[p]
    node[leaf] = value
    return new


def test_changes_are_dotted_paths_with_old_and_new():
    new = changed("student.optim.lr", 0.2)
    new["method"]["options"]["beta"] = 0.3
    assert config_changes(OLD, new) == [("student.optim.lr", 0.05, 0.2), ("method.options.beta", 0.0, 0.3)]
    assert config_changes(OLD, OLD) == []


@pytest.mark.parametrize("key", ["student.optim.lr", "student.optim.name", "method.name", "method.options.beta",
                                 "model.fusion.name", "data.batch_size", "data.options.dim", "seed", "precision",
                                 "plugins", "teachers.optim.lr", "student.select_metric"])
def test_what_the_finished_epochs_depend_on_is_never_safe_for_a_student(key):
    assert not is_safe(key, "student")


@pytest.mark.parametrize("key", ["student.epochs", "student.patience", "device", "compile", "channels_last",
                                 "data.num_workers", "data.eval_batch_size", "analysis.track", "analysis.every"])
def test_where_to_compute_and_what_to_log_are_safe(key):
    assert is_safe(key, "student")


def test_teachers_do_not_depend_on_the_student_sections():
    assert is_safe("method.options.beta", "teachers") and is_safe("student.optim.lr", "teachers")
    assert not is_safe("teachers.optim.lr", "teachers") and not is_safe("model.encoders.strong.name", "teachers")


def test_every_change_is_named_and_the_advice_fits_it():
    new = changed("student.optim.lr", 0.2)
    new["device"] = "cuda"
    with pytest.raises(ConfigError) as err:
        check_changes(OLD, new, "student", [], "RUN/students/g2d/config.yaml", 2)
    text = str(err.value)
    assert "student.optim.lr: 0.05 -> 0.2" in text and "device: 'cpu' -> 'cuda'" in text
    assert "start a new run" in text and "use the new values of student.optim.lr" in text
    assert "accept the others with --allow-change device" in text


def test_accepted_changes_are_returned_and_unsafe_allowances_refused():
    new = changed("student.epochs", 5)
    assert check_changes(OLD, new, "student", ["student.epochs"], "x", 2) == ["student.epochs: 2 -> 5"]
    with pytest.raises(ConfigError, match="--allow-change seed: this key cannot change"):
        check_changes(OLD, changed("seed", 1), "student", ["seed"], "x", 2)
    with pytest.raises(ConfigError, match="fewer than the 2 epochs already run"):
        check_changes(OLD, changed("student.epochs", 1), "student", ["student.epochs"], "x", 2)


def test_allowances_are_comma_separated_and_repeatable():
    assert parse_allowed(["a,b", " c "]) == ["a", "b", "c"]
    assert all(p for p in SAFE_KEYS["student"])


def test_schedule_signature_sees_a_phase_that_follows_the_total_epochs():
    from g2d.api import build_student, load_data, make_method
    from g2d.config import replace

    config = tiny_config(method__options={"ranking": "teacher", "schedule": "fixed", "phases": None})
    splits = load_data(config)
    model = build_student(config, splits)
    two = schedule_signature(make_method(config, splits, model))
    four = schedule_signature(make_method(replace(config, {"student.epochs": 4}), splits, build_student(config, splits)))
    assert two != four
    fixed = tiny_config()
    assert schedule_signature(make_method(fixed, splits, build_student(fixed, splits))) == \
        schedule_signature(make_method(replace(fixed, {"student.epochs": 4}), splits, build_student(fixed, splits)))
