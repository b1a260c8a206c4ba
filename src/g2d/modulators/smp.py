"""Sequential Modality Prioritization (spec Eq. 6–8), with *complete* suppression.

Phase k < M lasts ``phases[k]`` epochs: in each step only the modality ranked k-th least
confident by the teachers on *this batch* learns; the last phase (the remaining epochs) is joint.
Suppression is exact: the other encoders run without autograd, so their gradients are never
computed and ``optimizer.step()`` leaves them bit-for-bit unchanged (momentum and weight decay
included). Fusion/head parameters always learn. A suppressed encoder still runs in train mode, so
its BatchNorm running statistics keep tracking the data, as in the reference implementation.
"""
from __future__ import annotations

from pydantic import Field

from g2d.modulators.base import MODULATORS, Modulator, ModulatorContext, StepState
from g2d.registry import ExperimentContext, Options
from g2d.scoring import rank_ascending


class SMPOptions(Options):
    phases: list[int] | None = Field(
        None, description="τ_1..τ_{M-1} in epochs (the last, joint phase is the remaining epochs); "
                          "default: half the epochs, split evenly over the M-1 phases (paper, CREMA-D: "
                          "τ_1=150 of 300)")

    def check_against(self, context: ExperimentContext) -> None:
        m = len(context.modalities)
        if self.phases is None:
            return
        if len(self.phases) != m - 1:
            raise ValueError(f"phases: expected {m - 1} values (τ_1..τ_{{M-1}}) for M={m} modalities "
                             f"{list(context.modalities)}, got {len(self.phases)}: {self.phases}")
        if any(p < 0 for p in self.phases):
            raise ValueError(f"phases: every τ must be >= 0 epochs, got {self.phases}")
        if sum(self.phases) > context.epochs:
            raise ValueError(f"phases: τ_1+…+τ_{{M-1}} = {sum(self.phases)} exceeds student.epochs = "
                             f"{context.epochs}")

    def resolved(self, num_modalities: int, epochs: int) -> list[int]:
        if self.phases is not None:
            return list(self.phases)
        each = max(1, epochs // (2 * (num_modalities - 1))) if epochs >= 2 * (num_modalities - 1) else 0
        return [each] * (num_modalities - 1)


class SequentialModalityPrioritization(Modulator):
    needs_teachers = True  # ranks modalities by the teachers' confidence ρ

    def __init__(self, phases: list[int], modalities: tuple[str, ...]) -> None:
        self.phases, self.modalities = list(phases), modalities
        self.boundaries = [sum(phases[:k + 1]) for k in range(len(phases))]

    def phase(self, epoch: int) -> int:
        """0-based phase index of ``epoch``; ``len(phases)`` is the joint phase."""
        return next((k for k, end in enumerate(self.boundaries) if epoch < end), len(self.phases))

    def select_active(self, state: StepState) -> frozenset[str] | None:
        k = self.phase(state.epoch)
        if k == len(self.phases):
            return None
        if state.confidence is None:
            raise RuntimeError("SMP needs teacher confidences; the method provided none")
        chosen = rank_ascending(state.confidence, self.modalities)[k]
        state.log["smp_phase"] = k
        return frozenset({chosen})


@MODULATORS.register("smp", options=SMPOptions)
def smp(options: SMPOptions, context: ModulatorContext) -> SequentialModalityPrioritization:
    """Sequential Modality Prioritization: only the k-th least confident modality learns in phase k."""
    return SequentialModalityPrioritization(options.resolved(len(context.modalities), context.epochs),
                                            context.modalities)
