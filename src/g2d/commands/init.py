"""``g2d init NAME [DEST]`` and ``g2d configs list | show NAME``: the example configs shipped inside
the package, to start an experiment from outside the repository."""
from __future__ import annotations

import argparse
import shutil
from importlib import resources
from pathlib import Path

from g2d.validation import ConfigError


def shipped_configs() -> dict[str, Path]:
    """``{"demo": .../configs/demo.yaml, "paper/avmnist": ..., ...}``: every example config in the package."""
    root = Path(str(resources.files("g2d") / "configs"))
    return {p.relative_to(root).with_suffix("").as_posix(): p for p in sorted(root.rglob("*.yaml"))}


def shipped_config(name: str) -> Path:
    configs = shipped_configs()
    key = name.removesuffix(".yaml")
    if key not in configs:
        raise ConfigError(f"no example config {name!r}; expected one of {sorted(configs)} (`g2d configs list`)")
    return configs[key]


def summary(path: Path) -> str:
    """The first comment line of a config file (what it is), or its data set."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def destination(name: str, dest: Path | None) -> Path:
    """``DEST`` as given (a folder gets ``NAME.yaml`` inside it); default ``./NAME.yaml``."""
    file_name = f"{Path(name.removesuffix('.yaml')).name}.yaml"
    if dest is None:
        return Path(file_name)
    return dest / file_name if dest.is_dir() or str(dest).endswith(("/", "\\")) else dest


def relative_data_paths(path: Path) -> list[str]:
    """The data path options of a config that are relative (they start at the config file's folder)."""
    from g2d import catalog
    from g2d.config import read_config_file
    from g2d.registry import path_fields

    data = read_config_file(path).get("data") or {}
    name, options = data.get("name", "synthetic"), data.get("options") or {}
    if name not in catalog.DATASETS:
        return []
    fields = path_fields(catalog.DATASETS.get(name).options)
    return [f"data.options.{f}: {options[f]}" for f in fields
            if isinstance(options.get(f), str) and not Path(options[f]).expanduser().is_absolute()]


def cmd_init(args: argparse.Namespace) -> int:
    source = shipped_config(args.name)
    target = destination(args.name, args.dest)
    if target.exists() and not args.force:
        raise ConfigError(f"{target} already exists; choose another DEST or pass --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    print(f"wrote {target} (example config {args.name!r})")
    paths = relative_data_paths(target)
    if paths:
        print("its data paths, relative to the file's folder — point them at your data:")
        for line in paths:
            print(f"  {line}")
    print(f"next: g2d teachers {target} --out runs/exp && g2d train {target} --out runs/exp")
    return 0


def cmd_configs(args: argparse.Namespace) -> int:
    if args.action == "list":
        configs = shipped_configs()
        width = max(len(n) for n in configs)
        for name, path in configs.items():
            print(f"{name:<{width}}  {summary(path)}")
        print("\n`g2d init NAME [DEST]` copies one; `g2d configs show NAME` prints it.")
        return 0
    if args.name is None:
        raise ConfigError("g2d configs show: name the config, e.g. `g2d configs show demo`")
    print(shipped_config(args.name).read_text(encoding="utf-8"), end="")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="copy an example config (e.g. demo) to start an experiment")
    p.add_argument("name", help="example config: demo, manifest, mfeat, paper/avmnist, … (`g2d configs list`)")
    p.add_argument("dest", nargs="?", type=Path, default=None,
                   help="file or existing folder to write (default ./NAME.yaml)")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(handler=cmd_init)
    p = sub.add_parser("configs", help="list or print the example configs shipped with g2d")
    p.add_argument("action", choices=["list", "show"], help="list: every example; show NAME: print one")
    p.add_argument("name", nargs="?", default=None, help="for show: the example's name")
    p.set_defaults(handler=cmd_configs)
