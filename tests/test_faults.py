"""The bad-input and fault battery through the CLI: each case exits non-zero, prints no traceback,
and one message naming the file / sample / field / option at fault and what was expected."""
from __future__ import annotations

import errno
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from g2d import io, locks
from g2d.cli import main

from conftest import tiny_config

SRC = Path(__file__).resolve().parents[1] / "src"


def g2d(capsys, *argv: str) -> tuple[int, str]:
    """Run the CLI in-process; returns (exit code, stderr) and checks no traceback was printed (an
    option refused while the command line is read exits through argparse, status 2)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    return code, captured.err


def write_config(folder: Path, **overrides) -> Path:
    path = folder / "exp.yaml"
    path.write_text(tiny_config(**overrides).to_yaml())
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run folder with teachers, cache and a g2d student (copied by ``run``)."""
    root = tmp_path_factory.mktemp("trained")
    config = write_config(root)
    run = root / "run"
    for step in ("teachers", "cache", "train"):
        assert main([step, str(config), "--out", str(run), "--quiet"]) == 0
    return config, run


@pytest.fixture
def run(trained, tmp_path):
    config, source = trained
    shutil.copytree(source, tmp_path / "run")
    return config, tmp_path / "run"


# ---- lost work ---------------------------------------------------------------------------------

def test_second_writer_of_a_student_is_refused_naming_folder_and_holder(run, capsys):
    config, run = run
    with locks.locked_folder(run / "students" / "g2d", "student"):  # another writer holds it
        code, err = g2d(capsys, "train", config, "--out", run, "--quiet", "--set", "seed=1")
    assert code == 2
    assert f"{run / 'students' / 'g2d'} is being written by another process" in err
    assert f"pid {os.getpid()}" in err
    result = json.loads((run / "students/g2d/result.json").read_text())
    assert yaml.safe_load((run / "students/g2d/config.yaml").read_text())["seed"] == 0  # untouched
    assert result["method"] == "g2d"


@pytest.mark.parametrize("step, folder, holder", [(("teachers", "--overwrite", "--quiet"), "teachers", "the teachers"),
                                                   (("cache",), "cache", "the cache")])
def test_second_writer_of_teachers_or_cache_is_refused(run, capsys, step, folder, holder):
    config, run = run
    before = {p: p.read_bytes() for p in (run / folder).rglob("*") if p.is_file()}
    with locks.locked_folder(run / folder, holder):
        code, err = g2d(capsys, step[0], config, "--out", run, *step[1:])
    assert code == 2 and f"{run / folder} is being written by another process" in err
    assert f"pid {os.getpid()}" in err
    assert {p: p.read_bytes() for p in before} == before


def test_lock_of_a_killed_process_does_not_block_resume(run, capsys):
    config, run = run
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from g2d import locks\n"
         "with locks.locked_folder(Path(sys.argv[1]), 'x'):\n    print('held', flush=True); time.sleep(60)",
         str(run / "students" / "g2d")], stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(SRC)})
    assert holder.stdout.readline().strip() == b"held"
    code, err = g2d(capsys, "train", config, "--out", run, "--quiet", "--resume")
    assert code == 2 and "is being written by another process" in err
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert locks.lock_path(run / "students" / "g2d").exists()  # the stale lock file is left behind …
    code, _ = g2d(capsys, "train", config, "--out", run, "--quiet", "--resume")
    assert code == 0  # … and does not block


# ---- silent garbage ----------------------------------------------------------------------------

def test_teachers_into_a_trained_run_need_overwrite(run, capsys):
    config, run = run
    before = (run / "teachers/strong/model.safetensors").read_bytes()
    code, err = g2d(capsys, "teachers", config, "--out", run, "--quiet")
    assert code == 2
    assert "already holds trained teachers ['strong', 'weak'] and students ['g2d']" in err and "--overwrite" in err
    assert (run / "teachers/strong/model.safetensors").read_bytes() == before
    assert g2d(capsys, "teachers", config, "--out", run, "--quiet", "--overwrite")[0] == 0


def write_numbers_manifest(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    lines = ["a,b,label,split"]
    for i in range(48):
        k = i % 2
        a = " ".join(f"{v:.3f}" for v in rng.normal(k, 1, 4))
        b = " ".join(f"{v:.3f}" for v in rng.normal(k, 1, 3))
        lines.append(f"\"{a}\",\"{b}\",c{k},{'test' if i >= 40 else 'train'}")
    (folder / "m.csv").write_text("\n".join(lines) + "\n")
    return folder / "m.csv"


def manifest_config(folder: Path, **options) -> Path:
    raw = tiny_config().model_dump(mode="json")
    raw["data"] = {"name": "manifest", "batch_size": 16,
                   "options": {"path": str(write_numbers_manifest(folder)), "modalities": ["a", "b"],
                               "cache_dir": str(folder / "pre"), **options}}
    raw["model"] = {"encoders": {}}
    raw["method"] = {"name": "g2d", "options": {"phases": [1]}}
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_teachers_trained_on_other_preprocessing_are_refused_naming_the_change(tmp_path, capsys):
    config, run = manifest_config(tmp_path), tmp_path / "run"
    assert g2d(capsys, "teachers", config, "--out", run, "--quiet")[0] == 0
    code, err = g2d(capsys, "cache", config, "--out", run, "--set", "data.options.standardize=false")
    assert code == 2
    assert f"teacher {run / 'teachers' / 'a'} was trained on other inputs" in err
    assert "per-feature train mean/std" in err  # the preprocessing that changed …
    assert "data.options.standardize: True -> False" in err  # … and the option that changed it
    assert "g2d teachers CONFIG --out RUN --overwrite" in err  # the command that fixes it
    assert not (run / "cache").exists()
    code, err = g2d(capsys, "train", config, "--out", run, "--quiet", "--set", "data.options.standardize=false")
    assert code == 2 and f"teacher {run / 'teachers' / 'a'} was trained on other inputs" in err
    assert "data.options.standardize: True -> False" in err
    assert not list((run / "students").rglob("*.safetensors")) and not list((run / "students").rglob("result.json"))


def test_a_label_seen_once_is_a_typo_naming_label_and_row(tmp_path, capsys):
    config = manifest_config(tmp_path)
    path = tmp_path / "m.csv"
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace(",c0,", ",C0,")
    path.write_text("\n".join(lines) + "\n")
    code, err = g2d(capsys, "teachers", config, "--out", tmp_path / "run", "--quiet")
    assert code == 2
    assert "label 'C0' has only 1 sample(s) (m.csv line 6)" in err
    assert "data.options.classes" in err and "min_class_samples" in err


def test_arrays_label_outside_the_others_is_refused_without_class_names(tmp_path, capsys):
    from g2d.data.memory import save_arrays

    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    labels[7] = 9
    save_arrays(tmp_path / "d.npz", {"a": rng.normal(size=(60, 4)), "b": rng.normal(size=(60, 3))}, labels)
    raw = tiny_config().model_dump(mode="json")
    raw["data"] = {"name": "arrays", "options": {"path": str(tmp_path / "d.npz"), "modalities": ["a", "b"]}}
    raw["model"] = {"encoders": {}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    code, err = g2d(capsys, "teachers", tmp_path / "c.yaml", "--out", tmp_path / "run", "--quiet")
    assert code == 2 and "label 9 has only 1 sample(s) (sample 7)" in err and "class_names" in err


def test_empty_config_file_is_an_error_naming_it(tmp_path, capsys):
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    code, err = g2d(capsys, "train", tmp_path / "empty.yaml", "--out", tmp_path / "run")
    assert code == 2 and f"{tmp_path / 'empty.yaml'}: the config file is empty" in err
    assert not (tmp_path / "run").exists()


def test_duplicate_yaml_key_is_an_error_naming_key_and_lines(tmp_path, capsys):
    (tmp_path / "dup.yaml").write_text("student:\n  epochs: 2\n  epochs: 50\n")
    code, err = g2d(capsys, "train", tmp_path / "dup.yaml", "--out", tmp_path / "run")
    assert code == 2 and "key 'epochs' appears twice (first on line 2)" in err and "line 3" in err


def test_zeroed_cache_array_is_refused_and_verify_finds_an_edited_row(run, capsys):
    config, run = run
    path = run / "cache" / "weak.logits.npy"
    arr = np.load(path)
    np.save(path, np.zeros_like(arr))
    code, err = g2d(capsys, "train", config, "--out", run, "--quiet", "--name", "again")
    assert code == 2 and f"cache array {path} is not the file the cache was built with" in err
    assert "rebuild the cache with `g2d cache`" in err
    np.save(path, arr)  # restored: opens again; a one-value edit is left to --verify
    assert g2d(capsys, "cache", "--verify", "--out", run)[0] == 0
    edited = np.load(path)
    edited[len(edited) // 3, 0] += 1.0
    np.save(path, edited)
    code, err = g2d(capsys, "cache", "--verify", "--out", run)
    assert code == 2 and f"content differs from what was built for ['{path}']" in err


def test_content_hash_option_sees_a_file_rewritten_with_same_size_and_mtime(tmp_path):
    from g2d.data.preprocessed import Record, fingerprint_records

    wav = tmp_path / "x.wav"
    wav.write_bytes(b"RIFF" + bytes(100))
    stat = wav.stat()
    records = [Record("x", {"audio": wav}, 0.0, "m.csv line 2")]
    before = (fingerprint_records(records, "d"), fingerprint_records(records, "d", contents=True))
    wav.write_bytes(b"RIFF" + bytes(99) + b"\x01")
    os.utime(wav, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert fingerprint_records(records, "d") == before[0]  # size + mtime: not seen (documented)
    assert fingerprint_records(records, "d", contents=True) != before[1]  # hash_contents: seen


# ---- bare tracebacks ---------------------------------------------------------------------------

def test_out_that_is_a_file_or_under_a_file_or_read_only(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path)
    (tmp_path / "afile").write_text("x")
    code, err = g2d(capsys, "teachers", config, "--out", tmp_path / "afile", "--quiet")
    assert code == 2 and f"argument --out: {tmp_path / 'afile'}: is an existing file; expected a folder" in err
    code, err = g2d(capsys, "train", config, "--out", tmp_path / "afile" / "run", "--quiet")
    assert code == 2 and f"{tmp_path / 'afile'} is a file, not a folder" in err

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr("tempfile.mkstemp", read_only)
    code, err = g2d(capsys, "cache", config, "--out", tmp_path / "ro" / "run")
    assert code == 2 and f"argument --out: {tmp_path / 'ro' / 'run'}: cannot write in {tmp_path} (read-only file system)" in err


def test_report_out_that_is_a_file_or_under_a_file_or_read_only(run, tmp_path, capsys, monkeypatch):
    _, run = run
    (tmp_path / "afile").write_text("x")
    code, err = g2d(capsys, "report", run, "--out", tmp_path / "afile", "--logs-only")
    assert code == 2 and f"argument --out: {tmp_path / 'afile'}: is an existing file; expected a folder" in err
    code, err = g2d(capsys, "report", run, "--out", tmp_path / "afile" / "r", "--logs-only")
    assert code == 2 and "is a file, not a folder" in err

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr("tempfile.mkstemp", read_only)
    code, err = g2d(capsys, "report", run, "--out", tmp_path / "ro" / "r", "--logs-only")
    assert code == 2 and f"argument --out: {tmp_path / 'ro' / 'r'}: cannot write in {tmp_path} (read-only file system)" in err
    assert not (tmp_path / "ro").exists()


def test_disk_full_names_the_file_and_leaves_the_last_checkpoint(run, capsys, monkeypatch):
    config, run = run
    state = run / "students/g2d/checkpoints/state.pt"
    before = state.read_bytes()

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Path, "write_bytes", full)
    code, err = g2d(capsys, "train", config, "--out", run, "--quiet", "--resume",
                    "--set", "student.epochs=3", "--allow-change", "student.epochs")
    assert code == 2 and "no space left on device while writing" in err and "students/.g2d.partial/" in err
    monkeypatch.undo()
    assert state.read_bytes() == before  # the finished student is untouched
    staged = run / "students/.g2d.partial/checkpoints"
    assert (staged / "state.pt").read_bytes() == before  # the extension's last checkpoint: nothing half-written
    assert not [p for p in staged.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("content", ["torch-pickle", "plain-pickle", "garbage"])
def test_student_state_that_is_not_a_g2d_checkpoint(run, capsys, content):
    config, run = run
    state = run / "students/g2d/checkpoints/state.pt"
    marker = state.parent / "pwned"
    if content == "torch-pickle":
        torch.save({"x": Payload(str(marker))}, state)
    elif content == "plain-pickle":
        state.write_bytes(pickle.dumps({"epoch": 1}))
    else:
        state.write_bytes(b"\x00garbage" * 16)
    code, err = g2d(capsys, "train", config, "--out", run, "--quiet", "--resume")
    assert code == 2 and f"{state} is not a g2d checkpoint" in err
    assert "weights_only=False" not in err and "weights_only" not in err
    assert not marker.exists()  # no pickle ran


class Payload:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


@pytest.mark.parametrize("damage", ["pickle", "truncated", "rows", "columns"])
def test_damaged_cache_array_names_file_and_expected_shape(run, capsys, damage):
    config, run = run
    path = run / "cache" / "strong.features.npy"
    arr = np.load(path)
    manifest = json.loads((run / "cache/manifest.json").read_text())
    if damage == "pickle":
        path.write_bytes(pickle.dumps(arr))
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        np.save(path, arr[:-1] if damage == "rows" else arr[:, :-1])
    if damage in ("rows", "columns"):  # the fingerprint also matching: the shape check alone
        manifest["arrays"]["strong.features.npy"]["fingerprint"] = __import__("g2d.cache").cache.file_fingerprint(path)
        (run / "cache/manifest.json").write_text(json.dumps(manifest))
    code, err = g2d(capsys, "train", config, "--out", run, "--quiet", "--name", "again")
    assert code == 2 and f"cache array {path}" in err
    assert f"expected a float32 array of shape {tuple(arr.shape)}" in err


def test_teacher_weights_replaced_by_a_pickle(run, capsys):
    config, run = run
    weights = run / "teachers/weak/model.safetensors"
    weights.write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    code, err = g2d(capsys, "cache", config, "--out", run)
    assert code == 2 and f"{weights} is not the weights file teacher 'weak'" in err and "Traceback" not in err
    card = json.loads((weights.parent / "card.json").read_text())
    card.pop("weights_sha256")  # a card from before the hash was recorded: the file format is still checked
    (weights.parent / "card.json").write_text(json.dumps(card))
    code, err = g2d(capsys, "cache", config, "--out", run, "--overwrite")
    assert code == 2 and f"{weights} is not a g2d weights file" in err


def test_inline_vector_of_the_wrong_length_names_the_row(tmp_path, capsys):
    config = manifest_config(tmp_path)
    path = tmp_path / "m.csv"
    lines = path.read_text().splitlines()
    first = lines[1].split('","')[0] + '"'
    lines[9] = lines[9].replace(lines[9].split('","')[0] + '"', '"1 2 3"', 1)
    path.write_text("\n".join(lines) + "\n")
    assert first.count(" ") == 3
    code, err = g2d(capsys, "teachers", config, "--out", tmp_path / "run", "--quiet")
    assert code == 2 and "m.csv line 10: modality 'a': expected 4 numbers (as in m.csv line 2), got 3" in err


# ---- smaller -----------------------------------------------------------------------------------

def test_files_and_folders_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        io.write_json(tmp_path / "x.json", {"a": 1})
        with io.staged_folder(tmp_path / "folder") as tmp:
            (tmp / "f").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o755


def test_bad_set_value_names_the_set_option_not_the_file(tmp_path, capsys):
    config = write_config(tmp_path)
    code, err = g2d(capsys, "train", config, "--out", tmp_path / "run", "--set", "student.epochs=-3")
    assert code == 2 and "--set student.epochs=-3: invalid configuration" in err
    assert "student.epochs: Input should be greater than 0" in err and str(config) not in err


def test_a_real_process_prints_no_traceback(run):
    config, run = run
    (run / "students/g2d/checkpoints/state.pt").write_bytes(b"not a checkpoint")
    done = subprocess.run([sys.executable, "-m", "g2d.cli", "train", str(config), "--out", str(run), "--quiet",
                           "--resume"], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SRC)},
                          timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "is not a g2d checkpoint" in done.stderr


def test_disk_full_while_building_the_preprocessed_cache_names_the_entry(tmp_path, capsys, monkeypatch):
    config = manifest_config(tmp_path)

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "posix_fallocate", full)
    code, err = g2d(capsys, "teachers", config, "--out", tmp_path / "run", "--quiet")
    assert code == 2 and f"no space left on device while writing {tmp_path / 'pre'}/manifest-m-train-" in err
    assert not [p for p in (tmp_path / "pre").iterdir()]  # nothing half-built is left


# ---- held cases --------------------------------------------------------------------------------

def test_python_yaml_tags_are_refused_and_run_nothing(tmp_path, capsys):
    marker = tmp_path / "ran"
    (tmp_path / "evil.yaml").write_text(f"seed: !!python/object/apply:os.system ['touch {marker}']\n")
    code, err = g2d(capsys, "train", tmp_path / "evil.yaml", "--out", tmp_path / "run")
    assert code == 2 and "not valid YAML" in err and "python/object/apply:os.system" in err
    assert not marker.exists()


def test_kill_9_then_resume_gives_the_byte_identical_student(trained, tmp_path):
    config, source = trained
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "g2d.cli", "train", str(config), "--quiet", "--set", "student.epochs=8"]
    runs = {}
    for name in ("whole", "killed"):
        runs[name] = tmp_path / name
        shutil.copytree(source / "teachers", runs[name] / "teachers")
        shutil.copytree(source / "cache", runs[name] / "cache")
    subprocess.run(args + ["--out", str(runs["whole"])], check=True, env=env, timeout=300)
    proc = subprocess.Popen(args + ["--out", str(runs["killed"])], env=env)
    state = runs["killed"] / "students/.g2d.partial/checkpoints/state.pt"  # the run is staged until finished
    deadline = time.time() + 240
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (runs["killed"] / "students/g2d").exists(), "killed too late to test resuming"
    subprocess.run(args + ["--out", str(runs["killed"]), "--resume"], check=True, env=env, timeout=300)
    killed, whole = runs["killed"] / "students/g2d", runs["whole"] / "students/g2d"
    assert (killed / "model.safetensors").read_bytes() == (whole / "model.safetensors").read_bytes()
    result = lambda folder: json.loads((folder / "result.json").read_text())  # noqa: E731
    assert result(killed) == result(whole)


def test_diverging_teacher_stops_naming_model_epoch_and_step_and_saves_nothing(tmp_path, capsys):
    config = write_config(tmp_path, teachers__optim={"lr": 1e8})
    code, err = g2d(capsys, "teachers", config, "--out", tmp_path / "run", "--quiet")
    assert code != 0 and "teacher " in err and "became NaN or Inf" in err and "at epoch 0" in err
    assert "teachers.optim.lr" in err
    assert not list((tmp_path / "run").rglob("*.safetensors"))  # no NaN weights saved or checkpointed


def test_diverging_student_stops_before_its_checkpoint(run, capsys):
    config, folder = run
    shutil.rmtree(folder / "students")
    code, err = g2d(capsys, "train", config, "--out", folder, "--quiet", "--set", "student.optim.lr=1e8")
    assert code != 0 and "student g2d: the" in err and "became NaN or Inf" in err and "epoch 0" in err
    assert not list((folder / "students").rglob("*.safetensors"))
