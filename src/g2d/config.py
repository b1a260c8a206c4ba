"""Typed experiment configuration: validated at load, round-trips through YAML.

Every pluggable piece is a ``{name, options}`` pair; ``options`` is validated against the options
model the piece registered, so a typo or a wrong value fails at load with the field's dotted path.
After validation the options hold every default, so the resolved YAML in a run folder is complete.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from g2d.registry import ExperimentContext, Registry, format_validation_error
from g2d.tuning.space import TuneConfig
from g2d.validation import ConfigError, did_you_mean
from g2d.yamlfile import load_yaml


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Component(Strict):
    """A registered piece chosen by name, with its typed options."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class DataConfig(Strict):
    name: str = "synthetic"
    options: dict[str, Any] = Field(default_factory=dict)
    batch_size: int = Field(16, gt=0)
    eval_batch_size: int = Field(256, gt=0)
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes")


class ModelConfig(Strict):
    encoders: dict[str, Component] = Field(
        default_factory=dict, description="per modality; a modality left out uses its data set's default")
    fusion: Component = Field(default_factory=lambda: Component(name="concat"))


class OptimConfig(Strict):
    name: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = Field(1e-3, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)
    no_decay_norm_and_bias: bool = Field(
        False, description="no weight decay for biases and norm-layer parameters (timm's rule); "
                           "off = every parameter decays, as in the paper's runs")
    step_size: int | None = Field(200, gt=0, description="epochs between lr decays; null = constant lr")
    gamma: float = Field(0.1, gt=0, le=1)


class TrainConfig(Strict):
    epochs: int = Field(30, gt=0)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    patience: int | None = Field(None, gt=0, description="stop after this many epochs without val improvement")
    select_metric: str | None = Field(None, description="val metric for model selection; default accuracy "
                                                        "(classification) or mae (regression)")


class MethodConfig(Strict):
    name: str = "g2d"
    options: dict[str, Any] = Field(default_factory=dict)
    modulators: list[Component] = Field(default_factory=list, description="extra gradient modulators "
                                        "composed with the method's own (e.g. joint + smp)")


class AnalysisConfig(Strict):
    """What is measured beside training (see :mod:`g2d.analysis`)."""

    track: bool = Field(True, description="per-epoch analyses (feature alignment, confidence ratio, …)")
    tensorboard: bool = Field(False, description="also log scalars to TensorBoard (needs tensorboard)")
    split: Literal["val", "test"] = Field("val", description="split the per-epoch analyses run on")
    every: int = Field(1, ge=1, description="run the per-epoch representation analyses every N epochs")
    missing_rates: list[float] = Field(
        default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        description="test-time miss rates (share of modality inputs zeroed) for the robustness curve")
    missing_seed: int = Field(0, description="seed of the missing-modality masks")
    projection_samples: int = Field(300, ge=0, description="embeddings per modality in the 2-D gap plot")

    @model_validator(mode="after")
    def _rates_in_range(self) -> "AnalysisConfig":
        bad = [r for r in self.missing_rates if not 0.0 <= r <= 1.0]
        if bad:
            raise ValueError(f"analysis.missing_rates: every rate must be in [0, 1], got {bad}")
        return self


class ExperimentConfig(Strict):
    """One experiment: data, model, teacher and student training, the method, runtime."""

    plugins: list[str] = Field(default_factory=list, description="modules or .py files imported before "
                               "validation (the user's own registered pieces; see g2d.plugins)")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    teachers: TrainConfig = Field(default_factory=TrainConfig)
    student: TrainConfig = Field(default_factory=TrainConfig)
    method: MethodConfig = Field(default_factory=MethodConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    seed: int = Field(0, ge=0, le=2**63 - 1, description="training seed (a 64-bit integer)")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N | mps")
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool = Field(False, description="channels-last memory layout for the CNN encoders (GPU speed)")
    compile: bool = Field(False, description="torch.compile each encoder and the fusion head")
    tune: TuneConfig | None = Field(None, description="search space of `g2d tune` (ignored by every other command)")

    @model_validator(mode="after")
    def _resolve_components(self, info: ValidationInfo) -> "ExperimentConfig":
        from g2d import catalog

        data_opts = catalog.DATASETS.parse_options(self.data.name, self.data.options, "data.options")
        base, bases = path_bases(info.context)
        data_opts = data_opts.with_absolute_paths(base, bases)
        self.data.options = data_opts.model_dump()
        modalities = tuple(data_opts.modality_names())
        task = data_opts.task()
        if len(set(modalities)) != len(modalities):
            raise ValueError(f"data.options: modality names must be unique, got {list(modalities)}")
        unknown = [m for m in self.model.encoders if m not in modalities]
        if unknown:
            raise ValueError(f"model.encoders: unknown modalities {unknown}; the data set has {list(modalities)}")
        defaults = data_opts.default_encoders()
        self.model.encoders = {m: self.model.encoders.get(m) or Component(**defaults[m]) for m in modalities}
        for m, enc in self.model.encoders.items():
            enc.options = _resolve(catalog.ENCODERS, enc, f"model.encoders.{m}", None).model_dump()
        context = ExperimentContext(modalities, task, self.student.epochs)
        self.model.fusion.options = _resolve(catalog.FUSIONS, self.model.fusion, "model.fusion",
                                             context).model_dump()
        method = Component(name=self.method.name, options=self.method.options)
        self.method.options = _resolve(catalog.METHODS, method, "method", context).model_dump()
        for i, mod in enumerate(self.method.modulators):
            mod.options = _resolve(catalog.MODULATORS, mod, f"method.modulators[{i}]", context).model_dump()
        return self

    @property
    def modalities(self) -> tuple[str, ...]:
        from g2d import catalog

        return tuple(catalog.DATASETS.parse_options(self.data.name, self.data.options,
                                                    "data.options").modality_names())

    def to_yaml(self) -> str:
        raw = self.model_dump(mode="json")
        if raw["tune"] is None:
            del raw["tune"]  # most configs have no search space; keep their YAML as before
        return yaml.safe_dump(raw, sort_keys=False)


def path_bases(context: Mapping[str, Any] | None) -> tuple[Path, dict[str, Path]]:
    """Where relative data paths start: the validation context's ``base_dir`` (the config file's
    folder) or the working folder, and per ``data.options`` field the bases of values given
    elsewhere (``--set`` on the command line: the working folder)."""
    context = context or {}
    base = Path(context.get("base_dir") or Path.cwd())
    return base, dict(context.get("data_option_bases") or {})


def _resolve(registry: Registry, component: Component, where: str,
             context: ExperimentContext | None) -> BaseModel:
    if component.name not in registry:
        raise ValueError(f"{where}.name: unknown {registry.kind} {component.name!r}"
                         f"{did_you_mean(component.name, registry.names())}; expected one of {registry.names()}")
    options = registry.parse_options(component.name, component.options, f"{where}.options")
    if context is not None:
        try:
            options.check_against(context)
        except ValueError as err:
            raise ValueError(f"{where}.options: {err}") from None
    return options


def parse_config(raw: dict[str, Any] | None, source: str = "config",
                 base_dir: Path | None = None, cwd_keys: tuple[str, ...] = ()) -> ExperimentConfig:
    """Validate a plain dict; raise :class:`ConfigError` with one line per bad field. Its plugins
    are imported first. Relative paths — file plugins and the data set's path options (``root``,
    ``path``, ``base_dir``, ``cache_dir``) — start at ``base_dir`` (the config file's folder;
    default the working folder), except the dotted keys in ``cwd_keys`` (given on the command line),
    which start at the working folder; the validated config holds them absolute."""
    from g2d.objects import prepare_config

    try:
        raw = prepare_config(raw or {}, base_dir)
    except ConfigError as err:
        raise ConfigError(f"{source}: invalid configuration:\n  {err}") from None
    prefix = "data.options."
    context = {"base_dir": base_dir or Path.cwd(),
               "data_option_bases": {k.removeprefix(prefix): Path.cwd() for k in cwd_keys if k.startswith(prefix)}}
    try:
        return ExperimentConfig.model_validate(raw, context=context)
    except ValidationError as err:
        raise ConfigError(f"{source}: invalid configuration:\n  {format_validation_error(err, '', ExperimentConfig)}") from None
    except (ValueError, KeyError) as err:
        raise ConfigError(f"{source}: invalid configuration:\n  {err}") from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Read a YAML experiment config (safe loading, duplicate keys refused), apply dotted-key
    overrides, validate. Relative paths in the file start at the file's folder, those of overrides
    at the working folder (see :func:`parse_config`). An empty file or one that is not a mapping is
    an error naming the file; a value that only an override makes invalid is blamed on its
    ``--set`` option."""
    from g2d.paths import require_file

    path = require_file(path, "config file", ConfigError)
    raw = read_config_file(path)
    if not overrides:
        return parse_config(raw, str(path), path.parent)
    merged = copy.deepcopy(raw)
    for key, value in overrides.items():
        set_dotted(merged, key, value)
    try:
        return parse_config(merged, str(path), path.parent, tuple(overrides))
    except ConfigError as err:
        parse_config(raw, str(path), path.parent)  # when the file alone is invalid, report the file
        shown = ", ".join(f"--set {k}={json.dumps(v)}" for k, v in overrides.items())
        raise ConfigError(f"{shown}: {str(err).removeprefix(f'{path}: ')}") from None


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's top-level mapping; ConfigError naming the file when it is empty, not YAML,
    repeats a key or is not a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the config file ({err})") from None
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if raw is None:
        raise ConfigError(f"{path}: the config file is empty; expected a mapping of sections "
                          f"(data:, model:, method:, …) — see configs/ for examples")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    return raw


def replace(config: ExperimentConfig, changes: Mapping[str, Any], source: str = "config") -> ExperimentConfig:
    """The one way to derive a config: a copy of ``config`` with dotted-key ``changes`` applied
    (``replace(config, {"student.epochs": 5})``), validated again as a whole, so every cross-field
    check and component resolution runs. A ConfigError names the changes and the field."""
    raw = config.model_dump(mode="json")
    for key, value in changes.items():
        set_dotted(raw, key, copy.deepcopy(value))
    try:
        return parse_config(raw, source)
    except ConfigError as err:
        shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in changes.items())
        raise ConfigError(f"{shown}: {str(err).removeprefix(f'{source}: ')}") from None


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """``set_dotted(d, "student.epochs", 5)`` sets ``d["student"]["epochs"] = 5``."""
    *parents, leaf = key.split(".")
    node = raw
    for p in parents:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {key!r}: {p!r} is not a mapping")
    node[leaf] = value
