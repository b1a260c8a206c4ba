"""Run the independent cells of a grid (benchmarks, tuning, evidence suites) on an executor.

:func:`run_cells` is the one entry point::

    grid = run_cells(cells, worker_fn, executor="local", workers=4, threads=1, out_dir=RUN)
    grid.results["seed-0.g2d"]      # what worker_fn returned for that cell
    grid.failed                     # cell name -> error message (the other cells still ran)

- ``local``: a pool of ``workers`` processes on this machine (spawn context), each with its own
  torch thread budget (``torch.set_num_threads(threads)`` inside the worker); ``workers=1`` runs
  the cells one after another in this process.
- ``ray``: one Ray task per cell, declaring the cell's ``num_cpus``/``num_gpus``; on the cluster at
  ``address`` (or ``$RAY_ADDRESS``), else on a local Ray instance with ``workers`` CPUs. Ray is an
  optional extra (``pip install 'g2d[ray]'``). On several machines the run folder must be on a
  file system every node sees, and g2d installed on every node.

Cells are resumable: a finished cell's result is written atomically to
``out_dir/cells/<name>.json`` (with the payload that produced it) and is read back instead of
recomputed when the same cell (same name and payload) is run again. A failed cell's traceback goes
to ``out_dir/cells/<name>.error.txt``; it is reported by name and does not stop the others. The
worker function must be importable (a module-level function) and its result JSON-serialisable.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from contextlib import contextmanager
from contextvars import ContextVar
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterator

from g2d import io
from g2d.validation import ConfigError, G2DError

EXECUTORS = ("local", "ray")
RAY_INSTALL_HINT = "install it with `pip install 'g2d[ray]'` (or `pip install ray`)"

WorkerFn = Callable[["Cell"], Any]


@dataclass(frozen=True)
class Cell:
    """One independent unit of work: a unique, file-name-safe ``name``, the JSON-able ``payload``
    the worker function reads, and the resources it declares to Ray."""

    name: str
    payload: dict[str, Any]
    num_cpus: float = 1.0
    num_gpus: float = 0.0


@dataclass
class GridResult:
    results: dict[str, Any] = field(default_factory=dict)  # cell name -> the worker's result
    failed: dict[str, str] = field(default_factory=dict)  # cell name -> error message
    reused: list[str] = field(default_factory=list)  # cells read from an earlier run

    def summary(self) -> str:
        return (f"{len(self.results)} cells done ({len(self.reused)} from an earlier run), "
                f"{len(self.failed)} failed" + (f": {', '.join(self.failed)}" if self.failed else ""))


def stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_cells(cells: list[Cell], worker_fn: WorkerFn, *, out_dir: str | Path, executor: str = "local",
              workers: int = 1, threads: int = 1, address: str | None = None,
              log: Callable[[str], None] | None = stderr_log) -> GridResult:
    """Run every cell not finished by an earlier run; see the module docstring."""
    check_executor(executor, workers)
    _check_names(cells)
    folder = Path(out_dir) / "cells"
    folder.mkdir(parents=True, exist_ok=True)
    grid = GridResult()
    todo = []
    for cell in cells:
        done = _finished(folder, cell)
        if done is not None:
            grid.results[cell.name] = done["result"]
            grid.reused.append(cell.name)
        else:
            todo.append(cell)
    progress = _Progress(len(cells), grid, log)
    progress.show()
    outcomes = (_run_ray(todo, worker_fn, workers, threads, address, progress) if executor == "ray"
                else _run_local(todo, worker_fn, workers, threads, progress))
    for cell, ok, value in outcomes:
        _record(folder, cell, ok, value, grid)
        progress.finished(cell.name)
    if log is not None:
        log(f"[cells] {grid.summary()}")
    return grid


def check_executor(executor: str, workers: int) -> None:
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor: unknown executor {executor!r}; expected one of {list(EXECUTORS)}")
    if workers < 1:
        raise ConfigError(f"--workers: expected at least 1 worker, got {workers}")
    if executor == "ray":
        _import_ray()


def _check_names(cells: list[Cell]) -> None:
    names = [c.name for c in cells]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"run_cells: cell names must be unique; repeated: {duplicates}")
    bad = [n for n in names if not n or "/" in n or os.sep in n or n.startswith(".")]
    if bad:
        raise ValueError(f"run_cells: cell names become file names; not usable: {bad}")


def _finished(folder: Path, cell: Cell) -> dict[str, Any] | None:
    """The stored record of ``cell`` when an earlier run finished it with the same payload."""
    path = folder / f"{cell.name}.json"
    if not path.exists():
        return None
    try:
        record = io.read_json(path)
    except (OSError, json.JSONDecodeError):
        return None  # unreadable: recompute (writes are atomic, so this is not a half-written file)
    return record if record.get("payload") == _jsonable(cell.payload) else None


def _record(folder: Path, cell: Cell, ok: bool, value: Any, grid: GridResult) -> None:
    error_file = folder / f"{cell.name}.error.txt"
    if ok:
        io.write_json(folder / f"{cell.name}.json", {"cell": cell.name, "payload": cell.payload, "result": value})
        error_file.unlink(missing_ok=True)
        grid.results[cell.name] = value
    else:
        io.write_text(error_file, value)
        lines = [line for line in str(value).strip().splitlines() if line.strip()]
        grid.failed[cell.name] = (lines[-1] if lines else "failed") + f" (traceback: {error_file})"


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def execute_cell(worker_fn: WorkerFn, cell: Cell, threads: int) -> tuple[bool, Any]:
    """Run one cell in a worker: (True, result) or (False, the traceback as text)."""
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    try:
        return True, _jsonable(worker_fn(cell))
    except Exception:  # noqa: BLE001 — a failed cell is reported, the grid goes on
        return False, traceback.format_exc()


class _Progress:
    """``[cells] 3/8 done, 2 running, 1 failed`` on every change."""

    def __init__(self, total: int, grid: GridResult, log: Callable[[str], None] | None) -> None:
        self.total, self.grid, self.log, self.running = total, grid, log, 0

    def started(self, name: str) -> None:
        self.running += 1
        self.show(f"started {name}")

    def finished(self, name: str) -> None:
        self.running -= 1
        self.show(("FAILED " if name in self.grid.failed else "finished ") + name)

    def show(self, event: str = "") -> None:
        if self.log is not None:
            self.log(f"[cells] {len(self.grid.results)}/{self.total} done, {self.running} running, "
                     f"{len(self.grid.failed)} failed" + (f" ({event})" if event else ""))


Outcome = tuple[Cell, bool, Any]

#: Inside :meth:`ExecutorOptions.session`: the Ray modules started there (shut down when it closes).
_RAY_KEPT_BY_SESSION: ContextVar[list[Any] | None] = ContextVar("g2d_ray_kept_by_session", default=None)


def _run_local(cells: list[Cell], worker_fn: WorkerFn, workers: int, threads: int,
               progress: _Progress) -> Iterator[Outcome]:
    if workers == 1:
        for cell in cells:
            progress.started(cell.name)
            yield (cell, *execute_cell(worker_fn, cell, threads))
        return
    pending = list(reversed(cells))
    while pending:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            inflight: dict[Future, Cell] = {}
            try:
                while pending or inflight:
                    while pending and len(inflight) < workers:
                        cell = pending.pop()
                        inflight[pool.submit(execute_cell, worker_fn, cell, threads)] = cell
                        progress.started(cell.name)
                    done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield (inflight.pop(future), *future.result())
            except BrokenProcessPool:
                # A worker died (killed, out of memory, crashed in C): which cell did it is unknown,
                # so every cell in flight is reported failed; the rest go to a fresh pool.
                for cell in inflight.values():
                    yield cell, False, "a worker process died while running this cell (BrokenProcessPool)"


def _import_ray():
    try:
        import ray
    except ImportError:
        raise G2DError(f"executor 'ray' needs Ray, which is not installed: {RAY_INSTALL_HINT}") from None
    return ray


def _run_ray(cells: list[Cell], worker_fn: WorkerFn, workers: int, threads: int, address: str | None,
             progress: _Progress) -> Iterator[Outcome]:
    if not cells:
        return  # every cell finished earlier: no need to start Ray
    with ray_session(workers, address) as ray:
        yield from _ray_tasks(ray, cells, worker_fn, workers, threads, progress)


@contextmanager
def ray_session(workers: int, address: str | None = None) -> Iterator[Any]:
    """Ray, connected: to the cluster at ``address`` (or ``$RAY_ADDRESS``), else a local instance
    with ``workers`` CPUs. A session opened here is closed on exit; inside an open one (e.g. a
    grid's two rounds of cells under :meth:`ExecutorOptions.session`) nothing is restarted."""
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    keep = _RAY_KEPT_BY_SESSION.get()
    if keep is not None:  # an ExecutorOptions.session() is open: it shuts Ray down when it closes
        keep.append(ray)
        yield ray
        return
    try:
        yield ray
    finally:
        ray.shutdown()


def _ray_tasks(ray: Any, cells: list[Cell], worker_fn: WorkerFn, workers: int, threads: int,
               progress: _Progress) -> Iterator[Outcome]:
    remote = ray.remote(execute_cell)
    pending = list(reversed(cells))
    inflight: dict[Any, Cell] = {}
    while pending or inflight:
        while pending and len(inflight) < workers:
            cell = pending.pop()
            ref = remote.options(num_cpus=cell.num_cpus, num_gpus=cell.num_gpus).remote(worker_fn, cell, threads)
            inflight[ref] = cell
            progress.started(cell.name)
        ready, _ = ray.wait(list(inflight), num_returns=1)
        for ref in ready:
            cell = inflight.pop(ref)
            try:
                ok, value = ray.get(ref)
            except Exception as err:  # noqa: BLE001 — the task's worker died or was cancelled
                ok, value = False, f"ray task failed: {type(err).__name__}: {err}"
            yield cell, ok, value


@dataclass(frozen=True)
class ExecutorOptions:
    """How a grid command runs its cells (``--executor``, ``--workers``, ``--threads``, ``--ray-address``)."""

    executor: str = "local"
    workers: int = 1
    threads: int = 1
    address: str | None = None
    log: Callable[[str], None] | None = stderr_log  # progress lines; None = quiet

    @contextmanager
    def session(self) -> Iterator[None]:
        """Keep the executor's resources up across several :meth:`run` calls (Ray: one instance,
        started by the first run that has cells to compute, shut down when the session closes)."""
        token = _RAY_KEPT_BY_SESSION.set([])
        try:
            yield
        finally:
            started = _RAY_KEPT_BY_SESSION.get()
            _RAY_KEPT_BY_SESSION.reset(token)
            for ray in started:
                ray.shutdown()

    def run(self, cells: list[Cell], worker_fn: WorkerFn, out_dir: str | Path) -> GridResult:
        return run_cells(cells, worker_fn, out_dir=out_dir, executor=self.executor, workers=self.workers,
                         threads=self.threads, address=self.address, log=self.log)
