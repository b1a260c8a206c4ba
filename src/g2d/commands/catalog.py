"""``g2d methods | fusions | encoders | datasets | modulators [NAME]``: what is registered, and every
option of one piece with its type, default and description (read from its options model)."""
from __future__ import annotations

import argparse

#: subcommand -> (attribute of g2d.catalog, what it lists)
KINDS = {
    "methods": ("METHODS", "training methods (method.name)"),
    "fusions": ("FUSIONS", "fusion modules (model.fusion.name)"),
    "encoders": ("ENCODERS", "encoders (model.encoders.<modality>.name)"),
    "datasets": ("DATASETS", "data sets (data.name)"),
    "modulators": ("MODULATORS", "gradient modulators (method.modulators[i].name)"),
}


def cmd_list(args: argparse.Namespace) -> int:
    from g2d import catalog
    from g2d.describe import format_entry, format_list
    from g2d.validation import ConfigError

    registry = getattr(catalog, KINDS[args.command][0])
    if args.name is None:
        print(format_list(registry))
        print(f"\n`g2d {args.command} NAME` prints one with every option.")
        return 0
    if args.name not in registry:
        raise ConfigError(f"g2d {args.command}: unknown {registry.kind} {args.name!r}; expected one of "
                          f"{registry.names()}")
    print(format_entry(registry, args.name))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    for command, (_, what) in KINDS.items():
        p = sub.add_parser(command, help=f"list the {what}, or one with its options")
        p.add_argument("name", nargs="?", default=None, help="one of them: its description and every option")
        p.set_defaults(handler=cmd_list)
