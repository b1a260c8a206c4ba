"""``g2d teachers | cache | train | evaluate | demo`` against finished work: a refused or failed command
leaves every finished file byte-identical; a resumed run stays the run its config describes; every
artefact read back is verified. Each class of fault is built over every command it applies to."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from g2d import io
from g2d.cli import main
from g2d.io import file_sha256

from conftest import tiny_config


def g2d(capsys, *argv) -> tuple[int, str, str]:
    """The CLI in-process: (exit code, stdout, stderr); never a traceback."""
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "Traceback" not in out.out
    return code, out.out, out.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run folder with teachers, cache and a finished g2d student (copied per test by ``run``)."""
    root = tmp_path_factory.mktemp("finished")
    config = root / "exp.yaml"
    config.write_text(tiny_config().to_yaml())
    for step in ("teachers", "cache", "train"):
        assert main([step, str(config), "--out", str(root / "run"), "--quiet"]) == 0
    return config, root / "run"


@pytest.fixture
def run(trained, tmp_path):
    config, source = trained
    shutil.copytree(source, tmp_path / "run")
    return config, tmp_path / "run"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every finished file of a run folder (staging folders and lock files are the run's scratch)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


# ---- finished work is never damaged ------------------------------------------------------------

#: every command that writes into a run folder, as (argv after CONFIG --out RUN, what it refuses/fails on)
REFUSED = {
    "train": ["train", "{config}", "--out", "{run}", "--quiet"],
    "train --name": ["train", "{config}", "--out", "{run}", "--quiet", "--name", "g2d"],
    "teachers": ["teachers", "{config}", "--out", "{run}", "--quiet"],
    "demo": ["demo", "--out", "{run}", "--quiet", "--epochs", "2", "--methods", "g2d", "--device", "cpu"],
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_rerun_over_finished_work_is_refused_and_writes_nothing(run, capsys, case):
    config, folder = run
    before = snapshot(folder)
    argv = [a.format(config=config, run=folder) for a in REFUSED[case]]
    code, _, err = g2d(capsys, *argv)
    assert code == 2 and "--overwrite" in err and "already holds" in err
    assert snapshot(folder) == before
    assert not [p for p in folder.rglob(".*.partial")]


#: a run that then fails (diverges at its first epoch) with --overwrite: the finished one stays
FAILING = {
    "train": ["train", "{config}", "--out", "{run}", "--quiet", "--overwrite", "--set", "student.optim.lr=1e8"],
    "teachers": ["teachers", "{config}", "--out", "{run}", "--quiet", "--overwrite", "--set", "teachers.optim.lr=1e8"],
}


@pytest.mark.parametrize("case", list(FAILING))
def test_a_failed_overwrite_leaves_the_finished_run_intact(run, capsys, case):
    config, folder = run
    before = snapshot(folder)
    code, _, err = g2d(capsys, *[a.format(config=config, run=folder) for a in FAILING[case]])
    assert code == 2 and "became NaN or Inf" in err
    assert snapshot(folder) == before  # config.yaml, metrics.jsonl, weights, cards: byte-identical
    assert main(["evaluate", str(folder), "--quiet"]) == 0  # and still usable


def test_overwrite_replaces_a_finished_student_only_once_the_new_one_has_finished(run, capsys):
    config, folder = run
    old = (folder / "students/g2d/model.safetensors").read_bytes()
    code, _, _ = g2d(capsys, "train", config, "--out", folder, "--quiet", "--overwrite", "--set", "seed=3")
    assert code == 0
    assert (folder / "students/g2d/model.safetensors").read_bytes() != old
    assert yaml.safe_load((folder / "students/g2d/config.yaml").read_text())["seed"] == 3
    assert len(io.read_jsonl(folder / "students/g2d/metrics.jsonl")) == 2
    assert not list((folder / "students").glob(".*.partial")) and not list((folder / "students").glob(".*.old"))


def test_an_interrupted_run_is_neither_lost_nor_mixed_by_a_plain_rerun(run, capsys, monkeypatch):
    config, folder = run
    from g2d.trainer import Trainer

    def interrupted(self, epoch):
        raise KeyboardInterrupt
    monkeypatch.setattr(Trainer, "save_checkpoint", interrupted)
    assert g2d(capsys, "train", config, "--out", folder, "--quiet", "--name", "other")[0] == 130
    monkeypatch.undo()
    assert (folder / "students/.other.partial").is_dir() and not (folder / "students/other").exists()
    code, _, err = g2d(capsys, "train", config, "--out", folder, "--quiet", "--name", "other")
    assert code == 2 and "an interrupted run of student 'other'" in err and "--resume" in err
    assert g2d(capsys, "train", config, "--out", folder, "--quiet", "--name", "other", "--resume")[0] == 0
    assert (folder / "students/other/result.json").exists()


@pytest.mark.parametrize("name", ["..", "../../x", "a/b", ".g2d.partial", "x\x00"])
def test_a_name_that_is_not_one_folder_writes_nothing(run, capsys, name):
    config, folder = run
    before = snapshot(folder.parent)
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(config), "--out", str(folder), "--quiet", "--name", name])
    assert exit_.value.code == 2 and "argument --name:" in capsys.readouterr().err
    assert snapshot(folder.parent) == before


def test_the_api_validates_a_name_too(tmp_path):
    from g2d import api
    from g2d.validation import ConfigError

    with pytest.raises(ConfigError, match=r"--name '\.\.' is a relative folder reference"):
        api.train_student(tiny_config(), tmp_path, progress=False, name="..")
    assert not list(tmp_path.iterdir())


#: ways a train run is refused by one of its checks; each must leave no trace of the new student
PRECHECKS = {
    "missing teachers": (lambda folder: shutil.rmtree(folder / "teachers"), [], "no trained teacher"),
    "damaged cache": (lambda folder: (folder / "cache/weak.logits.npy").write_bytes(b"\x93NUMPY garbage"), [],
                      "cache array"),
    "unknown method": (lambda folder: None, ["--set", "method.name=g2dd"], "did you mean 'g2d'"),
    "teacher of another encoder": (lambda folder: None, ["--set", "model.encoders.weak.options.hidden=[5]"],
                                   "trained with encoder"),
}


@pytest.mark.parametrize("case", list(PRECHECKS))
def test_every_check_runs_before_the_first_write(run, capsys, case):
    config, folder = run
    damage, extra, phrase = PRECHECKS[case]
    damage(folder)
    before = snapshot(folder)
    code, _, err = g2d(capsys, "train", config, "--out", folder, "--quiet", "--name", "new", *extra)
    assert code == 2 and phrase in err
    assert snapshot(folder) == before
    assert not (folder / "students/new").exists() and not (folder / "students/.new.partial").exists()


# ---- a resumed run is the run its config describes ---------------------------------------------

UNSAFE = [("student.optim.lr", "0.01", "0.05 -> 0.01"), ("method.options.beta", "0.5", "0.0 -> 0.5"),
          ("model.encoders.strong.options.hidden", "[16]", "student.optim"), ("seed", "4", "0 -> 4"),
          ("precision", "bf16", "'fp32' -> 'bf16'"), ("data.batch_size", "8", "32 -> 8")]


@pytest.mark.parametrize("key, value, shown", UNSAFE, ids=[k for k, _, _ in UNSAFE])
def test_resume_with_an_unsafe_change_is_refused_naming_it(run, capsys, key, value, shown):
    config, folder = run
    if key.startswith("model.encoders"):
        raw = yaml.safe_load(config.read_text())
        value = json.dumps(raw["model"]["encoders"]["strong"]["options"].get("hidden", [8]) + [4])
    before = snapshot(folder)
    code, _, err = g2d(capsys, "train", config, "--out", folder, "--quiet", "--resume", "--set", f"{key}={value}")
    assert code == 2 and "--resume: the config differs from the one" in err and f"{key}: " in err
    if not key.startswith("model"):
        assert shown in err
    assert "start a new run" in err
    code, _, err = g2d(capsys, "train", config, "--out", folder, "--quiet", "--resume", "--set", f"{key}={value}",
                       "--allow-change", key)
    assert code == 2 and f"--allow-change {key}: this key cannot change in a resumed run" in err
    assert snapshot(folder) == before


def test_resume_extends_epochs_when_accepted_and_records_it(run, capsys):
    config, folder = run
    code, _, err = g2d(capsys, "train", config, "--out", folder, "--quiet", "--resume", "--set", "student.epochs=3")
    assert code == 2 and "student.epochs: 2 -> 3" in err and "--allow-change student.epochs" in err
    code, out, _ = g2d(capsys, "train", config, "--out", folder, "--quiet", "--resume", "--set", "student.epochs=3",
                       "--allow-change", "student.epochs")
    assert code == 0 and "resumed with an accepted change: student.epochs: 2 -> 3" in out
    student = folder / "students/g2d"
    assert yaml.safe_load((student / "config.yaml").read_text())["student"]["epochs"] == 3  # applied and recorded
    assert [r["epoch"] for r in io.read_jsonl(student / "metrics.jsonl")] == [0, 1, 2]
    assert "student.epochs: 2 -> 3" in " ".join(json.loads((student / "result.json").read_text())["notes"])


def test_resume_cannot_shorten_below_the_epochs_run(run, capsys):
    config, folder = run
    code, _, err = g2d(capsys, "train", config, "--out", folder, "--quiet", "--resume", "--set", "student.epochs=1",
                       "--allow-change", "student.epochs")
    assert code == 2 and "fewer than the 2 epochs already run" in err


def test_an_epoch_extension_that_moves_the_method_schedule_is_refused(tmp_path, capsys):
    raw = tiny_config(method__options={"ranking": "teacher", "schedule": "fixed"}, student__epochs=2).model_dump(mode="json")
    raw["method"]["options"]["phases"] = None  # SMP's τ follows the total epochs
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw))
    for step in ("teachers", "train"):
        assert g2d(capsys, step, config, "--out", tmp_path / "run", "--quiet")[0] == 0
    code, _, err = g2d(capsys, "train", config, "--out", tmp_path / "run", "--quiet", "--resume",
                       "--set", "student.epochs=4", "--allow-change", "student.epochs")
    assert code == 2 and "changes this method's schedule" in err and "phases" in err


def test_allow_change_without_resume_is_refused(run, capsys):
    config, folder = run
    code, _, err = g2d(capsys, "train", config, "--out", folder, "--quiet", "--allow-change", "device")
    assert code == 2 and "--allow-change: only with --resume" in err


def test_teachers_resume_with_a_changed_learning_rate_is_refused(run, capsys):
    config, folder = run
    before = snapshot(folder)
    code, _, err = g2d(capsys, "teachers", config, "--out", folder, "--quiet", "--resume",
                       "--set", "teachers.optim.lr=0.01")
    assert code == 2 and "teachers.optim.lr: 0.05 -> 0.01" in err
    assert snapshot(folder) == before


def test_teachers_resume_extends_epochs_when_accepted_and_records_it(run, capsys):
    config, folder = run
    code, out, _ = g2d(capsys, "teachers", config, "--out", folder, "--quiet", "--resume",
                       "--set", "teachers.epochs=3", "--allow-change", "teachers.epochs")
    assert code == 0 and "resumed with an accepted change: teachers.epochs: 2 -> 3" in out
    assert yaml.safe_load((folder / "config.yaml").read_text())["teachers"]["epochs"] == 3
    for m in ("strong", "weak"):
        assert [r["epoch"] for r in io.read_jsonl(folder / "teachers" / m / "metrics.jsonl")] == [0, 1, 2]
    assert not (folder / ".teachers.partial").exists()


def test_resume_with_nothing_to_resume_says_so(run, capsys):
    config, folder = run
    code, out, _ = g2d(capsys, "train", config, "--out", folder, "--quiet", "--resume", "--name", "fresh")
    assert code == 0 and "--resume: no interrupted or finished run of 'fresh'" in out


# ---- every artefact read back is verified ------------------------------------------------------

def replace_teacher_weights(folder: Path, modality: str, nan: bool = False, keep_hash: bool = False) -> Path:
    """Another teacher's weights (shifted) or NaN ones in place of ``modality``'s; with ``keep_hash``
    the card is updated to match, so only the NaN check can see it."""
    weights = folder / "teachers" / modality / "model.safetensors"
    tensors = load_file(str(weights))
    key = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[key] = torch.full_like(tensors[key], float("nan")) if nan else tensors[key] + 0.01
    save_file(tensors, str(weights))
    if keep_hash:
        card = json.loads((weights.parent / "card.json").read_text())
        card["weights_sha256"] = file_sha256(weights)
        (weights.parent / "card.json").write_text(json.dumps(card))
    return weights


READERS = {  # every command that reads the teachers back
    "cache": ["cache", "{config}", "--out", "{run}", "--overwrite"],
    "train": ["train", "{config}", "--out", "{run}", "--quiet", "--name", "again"],
    "evaluate": ["evaluate", "{run}", "--quiet"],
    "diagnose": ["diagnose", "{config}", "--out", "{run}", "--probe-epochs", "1", "--quiet"],
}


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("damage", ["other-weights", "nan"])
def test_replaced_or_nan_teacher_weights_are_refused_by_every_reader(run, capsys, reader, damage):
    config, folder = run
    weights = replace_teacher_weights(folder, "weak", nan=damage == "nan", keep_hash=damage == "nan")
    code, _, err = g2d(capsys, *[a.format(config=config, run=folder) for a in READERS[reader]])
    assert code == 2 and str(weights) in err
    assert ("hold NaN or Inf" in err) if damage == "nan" else ("is not the weights file teacher 'weak'" in err)


def test_replaced_student_weights_are_refused_by_evaluate(run, capsys):
    _, folder = run
    weights = folder / "students/g2d/model.safetensors"
    tensors = load_file(str(weights))
    key = next(iter(tensors))
    tensors[key] = tensors[key] + 1
    save_file(tensors, str(weights))
    code, _, err = g2d(capsys, "evaluate", folder, "--quiet")
    assert code == 2 and f"{weights} is not the weights file student 'g2d'" in err


def test_cache_verify_finds_a_cache_built_from_other_teacher_weights(run, capsys):
    _, folder = run
    assert g2d(capsys, "cache", "--verify", "--out", folder)[0] == 0
    replace_teacher_weights(folder, "strong", keep_hash=True)  # retrained teachers, old cache
    code, _, err = g2d(capsys, "cache", "--verify", "--out", folder)
    assert code == 2 and "is stale: it was built from other teacher weights" in err and "teacher 'strong'" in err


def test_cache_is_kept_when_up_to_date_and_rebuilt_when_stale(run, capsys):
    config, folder = run
    before = snapshot(folder / "cache")
    code, _, err = g2d(capsys, "cache", config, "--out", folder)
    assert code == 0 and "is up to date" in err and snapshot(folder / "cache") == before
    replace_teacher_weights(folder, "strong", keep_hash=True)
    code, out, err = g2d(capsys, "cache", config, "--out", folder)
    assert code == 0 and "rebuilding teacher-output cache" in err and "weights changed" in err
    assert g2d(capsys, "cache", "--verify", "--out", folder)[0] == 0


def test_evaluate_re_evaluates_the_teachers_instead_of_reading_their_cards(run, capsys):
    _, folder = run
    card_path = folder / "teachers/strong/card.json"
    card = json.loads(card_path.read_text())
    stored = card["test"]["accuracy"]
    card["test"]["accuracy"] = -1.0  # a card that lies is not what evaluate reports
    card_path.write_text(json.dumps(card))
    assert g2d(capsys, "evaluate", folder, "--quiet")[0] == 0
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["teachers"]["strong"]["test"]["accuracy"] == pytest.approx(stored, abs=1e-6)


# ---- arguments checked before any training -----------------------------------------------------

@pytest.mark.parametrize("command", ["teachers", "train", "cache", "diagnose", "tune"])
def test_out_that_is_a_file_is_refused_before_the_config_is_read(tmp_path, capsys, command):
    (tmp_path / "file").write_text("x")
    argv = [command, tmp_path / "missing.yaml", "--out", tmp_path / "file"] + (["--trials", "1"] if command == "tune" else [])
    with pytest.raises(SystemExit) as exit_:  # while the command line is read (every command: test_options.py)
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"argument --out: {tmp_path / 'file'}: is an existing file; expected a folder" in err
    assert "missing.yaml" not in err


@pytest.mark.parametrize("url, phrase", [("nonsense", "not a database URL"),
                                         ("nosuchdb://host/db", "unknown database 'nosuchdb'"),
                                         ("sqlite:////no/such/folder/study.db", "folder '/no/such/folder' does not exist")])
def test_tune_storage_is_checked_before_the_teachers_train(tmp_path, capsys, url, phrase):
    pytest.importorskip("optuna")
    raw = tiny_config().model_dump(mode="json")
    raw["tune"] = {"params": {"student.optim.lr": {"type": "float", "low": 0.01, "high": 0.1, "log": True}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    code, _, err = g2d(capsys, "tune", tmp_path / "c.yaml", "--out", tmp_path / "run", "--trials", "1", "--quiet",
                       "--storage", url)
    assert code == 2 and f"--storage {url!r}" in err and phrase in err
    assert not (tmp_path / "run" / "teachers").exists()
