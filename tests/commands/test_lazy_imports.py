"""Parsing the command line imports neither torch nor a benchmark: `g2d --help` answers at once."""
from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = """
import contextlib, io, sys
import g2d.cli
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        g2d.cli.main({argv!r})
    except SystemExit as stop:
        assert stop.code == 0, stop.code
assert out.getvalue().startswith("usage: g2d"), out.getvalue()[:200]
heavy = sorted(m for m in sys.modules if m in ("torch", "av") or m.startswith(("torch.", "g2d.bench", "g2d.api", "g2d.prepare")))
print(heavy)
"""


def test_import_g2d_is_light_and_names_its_public_api():
    check = ("import sys, g2d; assert g2d.__version__; "
             "assert {'G2DLoss', 'SMP', 'TeacherCache', 'G2DLossOutput'} <= set(g2d.__all__); "
             "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'pydantic'))))")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("argv", [["--help"], ["methods", "--help"], ["init", "--help"], ["train", "--help"], ["teachers", "--help"], ["demo", "--help"],
                                  ["bench", "--help"], ["tune", "--help"], ["report", "--help"],
                                  ["cache", "--help"], ["evaluate", "--help"], ["diagnose", "--help"],
                                  ["prepare", "--help"]])
def test_help_imports_no_torch_and_no_benchmark(argv):
    done = subprocess.run([sys.executable, "-c", CHECK.format(argv=argv)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_benchmark_still_parses_its_own_options():
    from g2d.commands.bench import BENCHMARKS, benchmark_parser

    for name in BENCHMARKS:
        assert benchmark_parser(name).prog == f"g2d bench {name}"
    args = benchmark_parser("speed").parse_args(["--steps", "3", "--skip-input"])
    assert (args.steps, args.skip_input, args.rounds) == (3, True, 11)
