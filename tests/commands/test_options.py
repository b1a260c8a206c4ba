"""Every command's options: help text on each, one --threads default, one --seeds format."""
from __future__ import annotations

import argparse

import pytest

from g2d.cli import build_parser
from g2d.commands import DEFAULT_THREADS, parse_seeds
from g2d.commands.bench import benchmark_parser
from g2d.validation import ConfigError


def commands(parser: argparse.ArgumentParser, prefix: str = "g2d"):
    """(command line, parser) of every (sub)command; a benchmark's own parser (built only when it runs)
    stands for its stub under ``g2d bench``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, f"{prefix} {name}")
            return
    if prefix.startswith("g2d bench "):
        parser = benchmark_parser(prefix.removeprefix("g2d bench "))
    yield prefix, parser


ALL = list(commands(build_parser()))


def test_every_option_of_every_command_has_help_text() -> None:
    missing = [f"{cmd} {a.option_strings[0] if a.option_strings else a.dest}" for cmd, p in ALL
               for a in p._actions if not isinstance(a, argparse._HelpAction) and not a.help]
    assert missing == []


def test_every_command_with_threads_defaults_to_the_same_number() -> None:
    defaults = {cmd: a.default for cmd, p in ALL for a in p._actions if "--threads" in a.option_strings}
    assert {"g2d teachers", "g2d cache", "g2d train", "g2d evaluate", "g2d report", "g2d demo", "g2d tune",
            "g2d bench methods", "g2d bench table1", "g2d bench fusion", "g2d bench speed"} <= set(defaults)
    assert set(defaults.values()) == {DEFAULT_THREADS}


def test_seeds_are_comma_separated_everywhere() -> None:
    seeded = {cmd: p for cmd, p in ALL for a in p._actions if "--seeds" in a.option_strings}
    assert {"g2d bench methods", "g2d bench table1", "g2d bench fusion", "g2d bench real-digits"} <= set(seeded)
    for cmd, parser in seeded.items():
        action = next(a for a in parser._actions if "--seeds" in a.option_strings)
        assert action.nargs is None and "comma-separated" in action.help, cmd
    assert parse_seeds("0, 1,2") == [0, 1, 2]
    with pytest.raises(ConfigError, match=r"--seeds: expected comma-separated integers, e.g. 0,1,2; got '0 1'"):
        parse_seeds("0 1")


def test_out_is_a_folder_everywhere() -> None:
    outs = {cmd: a for cmd, p in ALL for a in p._actions if "--out" in a.option_strings}
    not_folders = [cmd for cmd, a in outs.items() if "folder" not in a.help]
    assert not_folders == []


def test_quiet_on_every_command_that_prints_progress_or_notes() -> None:
    quiet = {cmd for cmd, p in ALL for a in p._actions if "--quiet" in a.option_strings}
    assert {"g2d teachers", "g2d cache", "g2d train", "g2d evaluate", "g2d report", "g2d demo", "g2d tune",
            "g2d bench methods", "g2d bench table1", "g2d bench fusion"} <= quiet
