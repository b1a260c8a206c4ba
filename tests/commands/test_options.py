"""Every command's options: help text on each, one --threads default, one --seeds format."""
from __future__ import annotations

import argparse

import pytest

from g2d.cli import build_parser
from g2d.commands import DEFAULT_THREADS, NumberType, parse_seeds
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


# ---- every numeric option is checked at parse time --------------------------------------------

NUMERIC = [(cmd, a) for cmd, p in ALL for a in p._actions
           if a.option_strings and (a.type in (int, float) or isinstance(a.type, NumberType))]


def test_every_numeric_option_has_a_checked_range() -> None:
    unchecked = [f"{cmd} {a.option_strings[0]}" for cmd, a in NUMERIC if not isinstance(a.type, NumberType)]
    assert unchecked == []
    assert len(NUMERIC) > 40  # the commands' and the benchmarks' options are all seen


def bad_values(kind: NumberType) -> list[str]:
    """Values a checked option must refuse: below its range, above it, overflowing int64, not finite."""
    values = ["abc"]
    if kind.low is not None:
        low = kind.low
        values.append(str(low) if kind.low_open else str(low - 1 if kind.kind is int else low - 0.5))
    if kind.high is not None:
        values.append(str(kind.high + 1) if kind.kind is int else str(kind.high + 0.5))
    if kind.kind is int:
        values += [str(2**63), "1.5"]
    else:
        values += ["nan", "inf"]
    return values


@pytest.mark.parametrize("cmd, action", NUMERIC, ids=[f"{c} {a.option_strings[0]}" for c, a in NUMERIC])
def test_numeric_option_refuses_out_of_range_values_naming_itself(cmd, action, capsys) -> None:
    parser = next(p for c, p in ALL if c == cmd)
    for value in bad_values(action.type):
        required = positional_args(parser)
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args([*required, f"{action.option_strings[0]}={value}"])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert f"argument {'/'.join(action.option_strings)}: expected" in err, (value, err)
    if action.default is not None:  # the default itself is in range
        defaults = action.default if isinstance(action.default, list) else [action.default]
        for value in defaults:
            assert action.type(str(value)) == value


def positional_args(parser: argparse.ArgumentParser) -> list[str]:
    """Stand-ins for the parser's positional arguments (parsing stops at the bad option anyway)."""
    return [next(iter(a.choices)) if a.choices else "x.yaml" for a in parser._actions
            if not a.option_strings and a.nargs in (None, "?") and a.dest != "help"
            and not isinstance(a, argparse._SubParsersAction)][:1]


def test_a_negative_prune_age_is_refused_before_anything_is_deleted(tmp_path, capsys) -> None:
    from g2d.cli import main

    (tmp_path / "entry").mkdir()
    with pytest.raises(SystemExit) as exit_:
        main(["cache", "--prune", "--older-than", "-1", "--cache-dir", str(tmp_path)])
    assert exit_.value.code == 2
    assert "argument --older-than: expected a finite number >= 0.0, got '-1'" in capsys.readouterr().err
    assert (tmp_path / "entry").exists()


def test_seeds_overflowing_int64_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"--seeds: every seed must be in \[0, 2\^63-1\]"):
        parse_seeds(f"0,{2**63}")
    with pytest.raises(ConfigError, match="--seeds: every seed"):
        parse_seeds("-1")


def test_config_seed_overflowing_int64_is_refused_naming_the_set_option(tmp_path, capsys) -> None:
    from g2d.cli import main

    from conftest import tiny_config

    (tmp_path / "c.yaml").write_text(tiny_config().to_yaml())
    code = main(["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "run"), "--set", f"seed={2**64}"])
    err = capsys.readouterr().err
    assert code == 2 and f"--set seed={2**64}" in err and "seed: Input should be less than or equal to" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["..", "../x", "a/b", ".hidden", ""])
def test_train_name_is_one_path_component_at_parse_time(name, capsys) -> None:
    parser = next(p for c, p in ALL if c == "g2d train")
    with pytest.raises(SystemExit):
        parser.parse_args(["x.yaml", "--name", name])
    assert "argument --name:" in capsys.readouterr().err


# ---- every --out is checked when the command line is read ---------------------------------------

OUTS = [(cmd, a) for cmd, p in ALL for a in p._actions if "--out" in a.option_strings]


def test_every_out_option_is_a_checked_folder() -> None:
    from g2d.commands import FolderOption

    assert len(OUTS) >= 12
    assert [cmd for cmd, a in OUTS if not isinstance(a.type, FolderOption)] == []


@pytest.mark.parametrize("cmd, action", OUTS, ids=[c for c, _ in OUTS])
def test_out_that_is_a_file_is_refused_at_parse_time(cmd, action, tmp_path, capsys) -> None:
    parser = next(p for c, p in ALL if c == cmd)
    (tmp_path / "file").write_text("x")
    for bad, phrase in ((tmp_path / "file", "is an existing file; expected a folder"),
                        (tmp_path / "file" / "run", f"{tmp_path / 'file'} is a file, not a folder")):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args([*positional_args(parser), "--out", str(bad)])
        assert exit_.value.code == 2
        assert f"argument --out: {bad}: {phrase}" in capsys.readouterr().err
