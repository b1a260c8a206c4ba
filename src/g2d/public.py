"""The pieces a researcher takes into a training loop of their own, re-exported at ``g2d.*``.

- :class:`G2DLoss` / :class:`G2DLossOutput` – the G2D loss as an ``nn.Module`` (``method: g2d``'s
  objective and defaults);
- :class:`SMP` – Sequential Modality Prioritization as an object a loop drives (``method: g2d``'s
  schedule and defaults; :meth:`SMP.paper` for the paper's);
- :class:`TeacherCache` / :class:`TeacherOutputs` – teacher outputs built once, looked up by sample
  index.

The Lightning callback is :class:`g2d.integrations.lightning.SMPCallback` (extra ``lightning``).
"""
from __future__ import annotations

from g2d.cache import TeacherCache
from g2d.loss import G2DLoss, G2DLossOutput
from g2d.modulators.smp import SMP
from g2d.objectives import TeacherOutputs

__all__ = ["G2DLoss", "G2DLossOutput", "SMP", "TeacherCache", "TeacherOutputs"]
