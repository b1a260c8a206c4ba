"""A resumed run is the run its config describes: ``--resume`` compares the config with the one the
interrupted (or finished) run recorded and refuses any change, naming each changed key (dotted
path, old -> new), unless the key is one that cannot change what the finished epochs mean and the
user accepts it with ``--allow-change KEY``. An accepted change is applied and recorded (the
run's ``config.yaml`` then says what the run uses), never half-applied.

Safe to change (:data:`SAFE_KEYS`): where the run computes (``device``, ``compile``,
``channels_last``, ``data.num_workers``, ``data.eval_batch_size``), what is logged beside it
(``analysis.*``), the ``tune`` space, ``patience``, and ``epochs`` when extended past the epochs
already run and the method's schedule (e.g. SMP phases derived from the total epochs) stays the
same. Never: learning rates and optimiser, method and its options, model, data, seed, precision,
plugins — the epochs already run were trained with the old values.
"""
from __future__ import annotations

import fnmatch
from typing import Any, Iterable, Literal

from g2d.validation import ConfigError

Role = Literal["student", "teachers"]

_ANYWHERE = ("device", "compile", "channels_last", "data.num_workers", "data.eval_batch_size", "analysis.*", "tune",
             "tune.*")
#: dotted keys (fnmatch patterns) that ``--allow-change`` may accept, per kind of run
SAFE_KEYS: dict[str, tuple[str, ...]] = {
    "student": _ANYWHERE + ("student.epochs", "student.patience"),
    # the teachers do not read the student's sections
    "teachers": _ANYWHERE + ("teachers.epochs", "teachers.patience", "student.*", "method.*", "model.fusion.*"),
}
EPOCH_KEYS = {"student": "student.epochs", "teachers": "teachers.epochs"}


def config_changes(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted key, old, new)`` for every leaf that differs (lists compared whole)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in list(old) + [k for k in new if k not in old]:
            out += config_changes(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
        return out
    return [] if old == new else [(prefix, old, new)]


def is_safe(key: str, role: Role) -> bool:
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in SAFE_KEYS[role])


def parse_allowed(values: Iterable[str]) -> list[str]:
    """``--allow-change a,b --allow-change c`` -> ``["a", "b", "c"]``."""
    return [k.strip() for v in values for k in v.split(",") if k.strip()]


def check_changes(old: dict[str, Any], new: dict[str, Any], role: Role, allowed: list[str], where: str,
                  epochs_done: int | None) -> list[str]:
    """The accepted changes as ``key: old -> new`` lines; ConfigError naming every change that is not
    allowed (unsafe ones with why), a key allowed that is not safe, and an epoch count below the
    epochs already run."""
    changes = config_changes(old, new)
    for key in allowed:
        if not is_safe(key, role):
            raise ConfigError(f"--allow-change {key}: this key cannot change in a resumed run (the epochs already "
                              f"run used the old value); keys that can: {', '.join(SAFE_KEYS[role])}")
    shown = [f"{k}: {_show(o)} -> {_show(n)}" for k, o, n in changes]
    refused = [line for (k, _, _), line in zip(changes, shown)
               if not any(fnmatch.fnmatchcase(k, a) for a in allowed)]
    if refused:
        unsafe = [line for (k, _, _), line in zip(changes, shown) if not is_safe(k, role) and line in refused]
        safe = [line.split(":")[0] for line in refused if line not in unsafe]
        advice = []
        if unsafe:
            advice.append("start a new run (another --out or --name, or --overwrite) to use the new values of "
                          + ", ".join(line.split(":")[0] for line in unsafe))
        if safe:
            advice.append(f"accept the others with --allow-change {','.join(safe)}")
        raise ConfigError(f"--resume: the config differs from the one {where} recorded:\n  " + "\n  ".join(refused)
                          + "\n" + "; ".join(advice))
    epoch_key = EPOCH_KEYS[role]
    for key, old_value, new_value in changes:
        if key == epoch_key and epochs_done is not None and isinstance(new_value, int) and new_value < epochs_done:
            raise ConfigError(f"--allow-change {key}: {old_value} -> {new_value} is fewer than the {epochs_done} "
                              f"epochs already run; a resumed run can only extend")
    return shown


def _show(value: Any) -> str:
    return "(absent)" if value is None else repr(value)


def schedule_signature(obj: Any) -> dict[str, Any]:
    """The plain settings (numbers, strings, lists of them) of a method and its modulators, and of
    the plain objects they hold (e.g. the modulator's :class:`~g2d.SMP` schedule): what a built
    method decided from its options and the total epochs (e.g. SMP's phase boundaries)."""
    parts = [("method", obj)] + [(f"modulators[{i}].{type(m).__name__}", m)
                                 for i, m in enumerate(getattr(obj, "modulators", []))]
    out: dict[str, Any] = {}
    for name, part in parts:
        _plain_settings(name, part, out, depth=2)
    return out


def _plain_settings(name: str, part: Any, out: dict[str, Any], depth: int) -> None:
    """Record ``part``'s plain attributes under ``name``; descend into held objects that are neither
    torch modules nor tensors, ``depth`` levels at most."""
    import torch

    plain = (int, float, str, bool, type(None))
    for key, value in vars(part).items():
        if key == "epochs":  # the total itself is what changes; what was derived from it counts
            continue
        if isinstance(value, plain) or (isinstance(value, (list, tuple))
                                        and all(isinstance(v, plain) for v in value)):
            out[f"{name}.{key}"] = list(value) if isinstance(value, tuple) else value
        elif depth > 1 and hasattr(value, "__dict__") and not isinstance(value, (torch.nn.Module, torch.Tensor, type)):
            _plain_settings(f"{name}.{key}", value, out, depth - 1)
