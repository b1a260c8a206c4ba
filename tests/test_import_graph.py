"""The import graph of src/g2d (scripts/import_cycles.py, function-level imports included): no cycle,
and nothing in the library core imports the CLI or the benchmarks."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_import_cycles_and_no_core_imports_of_cli_or_bench():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "import_cycles.py"), str(ROOT / "src")],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines() == ["import cycles (strongly connected components > 1 module): 0",
                                        "imports from the core into the CLI or the benchmarks: 0"], done.stdout
    assert done.returncode == 0


def test_the_script_finds_a_cycle_and_an_upward_import(tmp_path):
    pkg = tmp_path / "g2d"
    (pkg / "bench").mkdir(parents=True)
    (pkg / "a.py").write_text("def f():\n    from g2d import b\n")
    (pkg / "b.py").write_text("from g2d.a import f\nfrom g2d.bench import tool\n")
    (pkg / "bench" / "__init__.py").write_text("")
    (pkg / "bench" / "tool.py").write_text("")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "import_cycles.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "import cycles (strongly connected components > 1 module): 1",
        "  2 modules, 2 imports among them: g2d.a, g2d.b",
        "imports from the core into the CLI or the benchmarks: 2",
        "  g2d.b -> g2d.bench", "  g2d.b -> g2d.bench.tool"]
