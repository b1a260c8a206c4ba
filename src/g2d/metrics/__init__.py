"""Metrics: pure functions in :mod:`g2d.metrics.functional`, split accumulators in :mod:`.stateful`."""
from g2d.metrics.functional import (accuracy, confidence_ratio, feature_alignment, modality_gap, pca_2d,
                                    regression_scores, true_label_probability)
from g2d.metrics.stateful import (ConfidenceRatio, FeatureAlignment, ModalityGap, SplitMetrics,
                                  higher_is_better)

__all__ = ["accuracy", "regression_scores", "feature_alignment", "confidence_ratio", "modality_gap",
           "pca_2d", "true_label_probability", "SplitMetrics", "FeatureAlignment", "ConfidenceRatio",
           "ModalityGap", "higher_is_better"]
