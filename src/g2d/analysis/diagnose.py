"""Which modality does joint training neglect, and does the paper's ranking agree? (``g2d diagnose``)

From trained teachers and a short joint *probe* student (train and validation splits only), per
modality: the teacher's validation score, the teacher's confidence ρ^m on the training split
(spec Eq. 5), the probe's own-path z_s^m validation score and its confidence ratio ρ_s^m / ρ^m on
the training split. The neglected modality is the one with the lowest confidence ratio: the one
the joint student has learnt least of what its teacher knows. The paper's SMP trains the least
confident teacher's modality first; when that is not the neglected one, the ranking ``neglect``
is recommended instead.
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


def summarize(modalities: tuple[str, ...], confidence: dict[str, dict[str, float]],
              teacher_val: dict[str, float], probe_val: dict[str, float], metric: str) -> dict[str, Any]:
    """Per-modality table, the neglected modality, and the recommended SMP settings."""
    per = {m: {"teacher_val": teacher_val[m], "teacher_rho_train": confidence[m]["teacher"],
               "probe_val": probe_val[m], "probe_rho_train": confidence[m]["student"],
               "confidence_ratio": confidence[m]["student"] / max(confidence[m]["teacher"], 1e-12)}
           for m in modalities}
    by_neglect = rank_ascending({m: v["confidence_ratio"] for m, v in per.items()}, modalities)
    by_teacher = rank_ascending({m: v["teacher_rho_train"] for m, v in per.items()}, modalities)
    agree = by_neglect[0] == by_teacher[0]
    ranking = "teacher" if agree else "neglect"
    reason = (f"the least confident teacher ({by_teacher[0]}) is also the modality the joint probe neglects: "
              f"the paper's ranking fits" if agree else
              f"the least confident teacher is {by_teacher[0]}, but the joint probe neglects {by_neglect[0]} "
              f"(confidence ratio {per[by_neglect[0]]['confidence_ratio']:.2f} vs "
              f"{per[by_teacher[0]]['confidence_ratio']:.2f}): the paper's ranking would train the wrong "
              f"modality first")
    lag = 1 - per[by_neglect[0]]["confidence_ratio"]
    return {"metric": metric, "higher_is_better": higher_is_better(metric), "modalities": per,
            "neglected": by_neglect[0], "least_confident_teacher": by_teacher[0], "paper_ranking_agrees": agree,
            "order_by_neglect": by_neglect, "order_by_teacher": by_teacher,
            "recommended": {"ranking": ranking, "order": by_neglect if not agree else by_teacher,
                            "schedule": "adaptive", "prioritise": lag > 0.1,
                            "reason": reason + ("" if lag > 0.1 else
                                                f"; no modality lags its teacher by more than 10 % "
                                                f"(largest lag {lag:.0%}), so the adaptive schedule will "
                                                f"hardly prioritise")}}


def format_diagnosis(d: dict[str, Any]) -> str:
    """The diagnosis as a short text table (CLI)."""
    metric = d["metric"]
    lines = [f"{'modality':<12} {'teacher val ' + metric:>20} {'teacher ρ (train)':>18} "
             f"{'probe z_s val ' + metric:>22} {'ratio ρ_s/ρ_t':>14}"]
    for m, v in d["modalities"].items():
        lines.append(f"{m:<12} {v['teacher_val']:>20.4f} {v['teacher_rho_train']:>18.4f} {v['probe_val']:>22.4f} "
                     f"{v['confidence_ratio']:>14.3f}")
    rec = d["recommended"]
    lines += ["", f"neglected by joint training: {d['neglected']}; least confident teacher: "
                  f"{d['least_confident_teacher']}; paper ranking agrees: {d['paper_ranking_agrees']}",
              f"recommended: method.options.ranking = {rec['ranking']} (order {rec['order']}), "
              f"schedule = {rec['schedule']}", f"why: {rec['reason']}"]
    return "\n".join(lines)
