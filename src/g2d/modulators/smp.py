"""Sequential Modality Prioritization (spec Eq. 6–8), with *complete* suppression.

In a prioritisation epoch only one modality's encoder learns; the others run without autograd,
so their gradients are never computed and ``optimizer.step()`` leaves them bit-for-bit unchanged
(momentum and weight decay included). Fusion/head parameters always learn. A suppressed encoder
still runs in train mode, so its BatchNorm running statistics keep tracking the data, as in the
reference implementation.

Two choices make a schedule (both options of ``smp`` and of ``g2d``). The project's default is
``ranking: neglect`` with ``schedule: adaptive``; the paper's exact SMP is ``ranking: teacher``
with ``schedule: fixed`` (``configs/paper/``); the README's evidence table compares both.

``ranking`` — which modality goes first:
  * ``teacher`` (the paper, Eq. 5): ascending teacher confidence ρ^m; by default re-ranked on
    every batch, exactly as the paper.
  * ``neglect``: ascending *confidence ratio* ρ_s^m / ρ^m — the student's own mean true-label
    probability from z_s^m over its teacher's (the paper's Fig. 6 quantity): the modality the
    student has learnt least of its teacher goes first. Measured from outputs the step already
    computes (no extra forward), summed on the device and read once per epoch; by default held
    for an epoch, because a per-batch ranking flips as soon as the prioritised modality catches
    up on a few batches. Before anything is measured (the first epoch) it falls back to the
    teacher ranking of the batch.
  * ``fixed``: the user's ``order``; ``auto``: an order recommended by ``g2d diagnose``
    (resolved to ``fixed`` before the student is built, see :mod:`g2d.analysis.diagnose`).

``schedule`` — for how long:
  * ``fixed`` (the paper): phase k lasts ``phases[k]`` epochs and prioritises the k-th ranked
    modality; the remaining epochs are joint.
  * ``adaptive``: after one joint epoch (the first measurement), each epoch prioritises the first
    ranked modality whose confidence ratio is still below ``1 − margin``; a modality is
    prioritised for at most ``max_phase`` epochs and the schedule ends — joint for good — as soon
    as no modality lags or the paper's total budget Σ τ is spent. No encoder is held back longer
    than the student needs.

Regression uses the same ratio with ρ = 1 − |σ(z) − y| (see :mod:`g2d.scoring`).

One implementation: :class:`SMP` holds the ranking, the schedule and the measurement, and a plain
training loop drives it directly (``g2d.SMP``, the Lightning callback); the trainer's ``smp``
modulator, :class:`SequentialModalityPrioritization`, is a thin adapter over one. Both default to
``method: g2d``'s options (:class:`SMPOptions`); :meth:`SMP.paper` is the paper's SMP.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from typing import Any, ContextManager, Literal

import torch
from pydantic import Field, ValidationError, model_validator
from torch import Tensor, nn

from g2d import distributed
from g2d.model import ModelOutput
from g2d.modulators.base import MODULATORS, Modulator, ModulatorContext, StepState
from g2d.objectives import TeacherOutputs
from g2d.registry import ExperimentContext, Options, format_validation_error
from g2d.scoring import confidence_means, rank_ascending, student_modality_confidence, teacher_confidence
from g2d.validation import ConfigError


Ranking = Literal["teacher", "neglect", "fixed", "auto"]


class SMPOptions(Options):
    phases: list[int] | None = Field(
        None, description="τ_1..τ_{M-1} in epochs (schedule 'fixed'; the last, joint phase is the remaining "
                          "epochs); default: half the epochs, split evenly over the M-1 phases (paper, CREMA-D: "
                          "τ_1=150 of 300). With schedule 'adaptive', Σ τ caps the prioritised epochs")
    ranking: Ranking = Field("neglect", description="neglect (lowest student/teacher confidence ratio first; "
                             "the project's default) | teacher (paper Eq. 5) | fixed (use 'order') | auto (order "
                             "from g2d diagnose)")
    order: list[str] | None = Field(None, description="modalities in priority order (ranking 'fixed')")
    rank_every: Literal["batch", "epoch"] | None = Field(
        None, description="re-rank on every batch or once per epoch; default: batch for 'teacher' (paper), "
                          "epoch for 'neglect'")
    schedule: Literal["fixed", "adaptive"] = Field(
        "adaptive", description="adaptive (the project's default): prioritise a lagging modality until its "
                                "confidence ratio is within 'margin' of its teacher, at most 'max_phase' epochs | "
                                "fixed: phases of τ epochs (paper)")
    margin: float = Field(0.1, ge=0, lt=1, description="adaptive: a modality has caught up when its "
                          "confidence ratio ρ_s/ρ_t >= 1 - margin")
    max_phase: int | None = Field(None, gt=0, description="adaptive: most epochs one modality is prioritised; "
                                  "default a tenth of the epochs (at least 1)")

    @model_validator(mode="after")
    def _consistent(self) -> "SMPOptions":
        if self.ranking == "fixed" and not self.order:
            raise ValueError("ranking 'fixed' needs 'order': the modalities in priority order")
        if self.schedule == "adaptive" and self.rank_every == "batch":
            raise ValueError("schedule 'adaptive' decides once per epoch: rank_every must be 'epoch' (or unset)")
        if self.ranking == "fixed" and self.rank_every == "batch":
            raise ValueError("ranking 'fixed' does not change between batches: leave rank_every unset")
        return self

    def check_against(self, context: ExperimentContext) -> None:
        m = len(context.modalities)
        if self.order is not None and sorted(self.order) != sorted(context.modalities):
            raise ValueError(f"order: expected each of the modalities {list(context.modalities)} once, "
                             f"got {self.order}")
        if self.phases is None:
            if context.epochs < 2 * (m - 1):
                warnings.warn(f"smp: phases default to 0 epochs with student.epochs = {context.epochs} and "
                              f"{m} modalities (the default τ is epochs // (2(M-1)), which needs epochs >= "
                              f"{2 * (m - 1)}): this trains the G2D loss without any prioritisation; set "
                              f"student.epochs >= {2 * (m - 1)} or method.options.phases", UserWarning,
                              stacklevel=2)
            return
        if len(self.phases) != m - 1:
            raise ValueError(f"phases: expected {m - 1} values (τ_1..τ_{{M-1}}) for M={m} modalities "
                             f"{list(context.modalities)}, got {len(self.phases)}: {self.phases}")
        if any(p <= 0 for p in self.phases):
            raise ValueError(f"phases: every τ must be >= 1 epoch, got {self.phases} (for no prioritisation "
                             f"use method 'g2d-loss')")
        if sum(self.phases) > context.epochs:
            raise ValueError(f"phases: τ_1+…+τ_{{M-1}} = {sum(self.phases)} exceeds student.epochs = "
                             f"{context.epochs}")

    def resolved(self, num_modalities: int, epochs: int) -> list[int]:
        if self.phases is not None:
            return list(self.phases)
        each = max(1, epochs // (2 * (num_modalities - 1))) if epochs >= 2 * (num_modalities - 1) else 0
        return [each] * (num_modalities - 1)


_DEFAULTS = SMPOptions()  # SMP's keyword defaults are read from the options schema, never re-typed


class SMP:
    """The SMP schedule as a plain object a training loop drives (one implementation: the trainer's
    ``smp`` modulator is a thin adapter over it). Defaults equal ``method: g2d``'s; the paper's SMP
    is :meth:`paper` (``ranking="teacher", schedule="fixed"``).

    Per step: :meth:`select` says which modalities learn, :meth:`encode` (or :meth:`autograd`)
    runs the others without autograd — so their ``.grad`` stays ``None`` and the optimiser leaves
    their parameters, momentum and weight decay bit-for-bit untouched — and after the backward
    :meth:`observe` records the confidence ratio; :meth:`end_epoch` closes the epoch.

    Args:
        modalities: the modalities, in the model's order (ties in a ranking go to the earlier one).
        epochs: the run's epochs (the default ``phases`` and ``max_phase`` are derived from them).
        task: ``classification`` or ``regression``.
        phases, ranking, order, rank_every, schedule, margin, max_phase: as ``method: g2d``'s options
            of the same names (:class:`SMPOptions`, module docstring).
    """

    def __init__(self, modalities: Sequence[str], epochs: int, *, task: str = "classification",
                 phases: list[int] | None = _DEFAULTS.phases, ranking: Ranking = _DEFAULTS.ranking,
                 order: list[str] | None = _DEFAULTS.order, rank_every: Literal["batch", "epoch"] | None =
                 _DEFAULTS.rank_every, schedule: Literal["fixed", "adaptive"] = _DEFAULTS.schedule,
                 margin: float = _DEFAULTS.margin, max_phase: int | None = _DEFAULTS.max_phase) -> None:
        modalities = tuple(modalities)
        options = checked_options(dict(phases=phases, ranking=ranking, order=order, rank_every=rank_every,
                                       schedule=schedule, margin=margin, max_phase=max_phase),
                                  modalities, task, epochs)
        self._setup(options, modalities, epochs, task)

    def _setup(self, options: SMPOptions, modalities: tuple[str, ...], epochs: int, task: str) -> None:
        if options.ranking == "auto":
            raise ConfigError("smp ranking 'auto' must be resolved from a diagnosis before the method is built "
                              "(g2d train / api.train_student do it; or run `g2d diagnose` and set ranking "
                              "'fixed' with its recommended order)")
        self.modalities, self.task, self.epochs = modalities, task, epochs
        self.phases = options.resolved(len(modalities), epochs)
        self.boundaries = [sum(self.phases[:k + 1]) for k in range(len(self.phases))]
        self.ranking, self.order = options.ranking, list(options.order or modalities)
        self.schedule, self.margin = options.schedule, options.margin
        self.rank_every = options.rank_every or ("batch" if self.ranking == "teacher" and self.schedule == "fixed"
                                                 else "epoch")
        self.max_phase = options.max_phase or max(1, epochs // 10)
        self.budget = sum(self.phases)  # adaptive: at most the paper's total prioritisation epochs
        self._sums: Tensor | None = None  # (2, M): Σ student ρ_s^m, Σ teacher ρ^m over this epoch's samples
        self._last_batch: Tensor | None = None
        self.measured: dict[str, dict[str, float]] | None = None  # last epoch's ratio and teacher ρ
        self.used = {m: 0 for m in modalities}  # prioritised epochs per modality
        self.finished = False
        self.current: tuple[int, str | None] | None = None  # (epoch, prioritised modality) once decided
        self.history: list[dict[str, Any]] = []  # per epoch: who was prioritised, the measured ratios
        self._chosen_this_epoch: set[str] = set()
        self.learning: frozenset[str] = frozenset(modalities)  # the last :meth:`select`'s answer

    @classmethod
    def paper(cls, modalities: Sequence[str], epochs: int, *, task: str = "classification",
              phases: list[int] | None = None) -> "SMP":
        """The paper's SMP (Eq. 6–8): each batch's least confident teacher first, fixed phases of
        ``phases`` epochs (default half the epochs), then joint."""
        return cls(modalities, epochs, task=task, phases=phases, ranking="teacher", schedule="fixed")

    @classmethod
    def from_options(cls, options: SMPOptions, modalities: Sequence[str], epochs: int,
                     task: str = "classification") -> "SMP":
        """SMP as a config's options describe it (``method: g2d``, ``smp``); the options were
        checked against the experiment when the config was loaded."""
        smp = cls.__new__(cls)
        smp._setup(options, tuple(modalities), epochs, task)
        return smp

    # ---- the plain loop's calls ----------------------------------------------------------------
    def select(self, epoch: int, *, teacher: TeacherOutputs | Mapping[str, Tensor] | None = None,
               target: Tensor | None = None, confidence: Mapping[str, float | Tensor] | None = None
               ) -> frozenset[str]:
        """The modalities whose encoders learn in this step of ``epoch`` (every modality outside a
        prioritisation phase); also kept as :attr:`learning`. The paper's ranking re-ranks every
        batch by the teachers' confidence ρ^m: pass the batch's ``teacher`` outputs (a cache lookup,
        or logits by modality) and ``target``, or ``confidence`` (ρ^m by modality) directly."""
        if confidence is None and self.needs_batch_confidence(epoch):
            if teacher is None or target is None:
                raise ValueError(f"SMP.select: ranking {self.ranking!r} with schedule {self.schedule!r} ranks "
                                 f"epoch {epoch}'s batches by the teachers' confidence: pass teacher= (this "
                                 f"batch's teacher outputs or logits by modality) and target=")
            confidence = confidence_means(teacher_confidence(as_teacher_outputs(teacher, self.modalities),
                                                             self.modalities, target, self.task), self.modalities)
        chosen = self.choose(epoch, confidence)
        self.learning = frozenset(self.modalities) if chosen is None else frozenset({chosen})
        return self.learning

    def autograd(self, modality: str) -> ContextManager:
        """Where ``modality``'s encoder runs: with autograd when it learns in this step, else under
        ``torch.no_grad()`` (no backward through it; its ``.grad`` stays ``None``)."""
        if modality not in self.modalities:
            raise ValueError(f"SMP: unknown modality {modality!r}; expected one of {list(self.modalities)}")
        return nullcontext() if modality in self.learning else torch.no_grad()

    def encode(self, encoders: Mapping[str, nn.Module], inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Features by modality, ``encoders[m](inputs[m])``, the encoders that do not learn in this
        step run without autograd (:meth:`autograd`). A suppressed encoder still runs in train mode
        (its BatchNorm statistics keep tracking the data), as in the trainer."""
        for name, given in (("encoders", encoders), ("inputs", inputs)):
            if set(given) != set(self.modalities):
                raise ValueError(f"SMP.encode: {name} has modalities {sorted(given)}, expected {list(self.modalities)}")
        features = {}
        for m in self.modalities:
            with self.autograd(m):
                features[m] = encoders[m](inputs[m])
        return features

    def observe(self, modality_logits: ModelOutput | Mapping[str, Tensor],
                teacher: TeacherOutputs | Mapping[str, Tensor], target: Tensor) -> None:
        """Record this batch's confidence ratio (after the backward): the student's per-modality
        logits ``z_s^m``, the teachers' outputs (or logits by modality) and the targets."""
        output = modality_logits if isinstance(modality_logits, ModelOutput) else \
            ModelOutput(torch.empty(0), dict(modality_logits), {})
        missing = [m for m in self.modalities if m not in output.modality_logits]
        if missing:
            raise ValueError(f"SMP.observe: modality_logits lacks {missing}; expected {list(self.modalities)}")
        teachers = as_teacher_outputs(teacher, self.modalities)
        with torch.no_grad():
            student = student_modality_confidence(output, self.modalities, target, self.task)
            self.record(student, teacher_confidence(teachers, self.modalities, target, self.task))

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        """Close ``epoch``: its measurement decides the next epochs; returns its history row
        (``prioritised`` modalities and the measured ``ratio`` ρ_s^m / ρ^m)."""
        if self._sums is not None:
            local = self._sums.double().tolist()  # the epoch's one device->host read; then every rank
            # sums the same figures, so all ranks decide the same schedule
            flat = {f"{row}.{m}": local[row][j] for row in (0, 1) for j, m in enumerate(self.modalities)}
            totals, _ = distributed.all_reduce_sums(flat, 0, distributed.reduction_device(self._sums.device))
            self.measured = {m: {"ratio": totals[f"0.{m}"] / max(totals[f"1.{m}"], 1e-12),
                                 "teacher": totals[f"1.{m}"]} for m in self.modalities}
            self._sums = None
        self.history.append({"epoch": epoch, "prioritised": sorted(self._chosen_this_epoch),
                             "ratio": {m: round(v["ratio"], 4) for m, v in (self.measured or {}).items()}})
        self._chosen_this_epoch = set()
        return self.history[-1]

    # ---- which modality learns ---------------------------------------------------------------
    def phase(self, epoch: int) -> int:
        """0-based phase index of ``epoch`` under the fixed schedule; ``len(phases)`` is joint."""
        return next((k for k, end in enumerate(self.boundaries) if epoch < end), len(self.phases))

    def needs_batch_confidence(self, epoch: int) -> bool:
        """Whether :meth:`choose` reads the batch's teacher confidences in ``epoch`` (the paper's
        per-batch ranking, or the neglect ranking before its first measurement)."""
        if self.schedule != "fixed" or self.ranking == "fixed" or self.phase(epoch) == len(self.phases):
            return False
        if self.ranking == "neglect":
            measured = self._last_batch if self.rank_every == "batch" else self.measured
            return measured is None
        return self.rank_every == "batch" or self.measured is None

    def choose(self, epoch: int, confidence: Mapping[str, float | Tensor] | None) -> str | None:
        """The prioritised modality of this step (None: every modality learns); ``confidence`` is
        the batch's teacher ρ^m by modality, read when :meth:`needs_batch_confidence`."""
        if confidence is None and self.needs_batch_confidence(epoch):
            raise RuntimeError("SMP needs teacher confidences; the method provided none")
        chosen = self.fixed_choice(epoch, confidence) if self.schedule == "fixed" else self.adaptive_choice(epoch)
        if chosen is not None:
            self._chosen_this_epoch.add(chosen)
        return chosen

    def fixed_choice(self, epoch: int, confidence: Mapping[str, float | Tensor] | None) -> str | None:
        k = self.phase(epoch)
        return None if k == len(self.phases) else self.ranked(confidence)[k]

    def adaptive_choice(self, epoch: int) -> str | None:
        if self.current is None or self.current[0] != epoch:
            self.current = (epoch, self.decide_epoch())
        return self.current[1]

    def decide_epoch(self) -> str | None:
        """The adaptive schedule's pick for a new epoch, from the last epoch's measurement."""
        if self.finished or self.measured is None:
            return None
        spent = sum(self.used.values())
        lagging = [m for m in self.epoch_order() if self.measured[m]["ratio"] < 1 - self.margin
                   and self.used[m] < self.max_phase]
        if not lagging or spent >= self.budget:
            self.finished = True  # joint from here on: never freeze an encoder that has caught up
            return None
        self.used[lagging[0]] += 1
        return lagging[0]

    def ranked(self, confidence: Mapping[str, float | Tensor] | None) -> list[str]:
        """Modalities in priority order for this step (fixed schedule)."""
        if self.ranking == "fixed":
            return self.order
        if self.ranking == "neglect" and self.rank_every == "batch" and self._last_batch is not None:
            ratio = self._last_batch[0] / self._last_batch[1].clamp_min(1e-12)
            return rank_ascending(dict(zip(self.modalities, ratio.tolist())), self.modalities)
        if self.rank_every == "epoch" and self.measured is not None:
            return self.epoch_order()
        assert confidence is not None  # needs_batch_confidence() said so
        return rank_ascending(confidence, self.modalities)  # paper: this batch's teacher ρ

    def epoch_order(self) -> list[str]:
        """Priority order from the last epoch's measurement (declared order before any)."""
        if self.ranking == "fixed" or self.measured is None:
            return self.order
        key = "ratio" if self.ranking == "neglect" else "teacher"
        return rank_ascending({m: v[key] for m, v in self.measured.items()}, self.modalities)

    # ---- measuring the confidence ratio ------------------------------------------------------
    def record(self, student: Tensor, teacher: Tensor) -> None:
        """Add a batch's per-sample true-label confidences (M, B) of the student's modality outputs
        and of the teachers (``modalities`` order) to the epoch's sums, on the device."""
        sums = torch.stack([student.sum(-1), teacher.float().sum(-1)])  # (2, M): Σ ρ_s^m, Σ ρ^m
        self._last_batch = sums
        self._sums = sums if self._sums is None else self._sums + sums

    def state_dict(self) -> dict[str, Any]:
        return {"measured": self.measured, "used": dict(self.used), "finished": self.finished,
                "current": list(self.current) if self.current else None, "history": list(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.measured, self.finished = state.get("measured"), state.get("finished", False)
        self.used = dict(state.get("used") or {m: 0 for m in self.modalities})
        self.current = tuple(state["current"]) if state.get("current") else None
        self.history = list(state.get("history") or [])


def checked_options(values: dict[str, Any], modalities: tuple[str, ...], task: str, epochs: int) -> SMPOptions:
    """The options validated as a config's would be; ConfigError naming the option otherwise."""
    if len(modalities) < 2:
        raise ConfigError(f"SMP: expected at least 2 modalities, got {list(modalities)}")
    try:
        options = SMPOptions(**values)
        options.check_against(ExperimentContext(modalities, task, epochs))
    except ValidationError as err:
        raise ConfigError(f"SMP: {format_validation_error(err)}") from None
    except ValueError as err:
        raise ConfigError(f"SMP: {err}") from None
    return options


def as_teacher_outputs(teacher: TeacherOutputs | Mapping[str, Tensor], modalities: Sequence[str]) -> TeacherOutputs:
    """A step's teacher outputs from a cache lookup as they are, or from logits by modality."""
    if isinstance(teacher, TeacherOutputs):
        outputs = teacher
    elif isinstance(teacher, Mapping):
        outputs = TeacherOutputs({m: z for m, z in teacher.items()}, {})
    else:
        raise TypeError(f"teacher: expected TeacherOutputs (a TeacherCache lookup) or a dict modality -> "
                        f"logits, got {type(teacher).__name__}")
    missing = [m for m in modalities if m not in outputs.logits]
    if missing:
        raise ValueError(f"teacher outputs lack modalities {missing}; expected {list(modalities)}")
    return outputs


class SequentialModalityPrioritization(Modulator):
    """The trainer's hooks over one :class:`SMP`: one modality learns per step of a prioritisation
    epoch; which one and for how long is the SMP object's decision (module docstring)."""

    needs_teachers = True  # every ranking and schedule reads the teachers' confidences

    def __init__(self, smp: SMP) -> None:
        self.smp = smp

    def select_active(self, state: StepState) -> frozenset[str] | None:
        chosen = self.smp.choose(state.epoch, state.confidence)
        return None if chosen is None else frozenset({chosen})

    def on_after_backward(self, state: StepState) -> None:
        if state.output is None or state.teacher is None:
            return
        target = state.batch.target
        with torch.no_grad():  # one kernel chain for all modalities; the teachers' side the step already has
            student = student_modality_confidence(state.output, self.smp.modalities, target, self.smp.task)
            teacher = state.teacher_rho if state.teacher_rho is not None else \
                teacher_confidence(state.teacher, self.smp.modalities, target, self.smp.task)
            self.smp.record(student, teacher)

    def on_epoch_end(self, epoch: int, val_metrics: dict[str, Any]) -> None:
        self.smp.end_epoch(epoch)

    def epoch_summary(self) -> dict[str, Any]:
        return {"smp": self.smp.history[-1]} if self.smp.history else {}

    def state_dict(self) -> dict[str, Any]:
        return self.smp.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.smp.load_state_dict(state)


def build_smp(options: SMPOptions, modalities: tuple[str, ...], task: str,
              epochs: int) -> SequentialModalityPrioritization:
    """SMP as the options describe it (shared by the ``smp`` modulator and the G2D methods)."""
    return SequentialModalityPrioritization(SMP.from_options(options, modalities, epochs, task))


@MODULATORS.register("smp", options=SMPOptions)
def smp(options: SMPOptions, context: ModulatorContext) -> SequentialModalityPrioritization:
    """Sequential Modality Prioritization: one modality learns at a time, by ranking and schedule."""
    return build_smp(options, context.modalities, context.task, context.epochs)
