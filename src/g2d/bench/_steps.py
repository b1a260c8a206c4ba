"""Timing and memory of single training steps, shared by ``g2d bench speed`` and ``g2d bench gpu``.

A :class:`StepCase` is one way to train the same student (same encoders, fusion, batch, seed):
``joint`` (task loss), ``g2d`` (G2D loss, teachers read from a memory-mapped cache, joint phase:
every encoder learns) and ``smp`` (the same G2D step inside an SMP phase: one encoder learns, the
other runs without autograd). :func:`interleaved` times the cases side by side — every round runs
each case for ``steps`` steps, in a rotating order, so drifts in machine load hit all of them —
and reports per-round ratios to the first case. Memory: the case's resting state (parameters,
buffers, optimiser state) + the step's high-water mark above what was in use before it — CUDA's
``max_memory_allocated``; on the CPU the heap in use (glibc ``mallinfo2``: bytes handed out by
malloc, freed memory excluded), sampled after every module's forward, as each gradient is
accumulated, and after the step.
"""
from __future__ import annotations

import ctypes
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from g2d.cache import TeacherCache
from g2d.config import OptimConfig
from g2d.data.base import DatasetInfo, TensorDataset
from g2d.methods import MethodContext, build_method
from g2d.model import build_model
from g2d.optim import create_optimizer
from g2d.runtime import move_batch, prepare_model, synchronize
from g2d.step import StepRunner, build_step_state


# none: eager. model: `--compile` (g2d.runtime.prepare_model: each encoder and the fusion head).
# step: the step's whole forward — encoders, fusion and objective — as one compiled function (and its
# backward, by AOTAutograd); measured here, not offered by the trainer (see docs/results/speed.md).
# cudagraphs: the same with mode="reduce-overhead" (CUDA graphs on a GPU; on the CPU the same as step).
COMPILE_MODES = ("none", "model", "step", "cudagraphs")


def compile_whole_forward(method: Any, model: nn.Module, mode: str = "default") -> None:
    """Make ``method``'s steps run encoders + fusion + objective through one ``torch.compile``d
    function (``method.forward_objective`` replaced on this instance). The learning modalities are
    still chosen outside it; each distinct choice is its own graph."""
    objective = method.objective

    def forward(inputs, active, masks, batch, teacher):
        output = model(inputs, active, masks)
        terms = objective(output, batch, teacher)
        return output, terms, torch.stack(list(terms.values())).sum()

    compiled = torch.compile(forward) if mode == "default" else torch.compile(forward, mode=mode)

    def forward_objective(runner, state):
        state.active = method.select_active(state)
        if mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()  # a new training step: earlier graph outputs are done with
        with runner.autocast():
            state.output, terms, loss = compiled(state.batch.inputs, state.active, state.batch.masks, state.batch,
                                                 state.teacher)
        return terms, loss

    method.forward_objective = forward_objective


@dataclass
class StepSetup:
    """What every case shares: modalities, per-sample shapes, encoder spec, batch, device."""

    shapes: dict[str, tuple[int, ...]]
    encoder: dict[str, Any] | dict[str, dict[str, Any]]
    num_classes: int = 6
    batch_size: int = 16
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    precision: str = "fp32"
    channels_last: bool = False
    compile: str = "none"  # one of COMPILE_MODES
    pool: int = 64  # samples in the synthetic data set / teacher cache
    fusion: str = "concat"
    seed: int = 0

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.shapes)

    def encoder_for(self, m: str) -> dict[str, Any]:
        return self.encoder[m] if m in self.encoder else self.encoder  # type: ignore[return-value]


def write_teacher_cache(folder: Path, setup: StepSetup, feature_dims: dict[str, int]) -> TeacherCache:
    """A small cache in the real format (``<m>.logits.npy``/``<m>.features.npy``), memory-mapped.
    The first modality's teacher is the most confident, so SMP suppresses it in phase 1."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(setup.seed)
    logits, features = {}, {}
    for k, m in enumerate(setup.modalities):
        z = rng.standard_normal((setup.pool, setup.num_classes)).astype(np.float32)
        z[:, 0] += 6.0 if k == 0 else 0.0  # class 0 is every target: modality 0 is sure of it
        np.save(folder / f"{m}.logits.npy", z)
        np.save(folder / f"{m}.features.npy",
                rng.standard_normal((setup.pool, feature_dims[m])).astype(np.float32))
        logits[m] = np.load(folder / f"{m}.logits.npy", mmap_mode="r")
        features[m] = np.load(folder / f"{m}.features.npy", mmap_mode="r")
    targets = np.zeros(setup.pool, dtype=np.float32)  # every sample's class is 0 (the data below)
    return TeacherCache(folder, logits, features, setup.device, targets=targets)


class StepCase:
    """One student + method + optimiser; :meth:`step` = move a loaded batch to the device, (read
    the teacher cache), train one step — what the trainer does per batch."""

    def __init__(self, name: str, setup: StepSetup, method: str, epoch: int, cache: TeacherCache | None) -> None:
        torch.manual_seed(setup.seed)
        info = DatasetInfo(setup.modalities, "classification", setup.num_classes, setup.shapes)
        encoders = {m: setup.encoder_for(m) for m in setup.modalities}
        self.model = build_model(info, encoders, {"name": setup.fusion})
        prepare_model(self.model, setup.device, channels_last=setup.channels_last, compile=setup.compile == "model")
        context = MethodContext(setup.modalities, "classification", 2, self.model)
        paper_smp = {"phases": [1] * (len(setup.modalities) - 1), "ranking": "teacher", "schedule": "fixed"}
        options = paper_smp if method == "g2d" else {}  # the paper's fixed phase: epoch 0 is an SMP step
        self.method = build_method(method, options, context)
        if setup.compile in ("step", "cudagraphs"):
            compile_whole_forward(self.method, self.model, "reduce-overhead" if setup.compile == "cudagraphs" else "default")
        optim = create_optimizer(self.method, self.model, OptimConfig(lr=1e-3))
        self.runner = StepRunner(self.model, optim, setup.device, setup.precision)
        self.name, self.setup, self.epoch, self.cache = name, setup, epoch, cache
        gen = torch.Generator().manual_seed(setup.seed)
        inputs = {m: torch.randn(setup.pool, *s, generator=gen) for m, s in setup.shapes.items()}
        self.data = TensorDataset(inputs, torch.zeros(setup.pool, dtype=torch.long), info)
        self.gen = torch.Generator().manual_seed(setup.seed + 1)
        # batches as a DataLoader hands them over (gathered, pinned on CUDA) by its workers and
        # pin-memory thread, off the step's critical path; the step copies one to the device
        self.ring = [self._host_batch() for _ in range(4)]
        self.turn = 0
        self.last_active: frozenset[str] | None = None
        self.model.train()

    def _host_batch(self):
        batch = self.data.get_batch(self.batch_indices())
        return batch.pin_memory() if self.setup.device.type == "cuda" else batch

    def batch_indices(self) -> list[int]:
        return torch.randperm(self.setup.pool, generator=self.gen)[: self.setup.batch_size].tolist()

    def step(self) -> None:
        self.turn = (self.turn + 1) % len(self.ring)
        batch = move_batch(self.ring[self.turn], self.setup.device, self.setup.channels_last)
        state = build_step_state(self.method, batch, epoch=self.epoch, step=0, modalities=self.setup.modalities,
                                 task="classification", teachers=self.cache)
        self.method.training_step(self.runner, state)
        self.last_active = state.active


def make_cases(setup: StepSetup, cache_dir: Path, names: tuple[str, ...] = ("joint", "g2d", "smp")) -> dict[str, StepCase]:
    probe = build_model(DatasetInfo(setup.modalities, "classification", setup.num_classes, setup.shapes),
                        {m: setup.encoder_for(m) for m in setup.modalities}, {"name": setup.fusion})
    cache = write_teacher_cache(cache_dir, setup, {m: e.out_dim for m, e in probe.encoders.items()})
    recipe = {"joint": ("joint", 1), "g2d": ("g2d", 10**6), "smp": ("g2d", 0)}  # epoch 0: SMP phase 1
    return {n: StepCase(n, setup, recipe[n][0], recipe[n][1], cache) for n in names}


# wall: elapsed time (what a user waits for; GPU work included). cpu: this process's CPU time — on a
# machine shared with other jobs it leaves out the time the process waited for a core (CPU-only runs
# with the data loaded in the process; DataLoader worker processes are not counted).
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def time_steps(run: Callable[[], None], steps: int, device: torch.device,
               clock: Callable[[], float] = time.perf_counter) -> float:
    """Mean seconds per call over ``steps`` calls (the device drained before and after)."""
    synchronize(device)
    start = clock()
    for _ in range(steps):
        run()
    synchronize(device)
    return (clock() - start) / steps


def interleaved(runs: dict[str, Callable[[], None]], device: torch.device, steps: int, rounds: int,
                warmup: int = 2, clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Seconds per step of each run, per round; the order rotates every round."""
    for run in runs.values():
        for _ in range(warmup):
            run()
    names = list(runs)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for n in names[r % len(names):] + names[: r % len(names)]:
            times[n].append(time_steps(runs[n], steps, device, clock))
    return times


def ratios(times: dict[str, list[float]], over: str) -> dict[str, list[float]]:
    """Per-round ratio of each run's time to ``over``'s time in the same round."""
    return {n: [a / b for a, b in zip(t, times[over])] for n, t in times.items() if n != over}


def med_spread(values: list[float], digits: int = 3) -> str:
    """``median [min–max]`` of the rounds."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}–{max(values):.{digits}f}]"


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


def heap_in_use() -> int | None:
    """Bytes malloc has handed out and not taken back (glibc); None where unavailable."""
    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2
    info = fn()
    return int(info.uordblks + info.hblkhd)


def resting_bytes(case: StepCase) -> int:
    """Bytes this case holds between steps: parameters, buffers, optimiser state."""
    tensors = [*case.model.parameters(), *case.model.buffers()]
    tensors += [v for state in case.runner.optimizer.state.values() for v in state.values()
                if isinstance(v, torch.Tensor)]
    return sum(t.numel() * t.element_size() for t in tensors)


def peak_memory(case: StepCase) -> tuple[float | None, float | None, str]:
    """Peak memory of one step of ``case`` and what the step itself allocates, in bytes, and how
    it was measured. Peak = the case's resting state (parameters, buffers, optimiser state) + the
    step's high-water mark above the memory in use before it — so the other cases alive in the
    same process do not count."""
    device = case.setup.device
    resting = resting_bytes(case)
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        case.step()
        synchronize(device)
        step = torch.cuda.max_memory_allocated(device) - before
        return float(resting + step), float(step), "cuda max_memory_allocated"
    if heap_in_use() is None:
        return None, None, "unavailable (needs glibc mallinfo2)"
    samples: list[int] = []
    sample = lambda *_: samples.append(heap_in_use())  # noqa: E731
    modules: list[nn.Module] = [*case.model.encoders.values(), case.model.fusion]
    handles = [m.register_forward_hook(sample) for mod in modules for m in mod.modules()]
    handles += [p.register_post_accumulate_grad_hook(sample) for p in case.model.parameters()]
    sample()
    case.step()
    sample()
    for h in handles:
        h.remove()
    step = max(samples) - samples[0]
    return float(resting + step), float(step), "cpu heap in use (glibc mallinfo2), sampled per module and gradient"


def encoder_runs(case: StepCase, modality: str) -> dict[str, Callable[[], None]]:
    """Forward-with-autograd and forward+backward of one encoder alone (a copy, on a batch of
    the case): their difference is that encoder's backward, what an SMP step skips for it."""
    import copy

    encoder = copy.deepcopy(case.model.encoders[modality]).train()
    x = move_batch(case.data.get_batch(case.batch_indices()), case.setup.device,
                   case.setup.channels_last).inputs[modality]

    def forward() -> None:
        with case.runner.autocast():
            encoder(x)

    def forward_backward() -> None:
        with case.runner.autocast():
            out = encoder(x)
        out.float().sum().backward()
        for p in encoder.parameters():
            p.grad = None

    return {f"{modality} forward": forward, f"{modality} forward+backward": forward_backward}
