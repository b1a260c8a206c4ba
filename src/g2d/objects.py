"""Python objects accepted by the API where a registered name is expected: an ``nn.Module`` as an
encoder, a torch ``Dataset`` (or a mapping of splits, or :class:`~g2d.data.DataSplits`) as the data.

Each object is registered once under a generated name (``python:<Class>#<n>``), so everything
downstream — validation, teachers, students, caches — treats it like a built-in piece. The
validated config records that name; such a config cannot be re-run from its YAML alone (the
object lived in the Python session), and loading it later says so and how to make it a plugin.

An encoder object is checked on a dry forward of two zero samples of the modality's input shape:
it must return ``(batch, features)``. Every model built from it (each teacher, each student) gets
its own deep copy, so they never share weights. A torch ``Dataset`` must yield
``(inputs: dict[str, Tensor], target)`` per index (:mod:`g2d.data.torch_dataset`).
"""
from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from g2d.plugins import load_plugins
from g2d.validation import ConfigError

PREFIX = "python:"
_names: dict[int, tuple[str, Any]] = {}  # id(object) -> (name, object): keeps the object alive
_counter = itertools.count(1)


def object_name(obj: Any) -> str | None:
    entry = _names.get(id(obj))
    return entry[0] if entry is not None and entry[1] is obj else None


def _new_name(obj: Any) -> str:
    name = f"{PREFIX}{type(obj).__name__}#{next(_counter)}"
    _names[id(obj)] = (name, obj)
    return name


def encoder_output_dim(module: nn.Module, input_shape: tuple[int, ...], name: str) -> int:
    """Run two zero samples through a copy of ``module``; its per-sample feature width."""
    probe = copy.deepcopy(module).eval()
    try:
        with torch.no_grad():
            out = probe(torch.zeros(2, *input_shape))
    except Exception as err:  # the user's module: say which and with what input
        raise ConfigError(f"encoder {name!r} ({type(module).__name__}) failed on an input of per-sample shape "
                          f"{tuple(input_shape)}: {type(err).__name__}: {err}") from err
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(f"encoder {name!r} ({type(module).__name__}): expected an output of shape (batch, "
                          f"features) for input (2, {', '.join(map(str, input_shape))}), got {shape}")
    return int(out.shape[1])


def register_encoder(module: nn.Module) -> str:
    from g2d.encoders import ENCODERS
    from g2d.registry import NoOptions

    known = object_name(module)
    if known:
        return known
    name = _new_name(module)

    def build(options: NoOptions, input_shape: tuple[int, ...]) -> nn.Module:
        width = encoder_output_dim(module, input_shape, name)
        built = copy.deepcopy(module)
        declared = getattr(built, "out_dim", None)
        if declared is not None and declared != width:
            raise ConfigError(f"encoder {name!r} ({type(module).__name__}) declares out_dim={declared} but "
                              f"returns {width} features")
        built.out_dim = width
        return built

    build.__doc__ = f"the {type(module).__name__} module passed to the Python API"
    ENCODERS.register(name, options=NoOptions)(build)
    return name


def register_dataset(obj: Any) -> str:
    from g2d.data import DATASETS, DataSplits
    from g2d.data.torch_dataset import ObjectDataOptions, splits_from_torch

    known = object_name(obj)
    if known:
        return known
    name = _new_name(obj)
    options = type(f"ObjectDataOptions{len(_names)}", (ObjectDataOptions,), {"source": obj})
    options().modality_names()  # the first sample is checked now, at config load
    made: dict[tuple, DataSplits] = {}

    def build(opts: ObjectDataOptions) -> DataSplits:
        if isinstance(obj, DataSplits):
            return obj
        key = (opts.val_fraction, opts.test_fraction, opts.split_seed)
        if key not in made:
            made[key] = splits_from_torch(obj, name, *key)
        return made[key]

    build.__doc__ = f"the {type(obj).__name__} passed to the Python API"
    DATASETS.register(name, options=options)(build)
    return name


def is_data_object(value: Any) -> bool:
    from g2d.data import DataSplits

    if isinstance(value, (DataSplits, torch.utils.data.Dataset)):
        return True
    return isinstance(value, Mapping) and bool(value) and set(value) <= {"train", "val", "test"} and \
        all(isinstance(v, torch.utils.data.Dataset) for v in value.values())


def replace_objects(raw: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``raw`` with objects registered and replaced by their names."""
    model = raw.get("model")
    if isinstance(model, dict) and isinstance(model.get("encoders"), dict):
        encoders = dict(model["encoders"])
        for m, value in encoders.items():
            if isinstance(value, nn.Module):
                encoders[m] = {"name": register_encoder(value), "options": {}}
        raw["model"] = {**model, "encoders": encoders}
    encoders = model.get("encoders") if isinstance(model, dict) else None
    for m, value in encoders.items() if isinstance(encoders, dict) else ():  # a non-dict: the schema names it
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            check_not_stale("encoder", value["name"], f"model.encoders.{m}.name")
    data = raw.get("data")
    if isinstance(data, dict) and isinstance(data.get("name"), str):
        check_not_stale("data set", data["name"], "data.name")
    if is_data_object(data):
        data = {"name": data}
    if isinstance(data, dict) and is_data_object(data.get("name")):
        raw["data"] = {**data, "name": register_dataset(data["name"])}
    return raw


def check_not_stale(kind: str, name: str, where: str) -> None:
    """A ``python:`` name that this session never registered: the config came from an API run."""
    if name.startswith(PREFIX) and not any(n == name for n, _ in _names.values()):
        raise ConfigError(f"{where}: {kind} {name!r} was a Python object given to the API in another session; "
                          f"to repeat the run from its config, put that class in a plugin that registers it by "
                          f"name and list the plugin under `plugins:`")


def prepare_config(raw: dict[str, Any], base_dir: Path | None = None) -> dict[str, Any]:
    """Before validation: import the config's plugins (their paths resolved in the returned copy)
    and register any Python objects the API was given in place of registered names."""
    if not isinstance(raw, dict):
        return raw
    raw = dict(raw)
    specs = raw.get("plugins")
    if specs is not None:
        if not isinstance(specs, list):
            raise ConfigError(f"plugins: expected a list of module names or .py files, got {specs!r}")
        raw["plugins"] = load_plugins(specs, base_dir)
    return replace_objects(raw)
