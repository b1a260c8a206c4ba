"""Sample- and modality-level modality valuation (Wei, Feng, Wang & Hu, "Enhancing Multimodal
Cooperation via Sample-level Modality Valuation", CVPR 2024): value each modality's contribution
to each training sample's prediction with the Shapley value, then train the low-contributing
modalities of a sample (or of the data set) more, on copies of the sample that keep that modality
alone.

Valuation (after every epoch from ``warmup − 1`` on, the model in eval mode, no gradients): the
value of a modality subset S for sample i is ``v(S) = |S| · 1[argmax z^S_i = y_i]`` (``v(∅) = 0``),
where ``z^S`` is the fused head with the features of the modalities outside S set to zero (how
every g2d fusion predicts without a modality), and modality m's contribution is its Shapley value
``φ_i^m = Σ_{S ⊆ M∖m} |S|! (M − |S| − 1)! / M! · (v(S ∪ m) − v(S))`` (the paper's Eq. 2–4; for
M = 2, ``φ^a = (v(a) + v(av) − v(v)) / 2``). The next epoch trains with extra copies:

- ``level: sample`` (the paper's sample-level method): sample i gets
  ``k_i^m = clamp(⌈2 (1 − φ_i^m) − 0.2⌉, 0, max_copies)`` copies that keep only modality m; for M = 2
  this is exactly the public code's intervals (φ ∈ {1.5, 1, 0.5, 0, −0.5} → 0, 0, 1, 2, 3 copies).
- ``level: modality`` (the paper's modality-level method; registered also as ``valuation-modality``,
  whose default level it is): the contributions are averaged over a
  random ``part_ratio`` share of the train split (the paper's subset Z), ``gap_m = 1 − mean φ^m``,
  and every sample gets ``r_m = α · 2/3 · (gap_m − min_j gap_j)`` expected copies that keep only m
  (``⌊r_m⌋`` plus one with probability ``r_m − ⌊r_m⌋``); for M = 2 that is the paper's
  ``α · 2/3 · |gap_a − gap_v| · N`` resampled copies, all of the less contributing modality.

The loss is the fused head's task loss, the mean over the batch and its copies; a copy's other
modalities are zero, so only the kept modality's encoder (and the head) learns from it.

Decided where the paper is silent or differs from its code: the copies join their own sample's
step (the paper rebuilds the data set and shuffles them into the epoch's batches), so the number
of steps per epoch and the trainer's loader are unchanged; defaults are the public code's
(``warmup: 5``, ``max_copies: 3``, ``part_ratio: 0.2``, ``alpha: 1``); the subset draws use torch's
generator, which the trainer seeds per epoch. M > 2 works (the Shapley sum has 2^M − 1 head
evaluations per sample, so more than 6 modalities are refused at config load); classification
only (the value is a correct prediction).
"""
from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import Field
from torch import Tensor

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.model import ModelOutput
from g2d.modulators.base import StepState
from g2d.objectives import task_loss, task_objective
from g2d.registry import ExperimentContext, Options

if TYPE_CHECKING:
    from g2d.data.base import MultimodalDataset
    from g2d.fusion.base import Fusion
    from g2d.model import MultimodalModel
    from g2d.step import StepRunner

MAX_MODALITIES = 6


class ValuationOptions(Options):
    level: Literal["sample", "modality"] = Field("sample", description="sample-level or modality-level re-sampling")
    warmup: int = Field(5, ge=1, description="epochs of joint training before the first valuation")
    max_copies: int = Field(3, ge=0, description="sample level: most extra copies per sample and modality")
    part_ratio: float = Field(0.2, gt=0, le=1, description="modality level: share of the train split valued")
    alpha: float = Field(1.0, ge=0, description="modality level: α in r_m = α · 2/3 · (gap_m − min gap)")

    def check_against(self, context: ExperimentContext) -> None:
        if context.task != "classification":
            raise ValueError(f"valuation values a modality by correct predictions (classification); "
                             f"the task is {context.task!r}")
        if not 2 <= len(context.modalities) <= MAX_MODALITIES:
            raise ValueError(f"valuation needs 2 to {MAX_MODALITIES} modalities (its Shapley sum has 2^M − 1 "
                             f"head evaluations per sample); the data set has {list(context.modalities)}")


def keep_only(features: dict[str, Tensor], kept: frozenset[str]) -> dict[str, Tensor]:
    """The features with every modality outside ``kept`` set to zero."""
    return {m: f if m in kept else torch.zeros_like(f) for m, f in features.items()}


def subset_values(fusion: "Fusion", features: dict[str, Tensor], target: Tensor) -> dict[frozenset[str], Tensor]:
    """``v(S) = |S| · 1[argmax z^S = y]`` per sample (B,) for every non-empty subset S."""
    names = list(features)
    values = {}
    for size in range(1, len(names) + 1):
        for subset in map(frozenset, itertools.combinations(names, size)):
            logits = fusion(keep_only(features, subset)).logits
            values[subset] = size * (logits.argmax(-1) == target).double()
    return values


def shapley_contributions(values: dict[frozenset[str], Tensor], modalities: tuple[str, ...]) -> dict[str, Tensor]:
    """Each modality's Shapley value per sample from the subset values (``v(∅) = 0``)."""
    n = len(modalities)
    zero = torch.zeros_like(next(iter(values.values())))
    out = {}
    for m in modalities:
        others = [k for k in modalities if k != m]
        total = torch.zeros_like(zero)
        for size in range(len(others) + 1):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in map(frozenset, itertools.combinations(others, size)):
                total = total + weight * (values[subset | {m}] - values.get(subset, zero))
        out[m] = total
    return out


def sample_copies(contribution: Tensor, max_copies: int) -> Tensor:
    """``clamp(⌈2 (1 − φ) − 0.2⌉, 0, max_copies)`` extra copies (integer tensor like ``contribution``)."""
    return torch.ceil(2 * (1 - contribution) - 0.2 - 1e-9).clamp(0, max_copies).long()


def modality_rates(mean_contribution: dict[str, float], alpha: float) -> dict[str, float]:
    """``r_m = α · 2/3 · (gap_m − min_j gap_j)``, ``gap_m = 1 − mean φ^m``: expected copies per sample."""
    gaps = {m: 1.0 - c for m, c in mean_contribution.items()}
    low = min(gaps.values())
    return {m: alpha * 2.0 / 3.0 * (g - low) for m, g in gaps.items()}


def draw_copies(rate: float, size: int) -> Tensor:
    """``⌊r⌋`` copies per sample plus one with probability ``r − ⌊r⌋`` (torch's generator)."""
    whole = math.floor(rate)
    return whole + (torch.rand(size) < rate - whole).long()


@torch.no_grad()
def value_split(model: "MultimodalModel", dataset: "MultimodalDataset", indices: list[int],
                batch_size: int = 256) -> dict[str, Tensor]:
    """Each modality's Shapley contribution for the samples ``indices`` of ``dataset`` (CPU, (N,))."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    parts: dict[str, list[Tensor]] = {m: [] for m in model.modalities}
    for start in range(0, len(indices), batch_size):
        batch = dataset.get_batch(indices[start:start + batch_size]).to(device)
        features = model.encode(batch.inputs, masks=batch.masks)
        values = subset_values(model.fusion, features, batch.target)
        for m, c in shapley_contributions(values, tuple(model.modalities)).items():
            parts[m].append(c.cpu())
    model.train(was_training)
    return {m: torch.cat(v) for m, v in parts.items()}


class ModalityValuation(Method):
    def __init__(self, task: str, options: ValuationOptions, context: MethodContext) -> None:
        super().__init__(task_objective(task))
        if context.train_data is None:
            raise ValueError("valuation needs the train split (MethodContext.train_data)")
        self.task, self.options = task, options
        self.model, self.train_data = context.model, context.train_data
        self.contribution: dict[str, Tensor] | None = None  # sample level: modality -> (N,) φ of the last valuation
        self.rates: dict[str, float] | None = None  # modality level: expected copies per sample
        self.mean_contribution: dict[str, float] = {}

    def copies_for(self, index: Tensor) -> dict[str, Tensor]:
        """Extra copies per modality for the batch's samples (all zero before the first valuation)."""
        if self.options.level == "sample" and self.contribution is not None:
            return {m: sample_copies(c[index.cpu()], self.options.max_copies) for m, c in self.contribution.items()}
        if self.options.level == "modality" and self.rates is not None:
            return {m: draw_copies(r, len(index)) for m, r in self.rates.items()}
        return {}

    def forward_objective(self, runner: "StepRunner", state: StepState) -> tuple[dict[str, Tensor], Tensor]:
        model, batch = runner.model, state.batch
        state.active = self.select_active(state)
        with runner.autocast():
            features = model.encode(batch.inputs, state.active, batch.masks)
            fused = model.fusion(features)
            state.output = ModelOutput(fused.logits, fused.modality_logits, features)
            logits, targets = [fused.logits], [batch.target]
            for m, copies in self.copies_for(batch.index).items():
                rows = torch.repeat_interleave(torch.arange(len(copies)), copies).to(batch.target.device)
                if len(rows):
                    alone = keep_only({k: f[rows] for k, f in features.items()}, frozenset({m}))
                    logits.append(model.fusion(alone).logits)
                    targets.append(batch.target[rows])
            loss = task_loss(torch.cat(logits), torch.cat(targets), self.task)
        return {"task": loss}, loss

    def on_epoch_end(self, epoch: int, val_metrics: dict[str, Any]) -> None:
        super().on_epoch_end(epoch, val_metrics)
        if epoch < self.options.warmup - 1:
            return
        n = len(self.train_data)
        if self.options.level == "sample":
            self.contribution = value_split(self.model, self.train_data, list(range(n)))
            self.mean_contribution = {m: float(c.mean()) for m, c in self.contribution.items()}
        else:
            part = max(1, int(n * self.options.part_ratio))
            chosen = torch.randint(n, (part,)).tolist()  # with replacement, as the paper's subset Z
            contribution = value_split(self.model, self.train_data, chosen)
            self.mean_contribution = {m: float(c.mean()) for m, c in contribution.items()}
            self.rates = modality_rates(self.mean_contribution, self.options.alpha)

    def epoch_summary(self) -> dict[str, Any]:
        summary = super().epoch_summary()
        if self.mean_contribution:
            summary["contribution"] = {m: round(c, 4) for m, c in self.mean_contribution.items()}
        if self.rates is not None:
            summary["copy_rate"] = {m: round(r, 4) for m, r in self.rates.items()}
        return summary

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "contribution": self.contribution, "rates": self.rates,
                "mean_contribution": dict(self.mean_contribution)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        contribution = state.get("contribution")
        self.contribution = {m: c.clone() for m, c in contribution.items()} if contribution else None
        rates = state.get("rates")
        self.rates = {m: float(r) for m, r in rates.items()} if rates else None
        self.mean_contribution = {m: float(c) for m, c in state.get("mean_contribution", {}).items()}


class ModalityLevelOptions(ValuationOptions):
    level: Literal["sample", "modality"] = Field("modality", description="sample-level or modality-level re-sampling")


@METHODS.register("valuation", options=ValuationOptions)
def valuation(options: ValuationOptions, context: MethodContext) -> Method:
    """Sample-level modality valuation: Shapley contribution per sample; each sample's low-contributing
    modalities trained alone on extra copies."""
    return ModalityValuation(context.task, options, context)


@METHODS.register("valuation-modality", options=ModalityLevelOptions)
def valuation_modality(options: ModalityLevelOptions, context: MethodContext) -> Method:
    """Modality-level modality valuation (``valuation`` with ``level: modality`` by default): the data
    set's less contributing modality trained alone on a share of extra copies."""
    return ModalityValuation(context.task, options, context)
