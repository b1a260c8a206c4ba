"""Shared fixtures of the prepare tests: tiny raw downloads (built once per session) and a helper
that runs the CLI in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(scope="session")
def cremad_raw(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    from tests.prepare.rawmedia import make_cremad_raw

    root = tmp_path_factory.mktemp("cremad-raw")
    return root, make_cremad_raw(root)


def run_g2d(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m g2d.cli ARGS`` in a fresh process (this checkout's source first)."""
    full = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "g2d.cli", *args], capture_output=True, text=True, env=full,
                          timeout=timeout)
