"""Unimodal teachers: one per modality, trained with the task loss by the shared trainer,
selected on validation, saved as safetensors weights + a JSON card; and online teacher lookup."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from g2d import io
from g2d.io import file_sha256
from g2d.config import ExperimentConfig
from g2d.data.base import Batch, DataSplits
from g2d.methods import MethodContext, build_method
from g2d.model import ModelOutput, MultimodalModel, build_model
from g2d.objectives import TeacherOutputs
from g2d.paths import require_file
from g2d.provenance import software
from g2d.runtime import RuntimeConfig, autocast
from g2d.trainer import Trainer
from g2d.validation import G2DError

#: Fusion head of every teacher: a single linear head (``late`` with one modality).
TEACHER_HEAD = {"name": "late", "options": {}}


@dataclass
class Teacher:
    modality: str
    model: "MultimodalModel | ModuleTeacher"  # ModuleTeacher: an nn.Module of the user's own
    card: dict[str, Any]


def build_teacher_model(config: ExperimentConfig, splits: DataSplits, modality: str) -> MultimodalModel:
    encoders = {m: c.model_dump() for m, c in config.model.encoders.items()}
    return build_model(splits.info, encoders, TEACHER_HEAD, modalities=[modality])


def train_teacher(config: ExperimentConfig, splits: DataSplits, modality: str, out_dir: Path,
                  device: torch.device, progress: bool = True, resume: bool = False) -> Teacher:
    """Train modality ``modality``'s teacher on its input alone; keep the best-on-val weights."""
    torch.manual_seed(config.seed)
    model = build_teacher_model(config, splits, modality)
    context = MethodContext((modality,), splits.info.task, config.teachers.epochs, model, splits.train)
    method = build_method("joint", {}, context)
    trainer = Trainer(model, method, splits.train, splits.val, splits.test, config.teachers,
                      RuntimeConfig.from_experiment(config, device), out_dir=out_dir, progress=progress,
                      description=f"teacher {modality}")
    result = trainer.fit(resume=resume)
    io.load_weights(out_dir / "checkpoints" / "best.safetensors", model)
    io.save_weights(out_dir / "model.safetensors", model, {"modality": modality})
    card = {"modality": modality, "encoder": config.model.encoders[modality].model_dump(),
            "head": TEACHER_HEAD, "task": splits.info.task, "num_outputs": splits.info.num_outputs,
            "input_shape": list(splits.info.input_shapes[modality]), "feature_dim": model.encoders[modality].out_dim,
            "selected_epoch": result.best_epoch, "select_metric": result.select_metric,
            "val": result.val, "test": result.test, "train_fingerprint": splits.train.fingerprint(),
            "transform": splits.train.transform_description,
            "data_options": config.model_dump(mode="json")["data"]["options"],
            "weights_sha256": file_sha256(out_dir / "model.safetensors"), "software": software()}
    io.write_json(out_dir / "card.json", card)
    return Teacher(modality, model.eval(), card)


def verify_weights(path: Path, recorded: str | None, where: str) -> None:
    """CheckpointError when ``path`` is not the file whose SHA-256 ``where`` recorded (replaced by
    another run's or seed's, edited); nothing to check for records that predate the hash."""
    if recorded is None:
        return
    actual = file_sha256(path)
    if actual != recorded:
        raise io.CheckpointError(f"{path} is not the weights file {where} records (sha256 {actual[:12]}… != "
                                 f"recorded {str(recorded)[:12]}…): it was replaced or edited; restore it, or "
                                 f"retrain with --overwrite")


def load_teacher(config: ExperimentConfig, splits: DataSplits, modality: str, teacher_dir: Path) -> Teacher:
    """Load a trained teacher; refuse one trained for another architecture or task, and weights that
    are not the file its card records (or hold NaN/Inf)."""
    card_path, weights = teacher_dir / "card.json", teacher_dir / "model.safetensors"
    if not card_path.exists() and not weights.exists() and not card_path.is_symlink():
        raise G2DError(f"no trained teacher for modality {modality!r} in {teacher_dir} "
                       f"(expected card.json and model.safetensors); run `g2d teachers` first")
    require_file(card_path, f"teacher {modality!r}: card")
    require_file(weights, f"teacher {modality!r}: weights")
    card = io.read_json_object(card_path, "teacher card")
    verify_weights(weights, card.get("weights_sha256"), f"teacher {modality!r}'s card {card_path}")
    expected = config.model.encoders[modality].model_dump()
    if card.get("encoder") != expected:
        raise G2DError(f"teacher {teacher_dir}: trained with encoder {card.get('encoder')}, but the config "
                       f"asks for {expected} for modality {modality!r}")
    changes = input_changes(card, splits)
    if changes:
        changes += changed_options(card.get("data_options"), config.model_dump(mode="json")["data"]["options"])
        raise G2DError(f"teacher {teacher_dir} was trained on other inputs than this config gives: "
                       + "; ".join(changes) + ". Retrain the teachers for these inputs with "
                       "`g2d teachers CONFIG --out RUN --overwrite` (then `g2d cache`), or restore the "
                       "data options they were trained with")
    model = build_teacher_model(config, splits, modality)
    io.load_weights(weights, model)
    return Teacher(modality, model.eval(), card)


def input_changes(card: dict[str, Any], splits: DataSplits) -> list[str]:
    """How this run's training inputs differ from those the teacher was trained on (its card):
    the preprocessing (transform) and the training samples' fingerprint."""
    changes = []
    stored, now = card.get("transform"), splits.train.transform_description
    if stored is not None and stored != now:
        old, new = set(stored.split("; ")), set(now.split("; "))
        changes.append(f"the input preprocessing changed ({'; '.join(sorted(old - new)) or '-'!r} -> "
                       f"{'; '.join(sorted(new - old)) or '-'!r})")
    if card.get("train_fingerprint") not in (None, splits.train.fingerprint()):
        changes.append("the training samples changed (train split fingerprint "
                       f"{card['train_fingerprint']} -> {splits.train.fingerprint()})")
    return changes


def changed_options(stored: Any, now: dict[str, Any], prefix: str = "data.options") -> list[str]:
    """``data.options.<key>: old -> new`` for every option that differs from the card's (nested
    options by their dotted path); nothing for a card that predates recording them."""
    if not isinstance(stored, dict):
        return []
    lines = []
    for key in sorted(set(stored) | set(now)):
        old, new = stored.get(key), now.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            lines += changed_options(old, new, f"{prefix}.{key}")
        elif old != new:
            lines.append(f"{prefix}.{key}: {old!r} -> {new!r}")
    return lines


class ModuleTeacher(torch.nn.Module):
    """A user's ``nn.Module`` teacher (``x -> (logits, features)``) in the shape g2d's teachers have:
    ``forward({modality: x})`` returns a :class:`~g2d.model.ModelOutput`."""

    def __init__(self, modality: str, module: torch.nn.Module) -> None:
        super().__init__()
        self.modality, self.module = modality, module

    def forward(self, inputs: dict[str, torch.Tensor], masks: dict[str, torch.Tensor] | None = None) -> ModelOutput:
        out = self.module(inputs[self.modality])
        if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
            raise G2DError(f"teacher {self.modality!r} ({type(self.module).__name__}) must return (logits, features) "
                           f"tensors, got {type(out).__name__}")
        logits, features = out
        if logits.ndim != 2 or features.ndim != 2 or logits.shape[0] != features.shape[0]:
            raise G2DError(f"teacher {self.modality!r} ({type(self.module).__name__}): expected logits (B, C) and "
                           f"features (B, D), got {tuple(logits.shape)} and {tuple(features.shape)}")
        return ModelOutput(logits, {self.modality: logits}, {self.modality: features})


def teacher_from_module(modality: str, module: torch.nn.Module) -> Teacher:
    """A :class:`Teacher` from an ``nn.Module`` of one's own; its card's ``weights_sha256`` hashes
    the module's state (what a teacher-output cache is keyed on)."""
    if not isinstance(module, torch.nn.Module):
        raise G2DError(f"teacher {modality!r}: expected a g2d Teacher or an nn.Module, got {type(module).__name__}")
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return Teacher(modality, ModuleTeacher(modality, module), {"modality": modality,
                                                               "weights_sha256": digest.hexdigest()})


class OnlineTeachers:
    """Runs the teachers on each batch (needed when the training transform is random)."""

    def __init__(self, teachers: dict[str, Teacher], device: torch.device, precision: str = "fp32") -> None:
        self.models = {m: t.model.to(device).eval() for m, t in teachers.items()}
        self.device, self.precision = device, precision

    @torch.no_grad()
    def lookup(self, batch: Batch) -> TeacherOutputs:
        logits, features = {}, {}
        with autocast(self.device, self.precision):
            for m, model in self.models.items():
                out = model({m: batch.inputs[m]}, masks=batch.masks)
                logits[m], features[m] = out.logits.float(), out.features[m].float()
        return TeacherOutputs(logits, features)
