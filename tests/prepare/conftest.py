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


def train_on_prepared(config: dict, prepared: Path, tmp_path: Path) -> Path:
    """Write ``config`` to a file and run ``g2d teachers`` then ``g2d train`` on it through the CLI,
    with the data root set to the ``prepared`` folder on the command line; returns the run folder."""
    import yaml

    from g2d.cli import main

    path, run = tmp_path / "experiment.yaml", tmp_path / "run"
    path.write_text(yaml.safe_dump(config))
    root = f"data.options.root={prepared}"
    assert main(["teachers", str(path), "--out", str(run), "--set", root, "--quiet"]) == 0
    assert main(["train", str(path), "--out", str(run), "--set", root, "--quiet"]) == 0
    return run
