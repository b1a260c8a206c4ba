"""A method = an objective + gradient modulators + (optionally) its own training step.

Every method is built the same way: ``factory(options, context) -> Method``. The default
:meth:`Method.training_step` is the step of ARCHITECTURE.md; methods that need a different step
(several backward passes, alternating modalities) override it and use the same trainer hooks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import Tensor

from g2d.modulators.base import Modulator, ModulatorContext, StepState
from g2d.objectives import Objective
from g2d.registry import Registry

if TYPE_CHECKING:
    from g2d.data.base import MultimodalDataset
    from g2d.model import ModelOutput, MultimodalModel
    from g2d.step import StepRunner


@dataclass(frozen=True)
class MethodContext(ModulatorContext):
    """What every method factory receives: modalities, task, epochs, the model, the train (and
    validation) split."""

    train_data: "MultimodalDataset | None" = None
    val_data: "MultimodalDataset | None" = None


class Method:
    """Objective + modulators; the trainer calls :meth:`training_step` once per batch."""

    def __init__(self, objective: Objective, modulators: list[Modulator] | None = None) -> None:
        self.objective = objective
        self.modulators = list(modulators or [])

    @property
    def needs_teachers(self) -> bool:
        return self.objective.needs_teachers or any(m.needs_teachers for m in self.modulators)

    def add_modulators(self, modulators: list[Modulator]) -> None:
        self.modulators.extend(modulators)

    def param_groups(self, model: "MultimodalModel", lr: float) -> list[dict[str, Any]]:
        """Optimiser parameter groups (MSLR overrides this to give encoders their own rates)."""
        return [{"params": [p for p in model.parameters() if p.requires_grad], "lr": lr}]

    def select_active(self, state: StepState) -> frozenset[str] | None:
        """Give every modulator its ``on_before_forward``, then intersect their choices of learning
        modalities; None when no modulator restricts learning."""
        for modulator in self.modulators:
            modulator.on_before_forward(state)
        active: frozenset[str] | None = None
        for modulator in self.modulators:
            choice = modulator.select_active(state)
            if choice is not None:
                active = choice if active is None else active & choice
        return active

    def forward_objective(self, runner: "StepRunner", state: StepState) -> tuple[dict[str, Tensor], Tensor]:
        """Choose the learning modalities, run the model (suppressed encoders without autograd) and
        the objective; returns the named terms and their sum."""
        state.active = self.select_active(state)
        with runner.autocast():
            state.output = runner.model(state.batch.inputs, state.active, state.batch.masks)
            terms = self.objective(state.output, state.batch, state.teacher)
            loss = torch.stack(list(terms.values())).sum()
        return terms, loss

    def training_step(self, runner: "StepRunner", state: StepState) -> dict[str, Tensor]:
        parts = self.split_batch(state)
        if parts is not None:
            return self.step_parts(runner, state, parts)
        terms, loss = self.forward_objective(runner, state)
        runner.backward(loss, state, self.modulators)
        runner.optimizer_step(state, self.modulators)
        return terms

    def split_batch(self, state: StepState) -> list[StepState] | None:
        """The first modulator's sub-batches for this step (Data Remixing), or None for one step."""
        for modulator in self.modulators:
            parts = modulator.split_batch(state)
            if parts is not None:
                return parts
        return None

    def step_parts(self, runner: "StepRunner", state: StepState, parts: list[StepState]) -> dict[str, Tensor]:
        """One forward, backward and optimiser step per sub-batch, in turn. Returns the terms as
        size-weighted means over the batch; ``state.active`` becomes the union of the sub-steps'
        learners and ``state.output`` their outputs put back in the batch's order."""
        terms: dict[str, Tensor] = {}
        learned: set[str] = set()
        for part in parts:
            part_terms, loss = self.forward_objective(runner, part)
            runner.backward(loss, part, self.modulators)
            runner.optimizer_step(part, self.modulators)
            share = len(part.batch) / len(state.batch)
            for name, value in part_terms.items():
                terms[name] = terms[name] + share * value.detach() if name in terms else share * value.detach()
            learned |= part.active if part.active is not None else set(state.modalities)
        state.active = frozenset(learned)
        state.output = gather_outputs(state, parts)
        return terms

    def eval_output(self, output: "ModelOutput") -> "ModelOutput":
        """The method's prediction at evaluation time, from the model's output (model in eval mode).

        Default: the model's own output. A method whose test-time fusion differs from the fusion
        head (MLA's uncertainty weighting, DI-MML's certainty weighting, ReconBoost's ensemble sum)
        overrides this and calls :meth:`bind_eval_output` once on its model.
        """
        return output

    def bind_eval_output(self, model: "MultimodalModel") -> None:
        """Route ``model``'s eval-mode forward through :meth:`eval_output` (a forward hook), so every
        evaluation of this model object — the trainer's, the analyses' — sees the method's
        prediction without a method-specific branch anywhere. Training-mode forwards are untouched.
        A model rebuilt from saved weights has no hook: its fused output is the fusion head's."""
        def hook(module: torch.nn.Module, args: Any, output: "ModelOutput") -> "ModelOutput":
            return output if module.training else self.eval_output(output)

        self._eval_hook = model.register_forward_hook(hook)

    def on_epoch_end(self, epoch: int, val_metrics: dict[str, Any]) -> None:
        for modulator in self.modulators:
            modulator.on_epoch_end(epoch, val_metrics)

    def epoch_summary(self) -> dict[str, Any]:
        """Every modulator's figures of the epoch just ended, merged (logged under ``modulators``)."""
        summary: dict[str, Any] = {}
        for modulator in self.modulators:
            summary.update(modulator.epoch_summary())
        return summary

    def state_dict(self) -> dict[str, Any]:
        return {"modulators": [m.state_dict() for m in self.modulators]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for modulator, s in zip(self.modulators, state.get("modulators", [])):
            modulator.load_state_dict(s)


def gather_outputs(state: StepState, parts: list[StepState]) -> "ModelOutput":
    """The sub-steps' outputs (no gradient) as one output in the order of ``state.batch``: every
    sample of the batch is in exactly one part (its index unique in the batch)."""
    from g2d.model import ModelOutput

    index = torch.cat([p.batch.index for p in parts])
    device = parts[0].output.logits.device
    source = torch.argsort(index).to(device)  # sorted position -> row of the concatenation
    target = torch.argsort(state.batch.index).to(device)  # sorted position -> row of the batch

    def put_back(pieces: list[Tensor]) -> Tensor:
        joined = torch.cat([t.detach() for t in pieces])
        out = torch.empty_like(joined)
        out[target] = joined[source]
        return out

    outputs = [p.output for p in parts]
    modalities = list(outputs[0].modality_logits)
    features = [m for m in outputs[0].features if all(m in o.features for o in outputs)]
    return ModelOutput(put_back([o.logits for o in outputs]),
                       {m: put_back([o.modality_logits[m] for o in outputs]) for m in modalities},
                       {m: put_back([o.features[m] for o in outputs]) for m in features})


METHODS: Registry[Callable[..., Method]] = Registry("method")
