"""The Python API: the pipeline's steps as functions over a typed config and a run folder.

Run folder layout::

    RUN/data.json                      how the splits were made, fingerprints, input transform
    RUN/teachers/<modality>/           model.safetensors, card.json, metrics.jsonl, checkpoints/
    RUN/cache/                         teacher-output cache (manifest.json, *.npy)
    RUN/students/<method>/             config.yaml, metrics.jsonl, checkpoints/, model.safetensors, result.json
    RUN/summary.json                   test metrics of every student and teacher
"""
from __future__ import annotations

import copy
import json
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace as replace_fields
from pathlib import Path
from typing import Any, Callable

import torch
import yaml

from g2d import distributed, io, locks, plugins, staging
from g2d import resume as resume_rules
from g2d.analysis import epoch_callbacks
from g2d.cache import build_cache, open_cache
from g2d.config import ExperimentConfig, load_config, parse_config, replace
from g2d.data import DataSplits, build_splits
from g2d.methods import Method, MethodContext, build_method
from g2d.model import MultimodalModel, build_model
from g2d.runtime import RuntimeConfig, resolve_device, seed_everything
from g2d.paths import check_name, require_folder
from g2d.provenance import software
from g2d.io import file_sha256
from g2d.teachers import OnlineTeachers, Teacher, load_teacher, train_teacher, verify_weights
from g2d.step import TeacherSource
from g2d.trainer import Callback, FitResult, Trainer, evaluate
from g2d.validation import ConfigError, G2DError

__all__ = ["load_config", "parse_config", "load_data", "build_student", "train_teachers",
           "load_teachers", "cache_teacher_outputs", "diagnose", "train_student", "evaluate_run", "StudentRun",
           "MethodSpec", "run_methods", "prepare"]


def load_data(config: ExperimentConfig) -> DataSplits:
    """Build the data set's splits as the config describes them."""
    return build_splits(config.data.name, config.data.options)


def record_data(splits: DataSplits, run_dir: Path, replace: bool = True) -> None:
    """``RUN/data.json``; a run that holds no test split (``g2d tune``) records ``test: null``. A
    student (``replace=False``) writes it only when the run has none (its teachers' is the run's)."""
    if not replace and (run_dir / "data.json").exists():
        return
    parts = {"train": splits.train, "val": splits.val, "test": splits.test}
    io.write_json(run_dir / "data.json", {
        "modalities": list(splits.info.modalities), "task": splits.info.task,
        "num_classes": splits.info.num_classes, "class_names": splits.info.class_names,
        "input_shapes": {m: list(s) for m, s in splits.info.input_shapes.items()},
        "sizes": {k: len(d) if d is not None else None for k, d in parts.items()},
        "fingerprints": {k: d.fingerprint() if d is not None else None for k, d in parts.items()},
        "transform": {"train": splits.train.transform_description, "eval": splits.val.transform_description,
                      "random_train_transform": splits.train.random_transform},
        "provenance": splits.provenance})
    for name, text in splits.artifacts.items():
        io.write_text(run_dir / name, text)


def record_plugins(config: ExperimentConfig, run_dir: Path, replace: bool = True) -> None:
    """``RUN/plugins.json``: each plugin the run used (config list and entry points) with the
    SHA-256 of its source; file plugins are also copied to ``RUN/plugins/``. Nothing without plugins;
    a student (``replace=False``) writes it only when the run has none."""
    records = plugins.loaded_records(config.plugins)
    if not records or (not replace and (run_dir / "plugins.json").exists()):
        return
    for record in records:
        if record["kind"] == "file":
            source = Path(record["source"])
            io.write_text(run_dir / "plugins" / source.name, source.read_text(encoding="utf-8"))
    io.write_json(run_dir / "plugins.json", {"plugins": records})


def record_config(config: ExperimentConfig, run_dir: Path, replace: bool) -> None:
    """``RUN/config.yaml``, the run's resolved experiment (written by the teachers, which every
    student of the run shares; a student writes it only when the run has none yet)."""
    if replace or not (run_dir / "config.yaml").exists():
        io.write_text(run_dir / "config.yaml", config.to_yaml())


def build_student(config: ExperimentConfig, splits: DataSplits) -> MultimodalModel:
    encoders = {m: c.model_dump() for m, c in config.model.encoders.items()}
    return build_model(splits.info, encoders, config.model.fusion.model_dump())


def train_teachers(config: ExperimentConfig, run_dir: str | Path, splits: DataSplits | None = None, *,
                   progress: bool = True, resume: bool = False, overwrite: bool = False,
                   allow_change: list[str] | tuple[str, ...] = (),
                   log: Callable[[str], None] | None = None) -> dict[str, Teacher]:
    """Train one teacher per modality into ``RUN/teachers/<modality>``. They are trained in a
    staging folder (``RUN/.teachers.partial``) and published together when all have finished; trained
    teachers are replaced only with ``overwrite``, and a ``resume`` whose config changed is refused
    (see :mod:`g2d.resume`). The run's ``config.yaml``, ``data.json`` and ``plugins.json`` are written
    when the teachers are published. ``log`` receives the accepted changes of a resumed run."""
    run_dir = Path(run_dir)
    final = run_dir / "teachers"
    if not (resume or overwrite):
        refuse_to_overwrite_teachers(run_dir)
    splits = splits or load_data(config)
    device = resolve_device(config.device)
    with locks.locked_folder(final, "the teachers"):
        plan = staging.plan(final, "*/card.json", "set of teachers", resume=resume, overwrite=overwrite)
        notes = check_resume(config, plan, "teachers", allow_change,
                             recorded=[plan.staging / "config.yaml", run_dir / "config.yaml"])
        folder = staging.begin(plan)
        io.write_text(folder / "config.yaml", config.to_yaml())
        teachers = {m: train_teacher(config, splits, m, folder / m, device, progress, resume)
                    for m in splits.info.modalities}
        staging.publish(plan)
        record_data(splits, run_dir)
        record_plugins(config, run_dir)
        record_config(config, run_dir, replace=True)
    for note in notes:
        (log or _ignore)(f"teachers: {note}")
    return teachers


def check_resume(config: ExperimentConfig, plan: staging.Plan, role: resume_rules.Role,
                 allow_change: list[str] | tuple[str, ...], recorded: list[Path],
                 schedule_check: Callable[[str, Any, Any], None] | None = None) -> list[str]:
    """The accepted changes of a resumed run (empty for a fresh one); ConfigError (nothing written)
    naming every changed key that is not accepted. ``recorded``: the config files the run may have
    recorded, the first that exists is compared."""
    if plan.resume_from is None:
        if allow_change:
            raise ConfigError("--allow-change: only a --resume of an interrupted or finished run can accept changes; "
                              "there is nothing to resume here")
        return []
    found = next((p for p in recorded if p.is_file()), None)
    if found is None:
        return []
    old = yaml.safe_load(found.read_text(encoding="utf-8")) or {}
    new = config.model_dump(mode="json")
    if config.tune is None:
        new.pop("tune", None)
    done = epochs_done(plan.resume_from)
    accepted = resume_rules.check_changes(old, new, role, list(allow_change), str(found), done)
    epoch_key = resume_rules.EPOCH_KEYS[role]
    for line in accepted:
        key = line.split(":")[0]
        if key == epoch_key and schedule_check is not None:
            schedule_check(key, _dotted(old, key), _dotted(new, key))
    return [f"resumed with an accepted change: {line}" for line in accepted]


def _dotted(raw: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        raw = raw.get(part) if isinstance(raw, dict) else None
    return raw


def epochs_done(folder: Path) -> int | None:
    """Epochs a run folder's checkpoint has finished (the fewest over a teachers folder's teachers)."""
    states = [folder / "checkpoints" / "state.pt"] + sorted(folder.glob("*/checkpoints/state.pt"))
    done = [int(io.load_state(p, ("epoch",))["epoch"]) + 1 for p in states if p.is_file()]
    return min(done) if done else None


def refuse_to_overwrite_teachers(run_dir: str | Path) -> None:
    """G2DError when ``RUN/teachers`` already holds trained teachers: retraining them would leave the
    run's cache and students built on the old ones (``g2d teachers --overwrite`` does it on purpose)."""
    run_dir = Path(run_dir)
    trained = sorted(p.parent.name for p in (run_dir / "teachers").glob("*/card.json"))
    if not trained:
        return
    students = sorted(p.parent.name for p in (run_dir / "students").glob("*/result.json"))
    built = f" and students {students} built on them" if students else ""
    raise staging.FinishedRunError(
        f"{run_dir / 'teachers'} already holds trained teachers {trained}{built}; pass --overwrite to retrain "
        f"them (the run's cache and students then no longer match; the old teachers stay until the new ones "
        f"have finished), --resume to continue an interrupted training, or choose another --out")


def load_teachers(config: ExperimentConfig, splits: DataSplits, teachers_dir: str | Path) -> dict[str, Teacher]:
    return {m: load_teacher(config, splits, m, Path(teachers_dir) / m) for m in splits.info.modalities}


def cache_teacher_outputs(config: ExperimentConfig, run_dir: str | Path, splits: DataSplits | None = None,
                          teachers: dict[str, Teacher] | None = None, overwrite: bool = False,
                          log: Callable[[str], None] | None = None) -> Path:
    """Compute and store every training sample's teacher outputs in ``RUN/cache``. A cache that
    already matches these teachers and data (and opens cleanly) is kept unless ``overwrite``; a stale
    or damaged one is rebuilt, saying why through ``log``."""
    run_dir = Path(run_dir)
    splits = splits or load_data(config)
    teachers = teachers or load_teachers(config, splits, run_dir / "teachers")
    cache_dir = run_dir / "cache"
    with locks.locked_folder(cache_dir, "the cache"):
        if (cache_dir / "manifest.json").exists() and not overwrite:
            try:
                open_cache(cache_dir, teachers, splits.train, torch.device("cpu"), resident_bytes=0)
                (log or _ignore)(f"teacher-output cache {cache_dir} is up to date (built from these teachers and "
                                 f"data); --overwrite rebuilds it anyway")
                return cache_dir
            except G2DError as err:
                (log or _ignore)(f"rebuilding teacher-output cache {cache_dir}: {err}")
        return build_cache(teachers, splits.train, cache_dir, resolve_device(config.device),
                           config.data.eval_batch_size, config.precision, config.data.num_workers)


def _ignore(message: str) -> None:
    """A log that drops its message."""


def teacher_source(config: ExperimentConfig, splits: DataSplits, teachers: dict[str, Teacher],
                   cache_dir: Path, device: torch.device, log: list[str]) -> TeacherSource:
    """The cache when the train transform is deterministic (built if missing), else online teachers."""
    if splits.train.random_transform:
        log.append("training transform is random: teachers run online (no cache)")
        return OnlineTeachers(teachers, device, config.precision)
    # under torchrun every rank passes the same barriers: rank 0 alone decides and builds, the others
    # wait (a rank that checked for the manifest itself could find rank 0's and skip the barrier)
    with distributed.main_first() as main:
        if main and not (cache_dir / "manifest.json").exists():
            log.append(f"building teacher-output cache in {cache_dir}")
            with locks.locked_folder(cache_dir, "the cache"):
                build_cache(teachers, splits.train, cache_dir, device, config.data.eval_batch_size,
                            config.precision, config.data.num_workers)
    return open_cache(cache_dir, teachers, splits.train, device)


def teachers_for(config: ExperimentConfig, run_dir: Path, splits: DataSplits, progress: bool,
                 overwrite: bool = False) -> dict[str, Teacher]:
    """The run's teachers: loaded when every modality has one trained for this config's data, encoders,
    teacher training and seed; trained otherwise (replacing other finished teachers only with ``overwrite``)."""
    if all((run_dir / "teachers" / m / "card.json").exists() for m in splits.info.modalities):
        changed = teacher_config_changes(config, run_dir)
        if not changed:
            return load_teachers(config, splits, run_dir / "teachers")
        if not overwrite:
            raise ConfigError(f"{run_dir / 'teachers'} holds teachers trained for another experiment:\n  "
                              + "\n  ".join(changed) + "\npass --overwrite to retrain them, or choose another --out")
    return train_teachers(config, run_dir, splits, progress=progress, overwrite=overwrite)


#: the config sections a run's teachers depend on
TEACHER_SECTIONS = ("data", "model.encoders", "teachers", "seed", "precision", "plugins")


def teacher_config_changes(config: ExperimentConfig, run_dir: Path) -> list[str]:
    """``key: old -> new`` for each teacher-relevant key (:data:`TEACHER_SECTIONS`) that differs from
    the run's ``config.yaml`` (where to run and what to log excepted); nothing when there is none."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        return []
    old, new = yaml.safe_load(path.read_text(encoding="utf-8")) or {}, config.model_dump(mode="json")
    lines = []
    for section in TEACHER_SECTIONS:
        for key, a, b in resume_rules.config_changes(_dotted(old, section), _dotted(new, section), section):
            if key not in ("data.num_workers", "data.eval_batch_size"):
                lines.append(f"{key}: {a!r} -> {b!r}")
    return lines


def diagnose(config: ExperimentConfig, run_dir: str | Path, splits: DataSplits | None = None, *,
             probe_epochs: int | None = None, probe_patience: int | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Name the modality joint training neglects, before the student trains; writes
    ``RUN/diagnosis.json``. Teachers (trained if missing) and a joint probe see the train and val
    splits only — never test. The probe trains for at most ``probe_epochs`` (default
    ``student.epochs``) and stops once its fused validation score has not improved for
    ``probe_patience`` epochs (default a tenth of the epochs, at least 3); the diagnosis reads its
    selected epoch (the rule: :mod:`g2d.analysis.diagnose`)."""
    from g2d.analysis.diagnose import confidence_on_split, path_scores, summarize

    run_dir = Path(run_dir)
    splits = splits or load_data(config)
    device = resolve_device(config.device)
    teachers = teachers_for(config, run_dir, splits, progress)
    notes: list[str] = []
    source = teacher_source(config, splits, teachers, run_dir / "cache", device, notes)
    epochs = probe_epochs or config.student.epochs
    patience = probe_patience or max(3, round(epochs / 10))
    probe = replace(config, {"method": {"name": "joint", "options": {}, "modulators": []},
                             "student.epochs": epochs, "student.patience": patience}, "joint probe")
    seed_everything(config.seed)
    model = build_student(probe, splits)
    runtime = replace_fields(RuntimeConfig.from_experiment(config, device), compile=False)
    trainer = Trainer(model, make_method(probe, splits, model), splits.train, splits.val, None, probe.student,
                      runtime, progress=progress, description="joint probe")
    fit = trainer.fit()
    confidence = confidence_on_split(model, source, splits.train, device, config.data.eval_batch_size)
    chance = 1 / splits.info.num_classes if fit.select_metric == "accuracy" else 0.0
    result = summarize(splits.info.modalities, confidence,
                       {m: t.card["val"][fit.select_metric] for m, t in teachers.items()},
                       path_scores(fit.val, fit.select_metric), fit.select_metric, chance)
    result["probe"] = {"epochs": len(fit.history), "max_epochs": epochs, "patience": patience,
                       "selected_epoch": fit.best_epoch + 1}
    result["probe_epochs"] = len(fit.history)
    if distributed.is_main():
        io.write_json(run_dir / "diagnosis.json", result)
    return result


def resolve_auto_ranking(config: ExperimentConfig, run_dir: Path, splits: DataSplits,
                         notes: list[str], progress: bool) -> ExperimentConfig:
    """Replace SMP's ``ranking: auto`` by the order ``RUN/diagnosis.json`` recommends (diagnosing
    first when there is none); the resolved config is what the student folder records."""
    raw = config.model_dump(mode="json")
    places = [raw["method"]["options"]] + [m["options"] for m in raw["method"]["modulators"]]
    autos = [opts for opts in places if opts.get("ranking") == "auto"]
    if not autos:
        return config
    path = run_dir / "diagnosis.json"
    found = io.read_json(path) if path.exists() else diagnose(config, run_dir, splits, progress=progress)
    order = found["recommended"]["order"]
    for opts in autos:
        opts.update({"ranking": "fixed", "order": order, "rank_every": None})
    notes.append(f"smp ranking 'auto': the diagnosis ({path}) names {found['neglected']} as neglected; "
                 f"prioritisation order {order}")
    return parse_config(raw, f"{path} (auto ranking)")


@dataclass
class StudentRun:
    method: str
    model: MultimodalModel
    result: FitResult
    out_dir: Path
    notes: list[str]


def train_student(config: ExperimentConfig, run_dir: str | Path, splits: DataSplits | None = None, *,
                  teachers_dir: str | Path | None = None, cache_dir: str | Path | None = None,
                  progress: bool = True, resume: bool = False, name: str | None = None,
                  callbacks: list[Callback] | None = None, overwrite: bool = False,
                  allow_change: list[str] | tuple[str, ...] = ()) -> StudentRun:
    """Train a multimodal student with ``config.method`` into ``RUN/students/<name or method>``
    (locked while written: a second process writing the same student is refused). ``callbacks``
    run after every epoch (e.g. a tuner's pruning); without a test split in ``splits``
    (``test=None``) the test set is never evaluated.

    Every check runs before the first write; the student trains in ``RUN/students/.<name>.partial``
    and replaces the finished folder only when it has finished — and a finished student only with
    ``overwrite`` (or ``resume``). A ``resume`` whose config changed is refused naming each change,
    except the safe keys accepted in ``allow_change`` (see :mod:`g2d.resume`), which are applied and
    recorded."""
    label = check_name(name, "--name") if name is not None else config.method.name
    out_dir = Path(run_dir) / "students" / label
    # under torchrun only rank 0 writes files, so it alone holds the lock
    writer = locks.locked_folder(out_dir, f"student {out_dir.name!r}") if distributed.is_main() else nullcontext()
    with writer:
        return _train_student(config, Path(run_dir), out_dir, splits, teachers_dir, cache_dir, progress,
                              resume, label, callbacks, overwrite, allow_change)


def _train_student(config: ExperimentConfig, run_dir: Path, out_dir: Path, splits: DataSplits | None,
                   teachers_dir: str | Path | None, cache_dir: str | Path | None, progress: bool,
                   resume: bool, label: str, callbacks: list[Callback] | None, overwrite: bool,
                   allow_change: list[str] | tuple[str, ...]) -> StudentRun:
    plan = staging.plan(out_dir, "result.json", f"student {label!r}", resume=resume, overwrite=overwrite,
                        rename_hint="choose another --name or --out")
    splits = splits or load_data(config)
    device = resolve_device(config.device)
    main = distributed.is_main()
    notes: list[str] = []
    config = resolve_auto_ranking(config, run_dir, splits, notes, progress)
    seed_everything(config.seed)
    model = build_student(config, splits)

    def same_schedule(key: str, old: Any, new: Any) -> None:
        """An epoch change is safe only when the method's schedule does not follow the total epochs."""
        before = resume_rules.schedule_signature(make_method(replace(config, {key: old}), splits, copy.deepcopy(model)))
        after = resume_rules.schedule_signature(make_method(config, splits, copy.deepcopy(model)))
        differ = [f"{k}: {before.get(k)!r} -> {after.get(k)!r}" for k in sorted(set(before) | set(after))
                  if before.get(k) != after.get(k)]
        if differ:
            raise ConfigError(f"--allow-change {key}: {old} -> {new} changes this method's schedule "
                              f"({'; '.join(differ)}), so the epochs already run followed another one; set "
                              f"the schedule explicitly (e.g. method.options.phases) in a new run, or keep {key}")

    if resume and plan.resume_from is None:
        notes.append(f"--resume: no interrupted or finished run of {label!r} in {out_dir.parent}; trained from the start")
    notes += check_resume(config, plan, "student", allow_change,
                          recorded=[p / "config.yaml" for p in (plan.resume_from,) if p is not None],
                          schedule_check=same_schedule)
    method = make_method(config, splits, model)
    source, teachers = None, None
    teachers_dir = Path(teachers_dir) if teachers_dir else run_dir / "teachers"
    if method.needs_teachers or (config.analysis.track and (teachers_dir / splits.info.modalities[0]).exists()):
        teachers = load_teachers(config, splits, teachers_dir)
    if method.needs_teachers:
        source = teacher_source(config, splits, teachers, Path(cache_dir) if cache_dir else run_dir / "cache",
                                device, notes)
    callbacks = (epoch_callbacks(config, splits, teachers, device) if config.analysis.track else []) + list(callbacks or [])
    distributed.barrier()  # every rank has checked the folders before rank 0 writes the first file
    if main:
        staging.begin(plan)
        io.write_text(plan.staging / "config.yaml", config.to_yaml())
    distributed.barrier()
    trainer = Trainer(model, method, splits.train, splits.val, splits.test, config.student,
                      RuntimeConfig.from_experiment(config, device), teachers=source, out_dir=plan.staging,
                      progress=progress, description=f"student {label}", callbacks=callbacks)
    result = trainer.fit(resume=resume)
    io.load_weights(plan.staging / "checkpoints" / "best.safetensors", model)
    distributed.barrier()  # every rank has read the staged files before rank 0 moves them
    if main:
        weights = io.save_weights(plan.staging / "model.safetensors", model, {"method": config.method.name})
        io.write_json(plan.staging / "result.json", {
            "method": config.method.name, "selected_epoch": result.best_epoch,
            "select_metric": result.select_metric, "val": result.val, "test": result.test, "notes": notes,
            "weights_sha256": file_sha256(weights), "software": software()})
        staging.publish(plan)
        record_data(splits, run_dir, replace=False)
        record_plugins(config, run_dir, replace=False)
        record_config(config, run_dir, replace=False)
    return StudentRun(config.method.name, model, result, out_dir, notes)


def make_method(config: ExperimentConfig, splits: DataSplits, model: MultimodalModel) -> Method:
    context = MethodContext(splits.info.modalities, splits.info.task, config.student.epochs, model, splits.train,
                            splits.val)
    return build_method(config.method.name, config.method.options, context,
                        [m.model_dump() for m in config.method.modulators])


def restore_method(config: ExperimentConfig, splits: DataSplits, model: MultimodalModel,
                   student_dir: Path) -> Method:
    """Rebuild a trained student's method (its test-time prediction hook, e.g. MLA's fusion) with the
    state its last checkpoint saved."""
    method = make_method(config, splits, model)
    state_path = student_dir / "checkpoints" / "state.pt"
    if state_path.exists():
        method.load_state_dict(io.load_state(state_path)["method"])
    return method


def evaluate_run(run_dir: str | Path, device: str | None = None) -> dict[str, Any]:
    """Re-evaluate every trained student and teacher of a run on its test split (their weights checked
    against the SHA-256 their result.json / card.json records); write summary.json."""
    run_dir = require_folder(run_dir, "run folder")
    students = sorted(p for p in (run_dir / "students").glob("*") if (p / "model.safetensors").exists()
                      and not p.name.startswith("."))
    if not students:
        raise G2DError(f"{run_dir}: no trained students (expected students/<method>/model.safetensors)")
    summary: dict[str, Any] = {"methods": {}, "teachers": {}}
    loaded: dict[str, DataSplits] = {}
    config = None
    for student_dir in students:
        config = _config_on(student_dir / "config.yaml", device)
        splits = _splits_for(config, loaded)
        dev = resolve_device(config.device)
        model = build_student(config, splits)
        result = io.read_json_object(student_dir / "result.json", "student result")
        verify_weights(student_dir / "model.safetensors", result.get("weights_sha256"),
                       f"student {student_dir.name!r} (its result.json)")
        io.load_weights(student_dir / "model.safetensors", model)
        restore_method(config, splits, model, student_dir)
        model.to(dev)
        summary["methods"][student_dir.name] = {
            "test": evaluate(model, splits.test, dev, config.data.eval_batch_size, config.precision),
            "val": result["val"], "selected_epoch": result["selected_epoch"]}
    if config is not None and any((run_dir / "teachers").glob("*/card.json")):
        if (run_dir / "config.yaml").is_file():
            config = _config_on(run_dir / "config.yaml", device)
        splits = _splits_for(config, loaded)
        dev = resolve_device(config.device)
        for m in splits.info.modalities:
            if not (run_dir / "teachers" / m / "card.json").exists():
                continue
            teacher = load_teacher(config, splits, m, run_dir / "teachers" / m)
            summary["teachers"][m] = {
                "test": evaluate(teacher.model.to(dev), splits.test, dev, config.data.eval_batch_size, config.precision),
                "val": teacher.card["val"], "selected_epoch": teacher.card["selected_epoch"]}
    io.write_json(run_dir / "summary.json", summary)
    return summary


def _config_on(path: Path, device: str | None) -> ExperimentConfig:
    config = load_config(path)
    return replace(config, {"device": device}, str(path)) if device is not None else config


def _splits_for(config: ExperimentConfig, loaded: dict[str, DataSplits]) -> DataSplits:
    """The config's splits, built once per distinct data section."""
    key = json.dumps(config.model_dump(mode="json")["data"], sort_keys=True)
    if key not in loaded:
        loaded[key] = load_data(config)
    return loaded[key]


@dataclass
class MethodSpec:
    """One student to train in a comparison: a label (its folder name) and its method config."""

    label: str
    method: str
    options: dict[str, Any] = field(default_factory=dict)
    modulators: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> "MethodSpec":
        """``"g2d"`` or a composition ``"joint+smp"`` (method + extra modulators)."""
        method, *mods = text.split("+")
        return cls(text, method, {}, [{"name": m, "options": {}} for m in mods])


def with_method(config: ExperimentConfig, spec: MethodSpec) -> ExperimentConfig:
    options = spec.options or (config.method.model_dump(mode="json")["options"] if spec.method == config.method.name else {})
    method = {"name": spec.method, "options": options, "modulators": spec.modulators}
    return replace(config, {"method": method}, f"method {spec.label!r}")


def run_methods(config: ExperimentConfig, run_dir: str | Path, methods: list[MethodSpec], *,
                progress: bool = True, splits: DataSplits | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Teachers once (reused when the run already holds them for this experiment), cache once, then
    one student per method; returns and writes summary.json. Finished students are replaced only
    with ``overwrite``."""
    run_dir = Path(run_dir)
    for spec in methods:
        check_name(spec.label, "method label")
    configs = {spec.label: with_method(config, spec) for spec in methods}  # validate all first
    splits = splits or load_data(config)
    if not overwrite:  # refuse before any training, not after the teachers
        for label in configs:
            staging.plan(run_dir / "students" / label, "result.json", f"student {label!r}", resume=False,
                         overwrite=False)
    start = time.perf_counter()
    teachers = teachers_for(config, run_dir, splits, progress, overwrite=overwrite)
    summary: dict[str, Any] = {"methods": {}, "teachers": {}, "seed": config.seed,
                               "modalities": list(splits.info.modalities), "task": splits.info.task}
    for m, t in teachers.items():
        summary["teachers"][m] = {"test": t.card["test"], "val": t.card["val"],
                                  "selected_epoch": t.card["selected_epoch"]}
    summary["teachers_wall_s"] = round(time.perf_counter() - start, 2)
    for label, cfg in configs.items():
        start = time.perf_counter()
        student = train_student(cfg, run_dir, splits, progress=progress, name=label, overwrite=overwrite)
        summary["methods"][label] = {"test": student.result.test, "val": student.result.val,
                                     "selected_epoch": student.result.best_epoch,
                                     "wall_s": round(time.perf_counter() - start, 2),
                                     "notes": student.notes, "software": software()}
    io.write_json(run_dir / "summary.json", summary)
    return summary


def prepare(dataset: str, raw_dir: str | Path, out: str | Path, options: dict[str, Any] | None = None, *,
            workers: int | None = None, skip_bad: bool = False, progress: bool = False) -> Any:
    """A data set's raw download -> the layout its loader reads (``g2d prepare``); returns a
    :class:`g2d.prepare.PrepareResult`. Needs PyAV (``pip install 'g2d[prepare]'``)."""
    from g2d.prepare import prepare as run_prepare

    return run_prepare(dataset, raw_dir, out, options, workers=workers, skip_bad=skip_bad, progress=progress)
