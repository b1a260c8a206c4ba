"""Metrics: pure functions in :mod:`g2d.metrics.functional`, epoch accumulators in :mod:`.stateful`."""
from g2d.metrics.functional import accuracy, regression_scores
from g2d.metrics.stateful import SplitMetrics, higher_is_better

__all__ = ["accuracy", "regression_scores", "SplitMetrics", "higher_is_better"]
