"""SMP in a Lightning ``Trainer``: :class:`SMPCallback` applies an :class:`~g2d.SMP` schedule to the
encoders of a ``LightningModule`` (extra ``lightning``: ``pip install 'g2d[lightning]'``).

Before each training batch the callback asks the schedule which modalities learn and sets
``requires_grad=False`` on the other encoders' parameters, so the module's own forward builds no
graph through them: their ``.grad`` stays ``None`` and the optimiser leaves their weights, momentum
and weight decay bit-for-bit untouched (a gradient left over from an optimiser that zeroes instead
of clearing is cleared before the step). A parameter the module froze itself stays frozen; every
flag is restored when fitting ends. A suppressed encoder still runs in train mode (its BatchNorm
statistics keep tracking the data), as in g2d's trainer.

The module's ``training_step`` returns, besides ``loss``, what SMP measures after the step:
``modality_logits`` (the student's ``z_s^m`` by modality), ``teacher`` (the batch's teacher outputs,
e.g. a :class:`~g2d.TeacherCache` lookup, or teacher logits by modality) and ``target``. The
paper's ranking (``SMP.paper``) re-ranks every batch by the teachers' confidence *before* the
forward: give the callback ``teachers=`` (a TeacherCache, read at ``index(batch)``, or a function
``batch -> teacher outputs``) and ``target=`` (a function ``batch -> targets``).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
from torch import Tensor, nn

try:
    from lightning.pytorch import LightningModule, Trainer
    from lightning.pytorch.callbacks import Callback
except ImportError:  # the standalone package name of Lightning 2.x
    try:
        from pytorch_lightning import LightningModule, Trainer
        from pytorch_lightning.callbacks import Callback
    except ImportError:
        raise ImportError("g2d.integrations.lightning needs Lightning 2.x, which is not installed: "
                          "pip install 'g2d[lightning]'") from None

from g2d.cache import TeacherCache
from g2d.modulators.smp import SMP
from g2d.objectives import TeacherOutputs
from g2d.validation import ConfigError

Teachers = TeacherCache | Callable[[Any], "TeacherOutputs | Mapping[str, Tensor]"]


def _field(batch: Any, name: str) -> Any:
    """``batch.name`` or ``batch[name]``; None when the batch has neither."""
    if isinstance(batch, Mapping):
        return batch.get(name)
    return getattr(batch, name, None)


class SMPCallback(Callback):
    """Apply ``smp`` to a LightningModule's encoders.

    Args:
        smp: the schedule (``g2d.SMP(modalities, epochs)``, or ``SMP.paper(...)``).
        encoders: where the module keeps its encoders: the name of an attribute mapping modality ->
            module (an ``nn.ModuleDict``; default ``"encoders"``), or a mapping modality -> dotted
            submodule path (``{"audio": "audio_net", "video": "backbone.video"}``).
        teachers: the teachers' outputs before the forward, needed only by a schedule that ranks
            every batch by them (``smp.needs_batch_confidence``): a :class:`~g2d.TeacherCache` read at
            ``index(batch)``, or a function ``batch -> TeacherOutputs | {modality: logits}``.
        index: ``batch -> sample indices`` for a TeacherCache (default ``batch.index`` / ``batch["index"]``).
        target: ``batch -> targets`` (default ``batch.target`` / ``batch["target"]``); used when
            ``training_step`` does not return ``target``.
    """

    def __init__(self, smp: SMP, encoders: str | Mapping[str, str] = "encoders", *, teachers: Teachers | None = None,
                 index: Callable[[Any], Tensor] | None = None, target: Callable[[Any], Tensor] | None = None) -> None:
        if not isinstance(smp, SMP):
            raise TypeError(f"SMPCallback: smp must be a g2d.SMP, got {type(smp).__name__}")
        self.smp, self.encoders_at, self.teachers = smp, encoders, teachers
        self.index = index or (lambda batch: _field(batch, "index"))
        self.target = target or (lambda batch: _field(batch, "target"))
        self._encoders: dict[str, nn.Module] = {}
        self._flags: dict[nn.Parameter, bool] = {}  # each encoder parameter's own requires_grad
        self._teacher: TeacherOutputs | Mapping[str, Tensor] | None = None
        self._learned: set[str] = set()  # modalities that learnt since the last optimiser step

    # ---- setup ---------------------------------------------------------------------------------
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        if trainer.world_size > 1:
            raise ConfigError(f"SMPCallback: {trainer.world_size} processes; SMP freezes encoders by "
                              f"requires_grad, which DDP does not allow to change during training: train on one "
                              f"device (or use g2d's trainer, `g2d train`, which suppresses under DDP)")
        self._encoders = self.resolve_encoders(pl_module)
        self._flags = {p: p.requires_grad for module in self._encoders.values() for p in module.parameters()}

    def resolve_encoders(self, pl_module: LightningModule) -> dict[str, nn.Module]:
        """The module's encoder of every modality of the schedule; names what is missing."""
        where = self.encoders_at
        if isinstance(where, str):
            found = getattr(pl_module, where, None)
            if not isinstance(found, Mapping) and not isinstance(found, nn.ModuleDict):
                raise ConfigError(f"SMPCallback: {type(pl_module).__name__}.{where} is not a mapping modality -> "
                                  f"encoder (got {type(found).__name__}); pass encoders={{modality: "
                                  f"'submodule.path'}}")
            modules = {m: found[m] for m in found}
        else:
            modules = {}
            for m, path in where.items():
                try:
                    modules[m] = pl_module.get_submodule(path)
                except AttributeError:
                    raise ConfigError(f"SMPCallback: encoders[{m!r}] = {path!r} is not a submodule of "
                                      f"{type(pl_module).__name__}") from None
        missing = [m for m in self.smp.modalities if m not in modules]
        if missing:
            raise ConfigError(f"SMPCallback: no encoder for modalities {missing}; the schedule has "
                              f"{list(self.smp.modalities)}, the module {sorted(modules)}")
        return {m: modules[m] for m in self.smp.modalities}

    # ---- per batch -----------------------------------------------------------------------------
    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        epoch = trainer.current_epoch
        teacher, target = None, None
        if self.smp.needs_batch_confidence(epoch):
            teacher, target = self.batch_teacher(batch), self.batch_target(batch, None)
        self._teacher = teacher
        learning = self.smp.select(epoch, teacher=teacher, target=target)
        self._learned |= learning
        for m, encoder in self._encoders.items():
            for p in encoder.parameters():
                p.requires_grad_(self._flags[p] and m in learning)

    def batch_teacher(self, batch: Any) -> TeacherOutputs | Mapping[str, Tensor]:
        if self.teachers is None:
            raise ConfigError(f"SMPCallback: SMP(ranking={self.smp.ranking!r}, schedule={self.smp.schedule!r}) "
                              f"ranks each batch by the teachers' confidence before the forward: pass "
                              f"teachers= (a TeacherCache or a function batch -> teacher outputs)")
        if isinstance(self.teachers, TeacherCache):
            index = self.index(batch)
            if index is None:
                raise ConfigError("SMPCallback: reading a TeacherCache needs the batch's sample indices: give "
                                  "batches an 'index' field or pass index= (a function batch -> indices)")
            return self.teachers.lookup_indices(torch.as_tensor(index).cpu())
        return self.teachers(batch)

    def batch_target(self, batch: Any, outputs: Mapping[str, Any] | None) -> Tensor:
        target = outputs.get("target") if outputs is not None else None
        target = self.target(batch) if target is None else target
        if target is None:
            raise ConfigError("SMPCallback: no targets: return 'target' from training_step, give batches a "
                              "'target' field or pass target= (a function batch -> targets)")
        return target

    def on_before_optimizer_step(self, trainer: Trainer, pl_module: LightningModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        for m, encoder in self._encoders.items():
            if m not in self._learned:  # an optimiser that zeroes (not clears) grads must not move it
                for p in encoder.parameters():
                    p.grad = None
        self._learned = set()

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not isinstance(outputs, Mapping) or outputs.get("modality_logits") is None:
            raise ConfigError(f"SMPCallback: training_step must return a dict with 'loss' and "
                              f"'modality_logits' (the student's logits by modality; also 'teacher' and "
                              f"'target' unless the callback reads them), got "
                              f"{sorted(outputs) if isinstance(outputs, Mapping) else type(outputs).__name__}")
        teacher = outputs.get("teacher")
        teacher = self._teacher if teacher is None else teacher
        if teacher is None:
            teacher = self.batch_teacher(batch) if self.teachers is not None else None
        if teacher is None:
            raise ConfigError("SMPCallback: SMP measures the student against its teachers: return 'teacher' "
                              "(the batch's teacher outputs or logits by modality) from training_step, or pass "
                              "teachers= to the callback")
        logits = {m: z.detach() for m, z in outputs["modality_logits"].items()}
        self.smp.observe(logits, teacher, self.batch_target(batch, outputs))

    # ---- per epoch, end, checkpoints -------------------------------------------------------------
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        row = self.smp.end_epoch(trainer.current_epoch)
        pl_module.log_dict({f"smp/prioritised_{m}": float(m in row["prioritised"]) for m in self.smp.modalities})

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        for p, flag in self._flags.items():
            p.requires_grad_(flag)

    def state_dict(self) -> dict[str, Any]:
        return self.smp.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.smp.load_state_dict(state_dict)
