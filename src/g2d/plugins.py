"""Plugins: the user's own pieces (encoders, fusions, methods, modulators, data sets) from outside
the package, registered exactly like the built-in ones.

Three ways in:

- the config's ``plugins:`` list — Python modules (``my_lab.encoders``) or ``.py`` files (relative
  to the config file's folder) imported before the config is validated, so the names they register
  are known to it. File paths are stored resolved (absolute) in the validated config, and the run
  folder records every plugin with the SHA-256 of its source (``RUN/plugins.json``, file plugins
  copied to ``RUN/plugins/``), so the run can be repeated and a changed plugin noticed;
- the entry-point group ``g2d.plugins`` of installed packages (``[project.entry-points."g2d.plugins"]
  my_lab = "my_lab.g2d_plugin"``): each is loaded when the registries are first filled; a value that
  names a callable (``"my_lab:register"``) is also called once, without arguments;
- the Python API: an ``nn.Module`` in place of an encoder's ``{name, options}`` and a torch
  ``Dataset`` (or ``{"train": ..., "val": ..., "test": ...}``) in place of ``data.name`` (see
  :func:`replace_objects`).

A plugin that cannot be found or fails while importing is a :class:`~g2d.validation.ConfigError`
naming it; importing the same plugin twice is a no-op (its registrations happen once).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import pkgutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from g2d.validation import ConfigError, G2DError

ENTRY_POINT_GROUP = "g2d.plugins"


def import_submodules(package_name: str, package_path: list[str], skip: set[str] = frozenset()) -> None:
    """Import every module of a package, so that writing one module registers one piece."""
    for info in pkgutil.iter_modules(package_path):
        if not info.name.startswith("_") and info.name not in skip:
            importlib.import_module(f"{package_name}.{info.name}")


@dataclass(frozen=True)
class PluginRecord:
    """What was imported, from where, and the hash of its source (for the run folder)."""

    spec: str  # as written in the config (resolved path for files) or the entry point's value
    kind: str  # "file" | "module" | "entry point"
    source: str | None  # the file that was imported (None for a namespace package)
    sha256: str | None
    distribution: str | None = None  # entry points: "name version" of the installed package


_loaded: dict[str, PluginRecord] = {}  # resolved spec -> record, in import order


def is_file_spec(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def resolve_spec(spec: str, base_dir: Path | None) -> str:
    """A file plugin's absolute path (relative ones against ``base_dir``, else the working folder);
    a module name unchanged."""
    if not is_file_spec(spec):
        return spec
    path = Path(spec).expanduser()
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    return str(path.resolve())


def file_sha256(path: str | Path | None) -> str | None:
    if path is None or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_plugins(specs: list[str], base_dir: Path | None = None, where: str = "plugins") -> list[str]:
    """Import each plugin (once); return the resolved specs, in order, for the validated config."""
    resolved = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, str) or not spec.strip():
            raise ConfigError(f"{where}[{i}]: expected a module name or a .py file path, got {spec!r}")
        full = resolve_spec(spec.strip(), base_dir)
        if full not in _loaded:
            _loaded[full] = import_file(full, f"{where}[{i}]") if is_file_spec(full) else \
                import_module(full, f"{where}[{i}]")
        resolved.append(full)
    return resolved


#: what a plugin may raise while importing that is reported as its failure: every error, and a
#: ``sys.exit()`` (which would otherwise end g2d silently with the plugin's exit code)
PLUGIN_FAILURES = (Exception, SystemExit)


def _import_failed(what: str, where: str, err: BaseException) -> ConfigError:
    return ConfigError(f"{where}: importing plugin {what} failed: {describe_failure(err)}")


def describe_failure(err: BaseException) -> str:
    """``TypeError: message``; a ``sys.exit(code)`` as what it is."""
    if isinstance(err, SystemExit):
        return f"it called sys.exit({err.code!r}) (a plugin must not exit; raise an error instead)"
    return f"{type(err).__name__}: {err}"


def import_file(path: str, where: str) -> PluginRecord:
    from g2d.paths import require_file

    file = require_file(path, f"{where}: plugin file", ConfigError)
    digest = file_sha256(file)
    name = f"g2d_plugin_{file.stem}_{digest[:12]}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{where}: {path!r} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except G2DError:
        sys.modules.pop(name, None)
        raise
    except PLUGIN_FAILURES as err:  # the plugin's own error, shown with its name
        sys.modules.pop(name, None)
        raise _import_failed(repr(path), where, err) from err
    return PluginRecord(path, "file", str(file), digest)


def import_module(name: str, where: str) -> PluginRecord:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name and name.startswith(err.name):
            raise ConfigError(f"{where}: no plugin module {name!r} (not importable from sys.path; "
                              f"a file needs a .py suffix or a path)") from None
        raise _import_failed(repr(name), where, err) from err
    except G2DError:
        raise
    except PLUGIN_FAILURES as err:
        raise _import_failed(repr(name), where, err) from err
    source = getattr(module, "__file__", None)
    return PluginRecord(name, "module", source, file_sha256(source))


def load_entry_points() -> list[PluginRecord]:
    """Load every ``g2d.plugins`` entry point of the installed packages (once each)."""
    records = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        key = f"entry point {ep.name}={ep.value}"
        if key in _loaded:
            continue
        dist = f"{ep.dist.name} {ep.dist.version}" if getattr(ep, "dist", None) else None
        try:
            target = ep.load()
            if inspect.isfunction(target):
                target()
        except G2DError:
            raise
        except PLUGIN_FAILURES as err:
            raise ConfigError(f"entry point {ep.name!r} ({ep.value}) of group {ENTRY_POINT_GROUP!r}"
                              f"{f' from {dist}' if dist else ''} failed: {describe_failure(err)}") from err
        module = sys.modules.get(ep.module)
        source = getattr(module, "__file__", None)
        _loaded[key] = PluginRecord(ep.value, "entry point", source, file_sha256(source), dist)
        records.append(_loaded[key])
    return records


def loaded_records(specs: list[str]) -> list[dict[str, Any]]:
    """Records of the config's plugins and of every entry-point plugin, for ``RUN/plugins.json``."""
    chosen = [_loaded[s] for s in specs if s in _loaded]
    chosen += [r for r in _loaded.values() if r.kind == "entry point"]
    return [asdict(r) for r in chosen]
