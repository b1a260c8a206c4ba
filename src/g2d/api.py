"""The Python API: the pipeline's steps as functions over a typed config and a run folder.

Run folder layout::

    RUN/data.json                      how the splits were made, fingerprints, input transform
    RUN/teachers/<modality>/           model.safetensors, card.json, metrics.jsonl, checkpoints/
    RUN/cache/                         teacher-output cache (manifest.json, *.npy)
    RUN/students/<method>/             config.yaml, metrics.jsonl, checkpoints/, model.safetensors, result.json
    RUN/summary.json                   test metrics of every student and teacher
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace as replace_fields
from pathlib import Path
from typing import Any

import torch

from g2d import distributed, io, locks, plugins
from g2d.analysis import epoch_callbacks
from g2d.cache import build_cache, open_cache
from g2d.config import ExperimentConfig, load_config, parse_config, replace
from g2d.data import DataSplits, build_splits
from g2d.methods import Method, MethodContext, build_method
from g2d.model import MultimodalModel, build_model
from g2d.runtime import RuntimeConfig, resolve_device, seed_everything
from g2d.teachers import OnlineTeachers, Teacher, load_teacher, train_teacher
from g2d.step import TeacherSource
from g2d.trainer import Callback, FitResult, Trainer, evaluate
from g2d.validation import G2DError

__all__ = ["load_config", "parse_config", "load_data", "build_student", "train_teachers",
           "load_teachers", "cache_teacher_outputs", "diagnose", "train_student", "evaluate_run", "StudentRun",
           "MethodSpec", "run_methods"]


def load_data(config: ExperimentConfig) -> DataSplits:
    """Build the data set's splits as the config describes them."""
    return build_splits(config.data.name, config.data.options)


def record_data(splits: DataSplits, run_dir: Path) -> None:
    """``RUN/data.json``; a run that holds no test split (``g2d tune``) records ``test: null``."""
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


def record_plugins(config: ExperimentConfig, run_dir: Path) -> None:
    """``RUN/plugins.json``: each plugin the run used (config list and entry points) with the
    SHA-256 of its source; file plugins are also copied to ``RUN/plugins/``. Nothing without plugins."""
    records = plugins.loaded_records(config.plugins)
    if not records:
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
                   progress: bool = True, resume: bool = False) -> dict[str, Teacher]:
    """Train one teacher per modality into ``RUN/teachers/<modality>``."""
    run_dir = Path(run_dir)
    splits = splits or load_data(config)
    device = resolve_device(config.device)
    with locks.locked_folder(run_dir / "teachers", "the teachers"):
        record_data(splits, run_dir)
        record_plugins(config, run_dir)
        record_config(config, run_dir, replace=True)
        return {m: train_teacher(config, splits, m, run_dir / "teachers" / m, device, progress, resume)
                for m in splits.info.modalities}


def refuse_to_overwrite_teachers(run_dir: str | Path) -> None:
    """G2DError when ``RUN/teachers`` already holds trained teachers: retraining them would leave the
    run's cache and students built on the old ones (``g2d teachers --overwrite`` does it on purpose)."""
    run_dir = Path(run_dir)
    trained = sorted(p.parent.name for p in (run_dir / "teachers").glob("*/card.json"))
    if not trained:
        return
    students = sorted(p.parent.name for p in (run_dir / "students").glob("*/result.json"))
    built = f" and students {students} built on them" if students else ""
    raise G2DError(f"{run_dir / 'teachers'} already holds trained teachers {trained}{built}; pass "
                   f"--overwrite to retrain them (the run's cache and students then no longer match), "
                   f"--resume to continue an interrupted training, or choose another --out")


def load_teachers(config: ExperimentConfig, splits: DataSplits, teachers_dir: str | Path) -> dict[str, Teacher]:
    return {m: load_teacher(config, splits, m, Path(teachers_dir) / m) for m in splits.info.modalities}


def cache_teacher_outputs(config: ExperimentConfig, run_dir: str | Path, splits: DataSplits | None = None,
                          teachers: dict[str, Teacher] | None = None) -> Path:
    """Compute and store every training sample's teacher outputs in ``RUN/cache``."""
    run_dir = Path(run_dir)
    splits = splits or load_data(config)
    teachers = teachers or load_teachers(config, splits, run_dir / "teachers")
    with locks.locked_folder(run_dir / "cache", "the cache"):
        return build_cache(teachers, splits.train, run_dir / "cache", resolve_device(config.device),
                           config.data.eval_batch_size, config.precision, config.data.num_workers)


def teacher_source(config: ExperimentConfig, splits: DataSplits, teachers: dict[str, Teacher],
                   cache_dir: Path, device: torch.device, log: list[str]) -> TeacherSource:
    """The cache when the train transform is deterministic (built if missing), else online teachers."""
    if splits.train.random_transform:
        log.append("training transform is random: teachers run online (no cache)")
        return OnlineTeachers(teachers, device, config.precision)
    if not (cache_dir / "manifest.json").exists():
        log.append(f"building teacher-output cache in {cache_dir}")
        with distributed.main_first() as main:  # under torchrun: rank 0 builds, the others wait
            if main:
                with locks.locked_folder(cache_dir, "the cache"):
                    build_cache(teachers, splits.train, cache_dir, device, config.data.eval_batch_size,
                                config.precision, config.data.num_workers)
    return open_cache(cache_dir, teachers, splits.train, device)


def teachers_for(config: ExperimentConfig, run_dir: Path, splits: DataSplits, progress: bool) -> dict[str, Teacher]:
    """The run's teachers: loaded when every modality has one, trained otherwise."""
    if all((run_dir / "teachers" / m / "card.json").exists() for m in splits.info.modalities):
        return load_teachers(config, splits, run_dir / "teachers")
    return train_teachers(config, run_dir, splits, progress=progress)


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
                  callbacks: list[Callback] | None = None) -> StudentRun:
    """Train a multimodal student with ``config.method`` into ``RUN/students/<name or method>``
    (locked while written: a second process writing the same student is refused). ``callbacks``
    run after every epoch (e.g. a tuner's pruning); without a test split in ``splits``
    (``test=None``) the test set is never evaluated."""
    out_dir = Path(run_dir) / "students" / (name or config.method.name)
    # under torchrun only rank 0 writes files, so it alone holds the lock
    writer = locks.locked_folder(out_dir, f"student {out_dir.name!r}") if distributed.is_main() else nullcontext()
    with writer:
        return _train_student(config, Path(run_dir), out_dir, splits, teachers_dir, cache_dir, progress,
                              resume, name, callbacks)


def _train_student(config: ExperimentConfig, run_dir: Path, out_dir: Path, splits: DataSplits | None,
                   teachers_dir: str | Path | None, cache_dir: str | Path | None, progress: bool,
                   resume: bool, name: str | None, callbacks: list[Callback] | None) -> StudentRun:
    splits = splits or load_data(config)
    device = resolve_device(config.device)
    out_dir.mkdir(parents=True, exist_ok=True)
    main = distributed.is_main()
    notes: list[str] = []
    config = resolve_auto_ranking(config, run_dir, splits, notes, progress)
    if main:
        io.write_text(out_dir / "config.yaml", config.to_yaml())
        record_data(splits, run_dir)
        record_plugins(config, run_dir)
        record_config(config, run_dir, replace=False)
    seed_everything(config.seed)
    model = build_student(config, splits)
    method = make_method(config, splits, model)
    source, teachers = None, None
    teachers_dir = Path(teachers_dir) if teachers_dir else run_dir / "teachers"
    if method.needs_teachers or (config.analysis.track and (teachers_dir / splits.info.modalities[0]).exists()):
        teachers = load_teachers(config, splits, teachers_dir)
    if method.needs_teachers:
        source = teacher_source(config, splits, teachers, Path(cache_dir) if cache_dir else run_dir / "cache",
                                device, notes)
    callbacks = (epoch_callbacks(config, splits, teachers, device) if config.analysis.track else []) + list(callbacks or [])
    trainer = Trainer(model, method, splits.train, splits.val, splits.test, config.student,
                      RuntimeConfig.from_experiment(config, device), teachers=source, out_dir=out_dir,
                      progress=progress, description=f"student {name or config.method.name}",
                      callbacks=callbacks)
    result = trainer.fit(resume=resume)
    io.load_weights(out_dir / "checkpoints" / "best.safetensors", model)
    if main:
        io.save_weights(out_dir / "model.safetensors", model, {"method": config.method.name})
        io.write_json(out_dir / "result.json", {"method": config.method.name, "selected_epoch": result.best_epoch,
                                                "select_metric": result.select_metric, "val": result.val,
                                                "test": result.test, "notes": notes})
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
    """Re-evaluate every trained student and teacher of a run on its test split; write summary.json."""
    run_dir = Path(run_dir)
    students = sorted(p for p in (run_dir / "students").glob("*") if (p / "model.safetensors").exists())
    if not students:
        raise G2DError(f"{run_dir}: no trained students (expected students/<method>/model.safetensors)")
    summary: dict[str, Any] = {"methods": {}, "teachers": {}}
    splits = None
    for student_dir in students:
        config = load_config(student_dir / "config.yaml")
        if device is not None:
            config = replace(config, {"device": device}, str(student_dir / "config.yaml"))
        splits = splits or load_data(config)
        dev = resolve_device(config.device)
        model = build_student(config, splits)
        io.load_weights(student_dir / "model.safetensors", model)
        restore_method(config, splits, model, student_dir)
        model.to(dev)
        result = io.read_json(student_dir / "result.json")
        summary["methods"][student_dir.name] = {
            "test": evaluate(model, splits.test, dev, config.data.eval_batch_size, config.precision),
            "val": result["val"], "selected_epoch": result["selected_epoch"]}
    for card_path in sorted((run_dir / "teachers").glob("*/card.json")):
        card = io.read_json(card_path)
        summary["teachers"][card["modality"]] = {"test": card["test"], "val": card["val"],
                                                 "selected_epoch": card["selected_epoch"]}
    io.write_json(run_dir / "summary.json", summary)
    return summary


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
                progress: bool = True, splits: DataSplits | None = None) -> dict[str, Any]:
    """Teachers once, cache once, then one student per method; returns and writes summary.json."""
    run_dir = Path(run_dir)
    configs = {spec.label: with_method(config, spec) for spec in methods}  # validate all first
    splits = splits or load_data(config)
    start = time.perf_counter()
    teachers = train_teachers(config, run_dir, splits, progress=progress)
    summary: dict[str, Any] = {"methods": {}, "teachers": {}, "seed": config.seed,
                               "modalities": list(splits.info.modalities), "task": splits.info.task}
    for m, t in teachers.items():
        summary["teachers"][m] = {"test": t.card["test"], "val": t.card["val"],
                                  "selected_epoch": t.card["selected_epoch"]}
    summary["teachers_wall_s"] = round(time.perf_counter() - start, 2)
    for label, cfg in configs.items():
        start = time.perf_counter()
        student = train_student(cfg, run_dir, splits, progress=progress, name=label)
        summary["methods"][label] = {"test": student.result.test, "val": student.result.val,
                                     "selected_epoch": student.result.best_epoch,
                                     "wall_s": round(time.perf_counter() - start, 2),
                                     "notes": student.notes}
    io.write_json(run_dir / "summary.json", summary)
    return summary
