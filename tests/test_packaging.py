"""The wheel stands alone: built from the source tree, installed into a fresh virtual environment and
used from a folder outside the checkout — `python -m g2d --version`, `g2d init demo`, a 2-epoch
`teachers` + `train` on it, and the public API at `g2d.*`. The new environment gets g2d only from the
wheel; its dependencies (torch, numpy, …) come from this interpreter's site-packages through a `.pth`
line, so nothing is downloaded."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--set", "teachers.epochs=2", "--set", "student.epochs=2", "--set", "method.options.phases=[1]", "--quiet"]


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{argv}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> tuple[Path, dict[str, str], Path]:
    """(the new environment's bin folder, an environment without PYTHONPATH, a work folder outside the checkout)."""
    tmp = tmp_path_factory.mktemp("wheel")
    tree = tmp / "tree"  # build from a copy, so the checkout gets no build/ or egg-info
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(tree),
         "-w", str(tmp / "dist")], tmp, env)
    wheel, = (tmp / "dist").glob("g2d-*.whl")
    env_dir = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], tmp, env)
    python = env_dir / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
         str(wheel)], tmp, env)
    purelib = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       tmp, env).stdout.strip())
    (purelib / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp / "elsewhere"
    work.mkdir()
    return env_dir / "bin", env, work


def test_the_wheel_carries_the_configs_the_licence_and_the_typing_marker(venv):
    bin_dir, env, work = venv
    where = run([str(bin_dir / "python"), "-c", "import g2d, pathlib; p = pathlib.Path(g2d.__file__).parent; "
                 "print(p); print((p / 'py.typed').is_file(), (p / 'configs' / 'demo.yaml').is_file())"], work, env)
    package, flags = where.stdout.splitlines()
    assert Path(package).is_relative_to(bin_dir.parent), f"g2d imported from {package}, not the wheel"
    assert flags == "True True"
    licences = list(bin_dir.parent.glob("lib/python*/site-packages/g2d-*.dist-info/licenses/LICENSE"))
    assert licences and "MIT License" in licences[0].read_text()


def test_from_outside_the_checkout_init_teachers_train(venv):
    bin_dir, env, work = venv
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert run([str(bin_dir / "python"), "-m", "g2d", "--version"], work, env).stdout.strip() == f"g2d {version}"
    run([str(bin_dir / "g2d"), "init", "demo"], work, env)
    assert (work / "demo.yaml").read_text() == (ROOT / "configs" / "demo.yaml").read_text()
    run([str(bin_dir / "g2d"), "teachers", "demo.yaml", "--out", "run", *QUICK], work, env)
    run([str(bin_dir / "g2d"), "train", "demo.yaml", "--out", "run", *QUICK], work, env)
    result = (work / "run" / "students" / "g2d" / "result.json")
    assert result.is_file() and len((work / "run" / "students" / "g2d" / "metrics.jsonl").read_text().splitlines()) == 2
    listed = run([str(bin_dir / "g2d"), "methods", "g2d"], work, env).stdout
    assert "max_phase" in listed and "margin: float = 0.1" in listed


def test_the_public_api_is_at_the_top_of_the_installed_package(venv):
    bin_dir, env, work = venv
    run([str(bin_dir / "python"), "-c", "import g2d; g2d.G2DLoss(); g2d.SMP(['a', 'b'], epochs=4); g2d.TeacherCache; g2d.TeacherOutputs"], work, env)
