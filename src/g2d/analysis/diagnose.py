"""Which modality does joint training neglect, and does the paper's ranking agree? (``g2d diagnose``)

From trained teachers and a joint *probe* student (train and validation splits only), per modality:
the teacher's validation score, the probe's own-path z_s^m validation score, and — for reference —
the teacher's confidence ρ^m on the training split (spec Eq. 5) and the probe's confidence ratio
ρ_s^m / ρ^m.

**The rule.** The probe trains like the joint student until its fused validation score stops
improving (early stopping after ``patience`` epochs without a better score, at most
``student.epochs``) and is read at its selected epoch. The neglected modality is the one whose own
path reaches the smallest *share of its teacher's validation skill*: (path − chance) / (teacher −
chance) for accuracy (chance = 1/classes; 0 for r2), teacher / path for an error such as MAE. The
absolute shortfall (teacher − path) is reported too, but ranks worse: read at the probe's selected
epoch, a strong modality whose teacher is near 95 % can still be further below it in points
although the finished student leaves the weak one further behind.

Why not a short probe's confidence ratio (the rule before issue 27): after a few epochs the ratio
says how far each path has got, not where joint training ends up. A strong modality with a very
confident teacher (ρ ≈ 0.9) that is still climbing has a low ratio, while a weak modality's
unconfident teacher (ρ ≈ 0.4) inflates its ratio. Issue 27 met it on sklearn's digits split in two
(the 4-epoch ratio named the strong modality, the finished joint student left the weak one 24
points below its teacher); synthetic fast-strong/slow-weak data trained with SGD at lr 1e-3
reproduce it with margins of 10–24 points. Measured alternatives and the table per data set:
``docs/results/diagnosis.md``.

The paper's SMP trains the least confident teacher's modality first; when that is not the
neglected one, the ranking ``neglect`` is recommended instead.
"""
from __future__ import annotations

from typing import Any, Protocol

import torch

from g2d.data.base import Batch, MultimodalDataset
from g2d.metrics import higher_is_better
from g2d.model import MultimodalModel
from g2d.objectives import TeacherOutputs
from g2d.runtime import move_batch
from g2d.scoring import rank_ascending, true_label_confidence
from g2d.data.loader import make_loader


class TeacherLookup(Protocol):
    def lookup(self, batch: Batch) -> TeacherOutputs: ...


@torch.no_grad()
def confidence_on_split(model: MultimodalModel, teachers: TeacherLookup, data: MultimodalDataset,
                        device: torch.device, batch_size: int = 256) -> dict[str, dict[str, float]]:
    """Mean true-label confidence of each teacher (ρ^m) and of the student's own path z_s^m."""
    was_training = model.training
    model.eval()
    task, modalities = data.info.task, model.modalities
    sums = torch.zeros(2, len(modalities), dtype=torch.float64)
    count = 0
    for batch in make_loader(data, batch_size, shuffle=False):
        batch = move_batch(batch, device)
        out = model(batch.inputs, masks=batch.masks)
        teacher = teachers.lookup(batch)
        for j, m in enumerate(modalities):
            sums[0, j] += true_label_confidence(out.modality_logits[m], batch.target, task).double().sum().cpu()
            sums[1, j] += true_label_confidence(teacher.logits[m], batch.target, task).double().sum().cpu()
        count += len(batch)
    model.train(was_training)
    return {m: {"student": float(sums[0, j]) / count, "teacher": float(sums[1, j]) / count}
            for j, m in enumerate(modalities)}


def path_scores(val: dict[str, Any], metric: str) -> dict[str, float]:
    """Each modality path's validation score in the selection ``metric`` (the teachers' cards hold the
    same metric), from a split's metrics (:class:`g2d.metrics.SplitMetrics`)."""
    if f"modality_{metric}" in val:  # accuracy (classification), mae, loss
        return dict(val[f"modality_{metric}"])
    if metric in next(iter(val.get("modality_scores", {}).values()), {}):  # regression: r2, mse, mape
        return {m: scores[metric] for m, scores in val["modality_scores"].items()}
    raise ValueError(f"the validation metrics hold no per-modality {metric!r}; select on accuracy, loss or a "
                     f"regression score")


def shortfall(teacher: float, student: float, metric: str) -> float:
    """How far the student's path is below its teacher in ``metric``'s points (positive = worse)."""
    return teacher - student if higher_is_better(metric) else student - teacher


def skill_share(teacher: float, student: float, metric: str, chance: float = 0.0) -> float:
    """The share of its teacher's skill the student's path reaches: ``(path − chance) / (teacher −
    chance)`` for a score (accuracy: chance = 1/classes; r2: 0), ``teacher / path`` for an error (MAE,
    MSE, …). 1 = as good as its teacher, 0 = no better than chance. A teacher no better than chance
    (or a perfect path) gives 1: there is nothing for joint training to neglect."""
    if higher_is_better(metric):
        return (student - chance) / (teacher - chance) if teacher - chance > 1e-12 else 1.0
    return teacher / student if student > 1e-12 else 1.0


def summarize(modalities: tuple[str, ...], confidence: dict[str, dict[str, float]],
              teacher_val: dict[str, float], probe_val: dict[str, float], metric: str,
              chance: float = 0.0) -> dict[str, Any]:
    """Per-modality table, the neglected modality (its path reaches the smallest share of its teacher's
    validation skill), and the recommended SMP settings. ``chance``: the score of a guess (accuracy:
    1/classes)."""
    per = {m: {"teacher_val": teacher_val[m], "teacher_rho_train": confidence[m]["teacher"],
               "probe_val": probe_val[m], "probe_rho_train": confidence[m]["student"],
               "confidence_ratio": confidence[m]["student"] / max(confidence[m]["teacher"], 1e-12),
               "shortfall": shortfall(teacher_val[m], probe_val[m], metric),
               "skill_share": skill_share(teacher_val[m], probe_val[m], metric, chance)}
           for m in modalities}
    by_neglect = rank_ascending({m: v["skill_share"] for m, v in per.items()}, modalities)
    by_teacher = rank_ascending({m: v["teacher_rho_train"] for m, v in per.items()}, modalities)
    agree = by_neglect[0] == by_teacher[0]
    ranking = "teacher" if agree else "neglect"
    worst, other = per[by_neglect[0]], per[by_teacher[0]]
    reason = (f"the least confident teacher ({by_teacher[0]}) is also the modality whose path the joint probe "
              f"leaves furthest behind its teacher: the paper's ranking fits" if agree else
              f"the least confident teacher is {by_teacher[0]}, but the joint probe leaves {by_neglect[0]}'s path "
              f"furthest behind its teacher ({worst['skill_share']:.0%} of its teacher's skill vs "
              f"{other['skill_share']:.0%}): the paper's ranking would train the wrong modality first")
    lag = 1 - worst["skill_share"]
    return {"metric": metric, "higher_is_better": higher_is_better(metric), "chance": chance, "modalities": per,
            "rule": "lowest share of its teacher's validation skill reached by the path z_s^m, at the selected "
                    "epoch of a joint probe stopped when its fused validation score flattens",
            "neglected": by_neglect[0], "least_confident_teacher": by_teacher[0], "paper_ranking_agrees": agree,
            "order_by_neglect": by_neglect, "order_by_teacher": by_teacher,
            "recommended": {"ranking": ranking, "order": by_neglect if not agree else by_teacher,
                            "schedule": "adaptive", "prioritise": lag > 0.1,
                            "reason": reason + ("" if lag > 0.1 else
                                                f"; every path reaches at least 90 % of its teacher's skill "
                                                f"(lowest {worst['skill_share']:.0%}), so the adaptive schedule "
                                                f"will hardly prioritise")}}


def format_diagnosis(d: dict[str, Any]) -> str:
    """The diagnosis as a short text table (CLI)."""
    metric = d["metric"]
    lines = [f"{'modality':<12} {'teacher val ' + metric:>20} {'probe z_s val ' + metric:>22} "
             f"{'share of teacher':>17} {'teacher ρ (train)':>18} {'ratio ρ_s/ρ_t':>14}"]
    for m, v in d["modalities"].items():
        lines.append(f"{m:<12} {v['teacher_val']:>20.4f} {v['probe_val']:>22.4f} {v['skill_share']:>17.1%} "
                     f"{v['teacher_rho_train']:>18.4f} {v['confidence_ratio']:>14.3f}")
    rec = d["recommended"]
    lines += ["", *([probe_line(d["probe"], metric)] if "probe" in d else []),
              f"neglected by joint training (its path reaches the least of its teacher's skill): {d['neglected']}; "
              f"least confident teacher: {d['least_confident_teacher']}; paper ranking agrees: "
              f"{d['paper_ranking_agrees']}",
              f"recommended: method.options.ranking = {rec['ranking']} (order {rec['order']}), "
              f"schedule = {rec['schedule']}", f"why: {rec['reason']}"]
    return "\n".join(lines)


def probe_line(probe: dict[str, Any], metric: str) -> str:
    """How long the joint probe ran and which of its epochs the diagnosis reads."""
    ran = (f"stopped after epoch {probe['epochs']} of at most {probe['max_epochs']} (fused val {metric} not "
           f"better for {probe['patience']} epochs)" if probe["epochs"] < probe["max_epochs"] else
           f"ran all {probe['max_epochs']} epochs")
    return f"joint probe: {ran}; read at its selected epoch {probe['selected_epoch']}"
