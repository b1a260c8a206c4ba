"""Hyper-parameter tuning on validation (``g2d tune``): the search-space schema (:mod:`.space`,
part of the experiment config) and the Optuna study (:mod:`.study`, optional extra ``g2d[tune]``)."""
