"""Executors (:mod:`g2d.executors`): resumable cells, failures reported by name, and the same
cells whatever the executor (in-process, a local process pool, Ray)."""
from __future__ import annotations

import builtins
import json
from pathlib import Path

import pytest

from g2d.api import MethodSpec
from g2d.bench.grid import run_grid
from g2d.executors import Cell, ExecutorOptions, run_cells
from g2d.validation import ConfigError, G2DError
from tests.conftest import tiny_config

CALLS: list[str] = []


def square(cell: Cell) -> dict[str, int]:
    CALLS.append(cell.name)
    if cell.payload["x"] < 0:
        raise ValueError(f"negative input {cell.payload['x']}")
    return {"y": cell.payload["x"] ** 2}


def test_finished_cells_are_read_back_not_recomputed(tmp_path: Path) -> None:
    CALLS.clear()
    cells = [Cell(f"c{i}", {"x": i}) for i in range(3)]
    first = run_cells(cells, square, out_dir=tmp_path, log=None)
    assert first.results == {"c0": {"y": 0}, "c1": {"y": 1}, "c2": {"y": 4}} and first.reused == []
    record = json.loads((tmp_path / "cells" / "c2.json").read_text())
    assert record == {"cell": "c2", "payload": {"x": 2}, "result": {"y": 4}}
    again = run_cells(cells + [Cell("c3", {"x": 3})], square, out_dir=tmp_path, log=None)
    assert CALLS == ["c0", "c1", "c2", "c3"]  # only the new cell ran
    assert again.reused == ["c0", "c1", "c2"] and again.results["c3"] == {"y": 9}


def test_a_cell_with_a_changed_payload_is_recomputed(tmp_path: Path) -> None:
    CALLS.clear()
    run_cells([Cell("c", {"x": 2})], square, out_dir=tmp_path, log=None)
    grid = run_cells([Cell("c", {"x": 5})], square, out_dir=tmp_path, log=None)
    assert CALLS == ["c", "c"] and grid.results == {"c": {"y": 25}}


def test_a_failed_cell_is_reported_by_name_and_the_others_run(tmp_path: Path) -> None:
    messages: list[str] = []
    cells = [Cell("ok-1", {"x": 1}), Cell("bad", {"x": -1}), Cell("ok-2", {"x": 2})]
    grid = run_cells(cells, square, out_dir=tmp_path, log=messages.append)
    assert grid.results == {"ok-1": {"y": 1}, "ok-2": {"y": 4}}
    assert list(grid.failed) == ["bad"]
    assert grid.failed["bad"].startswith("ValueError: negative input -1 (traceback: ")
    assert "Traceback" in (tmp_path / "cells" / "bad.error.txt").read_text()
    assert "[cells] 0/3 done, 0 running, 0 failed" in messages
    assert "[cells] 1/3 done, 0 running, 1 failed (FAILED bad)" in messages
    assert messages[-1] == "[cells] 2 cells done (0 from an earlier run), 1 failed: bad"
    # the failure is not remembered as a result: the next run retries it
    assert not (tmp_path / "cells" / "bad.json").exists()


def test_cell_names_must_be_unique_file_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"repeated: \['a'\]"):
        run_cells([Cell("a", {}), Cell("a", {})], square, out_dir=tmp_path, log=None)
    with pytest.raises(ValueError, match="not usable: \\['a/b'\\]"):
        run_cells([Cell("a/b", {})], square, out_dir=tmp_path, log=None)


def test_bad_executor_options_name_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--executor: unknown executor 'dask'; expected one of \['local', 'ray'\]"):
        run_cells([], square, out_dir=tmp_path, executor="dask")
    with pytest.raises(ConfigError, match="--workers: expected at least 1 worker, got 0"):
        run_cells([], square, out_dir=tmp_path, workers=0)


def test_ray_missing_says_how_to_install_it(tmp_path: Path, monkeypatch) -> None:
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(G2DError, match=r"executor 'ray' needs Ray, which is not installed: install it with "
                                       r"`pip install 'g2d\[ray\]'`"):
        run_cells([Cell("a", {"x": 1})], square, out_dir=tmp_path, executor="ray")


def _strip_timing(summaries: list[dict]) -> list[dict]:
    out = json.loads(json.dumps(summaries))
    for s in out:
        s.pop("teachers_wall_s", None)
        for m in s["methods"].values():
            m.pop("wall_s")
    return out


def test_a_grid_gives_identical_cells_in_process_on_a_local_pool_and_on_ray(tmp_path: Path) -> None:
    """2 methods x 2 seeds: bit-identical metrics whatever runs the cells (CPU, one thread each)."""
    config = tiny_config(student__epochs=2, teachers__epochs=1)
    methods = [MethodSpec.parse("joint"), MethodSpec.parse("g2d")]
    serial = run_grid(config, methods, [0, 1], tmp_path / "serial", run=ExecutorOptions("local", 1, 1))
    pool = run_grid(config, methods, [0, 1], tmp_path / "pool", run=ExecutorOptions("local", 2, 1))
    assert _strip_timing(pool) == _strip_timing(serial)
    assert sorted(p.name for p in (tmp_path / "pool" / "cells").glob("*.json")) == [
        "seed-0.g2d.json", "seed-0.joint.json", "seed-0.teachers.json",
        "seed-1.g2d.json", "seed-1.joint.json", "seed-1.teachers.json"]
    assert serial[0]["methods"]["g2d"]["test"] != serial[1]["methods"]["g2d"]["test"]  # seeds differ
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.skip("ray is not installed (pip install 'g2d[ray]'); the local pool matched in-process")
    on_ray = run_grid(config, methods, [0, 1], tmp_path / "ray", run=ExecutorOptions("ray", 2, 1))
    assert _strip_timing(on_ray) == _strip_timing(serial)


class _Ref:
    def __init__(self, value) -> None:
        self.value = value


class _FakeRay:
    """Enough of Ray's API to count instances: tasks run at once, in this process."""

    def __init__(self) -> None:
        self.inits = self.shutdowns = 0
        self.up = False

    def is_initialized(self) -> bool:
        return self.up

    def init(self, **kwargs) -> None:
        self.inits, self.up = self.inits + 1, True

    def shutdown(self) -> None:
        self.shutdowns, self.up = self.shutdowns + 1, False

    def remote(self, fn):
        task = type("Task", (), {})()
        task.options = lambda **resources: task
        task.remote = lambda *args: _Ref(fn(*args))
        return task

    def wait(self, refs, num_returns):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        return ref.value


def test_a_session_keeps_one_ray_instance_for_several_rounds(tmp_path: Path, monkeypatch) -> None:
    import sys

    fake = _FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    run = ExecutorOptions("ray", 2, 1, log=None)
    with run.session():
        first = run.run([Cell("a", {"x": 1})], square, tmp_path)
        second = run.run([Cell("b", {"x": 2})], square, tmp_path)
        assert (fake.inits, fake.shutdowns) == (1, 0)  # the second round found Ray up
    assert (fake.inits, fake.shutdowns) == (1, 1)  # closed with the session
    assert first.results == {"a": {"y": 1}} and second.results == {"b": {"y": 4}}
    run.run([Cell("c", {"x": 3})], square, tmp_path)  # outside a session: started and shut down per call
    assert (fake.inits, fake.shutdowns) == (2, 2)
    with run.session():
        run.run([Cell("a", {"x": 1})], square, tmp_path)  # finished earlier: Ray is not started at all
    assert fake.inits == 2
