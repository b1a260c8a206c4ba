"""The ``tune:`` section of an experiment config: which config values a study searches, and how.

Keys of ``params`` are dotted config paths of the student side (``student.…``, ``method.…``,
``model.fusion.…``): teachers, data and their cache are built once and shared by every trial, so
they cannot vary. For example::

    tune:
      params:
        method.options.alpha: {type: float, low: 0.1, high: 10, log: true}
        method.options.phases: {type: int, low: 1, high: 20, size: 1}   # [τ_1]; size = M - 1
        student.optim.lr: {type: float, low: 1.0e-3, high: 0.1, log: true}
        method.name: {type: categorical, choices: [g2d, g2d-loss]}
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Config sections a trial may change (teachers, data and the cache are shared by all trials).
TUNABLE_PREFIXES = ("student.", "method.", "model.fusion.")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FloatParam(_Strict):
    type: Literal["float"]
    low: float
    high: float
    log: bool = Field(False, description="sample on a log scale (needs low > 0)")
    step: float | None = Field(None, gt=0, description="discretisation step (not with log)")

    @model_validator(mode="after")
    def _range(self) -> "FloatParam":
        _check_range(self.low, self.high, self.log, self.step)
        return self


class IntParam(_Strict):
    type: Literal["int"]
    low: int
    high: int
    log: bool = Field(False, description="sample on a log scale (needs low > 0)")
    step: int = Field(1, gt=0)
    size: int | None = Field(None, gt=0, description="sample a list of this many ints (e.g. SMP phases)")

    @model_validator(mode="after")
    def _range(self) -> "IntParam":
        _check_range(self.low, self.high, self.log, None if self.step == 1 else self.step)
        return self


class CategoricalParam(_Strict):
    type: Literal["categorical"]
    choices: list[Any] = Field(min_length=1)

    @model_validator(mode="after")
    def _scalars(self) -> "CategoricalParam":
        bad = [c for c in self.choices if c is not None and not isinstance(c, (str, int, float, bool))]
        if bad:
            raise ValueError(f"choices must be strings, numbers, booleans or null; got {bad}")
        return self


Param = Annotated[Union[FloatParam, IntParam, CategoricalParam], Field(discriminator="type")]


class TuneConfig(_Strict):
    """Search space and study settings of ``g2d tune`` (objective: the student's validation
    ``select_metric`` at its selected epoch)."""

    params: dict[str, Param] = Field(min_length=1, description="dotted config path -> its range or choices")
    pruner: Literal["median", "none"] = Field("median", description="prune trials on per-epoch validation")
    startup_trials: int = Field(5, ge=0, description="trials that run to the end before pruning starts")
    warmup_epochs: int = Field(5, ge=0, description="epochs of a trial before it can be pruned")
    sampler_seed: int = Field(0, description="seed of the TPE sampler")
    enqueue_config: bool = Field(True, description="trial 0 = the config's own values (when inside the space)")

    @model_validator(mode="after")
    def _tunable_paths(self) -> "TuneConfig":
        bad = [k for k in self.params if not k.startswith(TUNABLE_PREFIXES)]
        if bad:
            raise ValueError(f"params: {bad} cannot be tuned; teachers, data and the teacher cache are built "
                             f"once and shared by every trial, so only keys under "
                             f"{', '.join(p.rstrip('.') for p in TUNABLE_PREFIXES)} may vary")
        return self


def _check_range(low: float, high: float, log: bool, step: float | None) -> None:
    if not low < high:
        raise ValueError(f"expected low < high, got low={low}, high={high}")
    if log and low <= 0:
        raise ValueError(f"log scale needs low > 0, got low={low}")
    if log and step is not None:
        raise ValueError("step and log cannot be combined")
