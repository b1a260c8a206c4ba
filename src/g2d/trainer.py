"""The one training loop every method and every teacher shares.

Per epoch: train on the train split (the method's step), evaluate val and test, select on val
only, log a row to ``metrics.jsonl``, checkpoint atomically. ``fit(resume=True)`` continues from
the last completed epoch and reproduces an uninterrupted run exactly (per-epoch seeds).

Speed (see :mod:`g2d.runtime`): mixed precision, channels-last, optional ``torch.compile``, one
DataLoader for the whole run (persistent workers, pinned memory on CUDA), and no device→host
copy in the step beyond what SMP's ranking needs (one small read per step in a prioritisation
phase); losses and ρ are summed on the device and read once per epoch. Under ``torchrun`` the
model is wrapped in DDP and each rank reads its shard of every epoch (see :mod:`g2d.distributed`).
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from g2d import distributed, guards, io
from g2d.config import TrainConfig
from g2d.data.base import Batch, MultimodalDataset
from g2d.data.loader import make_loader, set_loader_seed
from g2d.figures import EpochSums
from g2d.methods.base import Method
from g2d.metrics import SplitMetrics, higher_is_better
from g2d.model import MultimodalModel
from g2d.modulators.base import Modulator, StepState
from g2d.optim import build_scheduler, create_optimizer
from g2d.runtime import RuntimeConfig, autocast, check_precision, epoch_seed, move_batch, prepare_model
from g2d.step import StepRunner, TeacherSource, build_step_state


class Callback(Protocol):
    """Called after each epoch's evaluation; what it returns is logged under ``row["analysis"]``."""

    def on_epoch_end(self, trainer: "Trainer", epoch: int, row: dict[str, Any]) -> dict[str, Any] | None: ...


def may_skip_encoders(method: Method) -> bool:
    """Whether some step may leave an encoder out of the graph: a modulator that chooses the
    learning modalities (SMP, …) or a method with its own step. DDP then looks for unused
    parameters after each forward; plain joint training skips that graph walk."""
    chooses = any(type(m).select_active is not Modulator.select_active for m in method.modulators)
    return chooses or type(method).training_step is not Method.training_step


@dataclass
class FitResult:
    best_epoch: int
    val: dict[str, Any]
    test: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    select_metric: str = "accuracy"


@torch.no_grad()
def evaluate(model: MultimodalModel, dataset: MultimodalDataset, device: torch.device,
             batch_size: int = 256, precision: str = "fp32", num_workers: int = 0,
             transform: Callable[[Batch], Batch] | None = None, channels_last: bool = False) -> dict[str, Any]:
    """Fused and per-modality metrics over a whole split (eval mode, no gradients)."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    metrics = SplitMetrics(dataset.info.task, model.modalities, dataset.info.target_range)
    for batch in make_loader(dataset, batch_size, shuffle=False, num_workers=num_workers,
                             pin_memory=device.type == "cuda"):
        batch = move_batch(batch, device, channels_last)
        if transform is not None:
            batch = transform(batch)
        with autocast(device, precision):
            out = model(batch.inputs, masks=batch.masks)
        metrics.update(out.logits, out.modality_logits, batch.target)
    model.train(was_training)
    return metrics.compute()


class Trainer:
    """Train ``model`` with ``method`` on ``train``; select on ``val``; report ``test`` at the
    selected epoch. With ``out_dir`` it logs and checkpoints there."""

    def __init__(self, model: MultimodalModel, method: Method, train: MultimodalDataset,
                 val: MultimodalDataset, test: MultimodalDataset | None, config: TrainConfig,
                 runtime: RuntimeConfig, *, teachers: TeacherSource | None = None,
                 out_dir: str | Path | None = None, progress: bool = True, description: str = "train",
                 callbacks: list[Callback] | None = None) -> None:
        self.runtime = runtime
        self.device = torch.device(runtime.device)
        check_precision(self.device, runtime.precision)
        self.channels_last = runtime.channels_last
        self.model = prepare_model(model, self.device, channels_last=runtime.channels_last,
                                   compile=runtime.compile)
        self.dist = distributed.current()
        self.method, self.config, self.seed = method, config, runtime.seed
        self.train_data, self.val_data, self.test_data = train, val, test
        self.batch_size, self.eval_batch_size = runtime.batch_size, runtime.eval_batch_size
        self.num_workers, self.precision, self.teachers = runtime.num_workers, runtime.precision, teachers
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress, self.description = progress, description
        self.callbacks = list(callbacks or [])
        self.task = train.info.task
        self.select_metric = config.select_metric or ("accuracy" if self.task == "classification" else "mae")
        self.maximize = higher_is_better(self.select_metric)
        if method.needs_teachers and teachers is None:
            raise ValueError("this method needs teacher outputs: pass teachers= (a cache or online teachers)")
        self.optimizer = create_optimizer(method, model, config.optim)
        self.scheduler = build_scheduler(self.optimizer, config.optim)
        # Under DDP the step's forward goes through the wrapper (gradients averaged across ranks);
        # evaluation and checkpoints use the plain model.
        forward = (distributed.wrap(self.model, self.device, find_unused=may_skip_encoders(method))
                   if self.dist.enabled else self.model)
        self.runner = StepRunner(forward, self.optimizer, self.device, runtime.precision)
        self.guard = guards.for_training(description, self.device, runtime.precision, self.dist.enabled)
        self._loader: DataLoader | None = None
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.start_epoch, self.global_step = 0, 0

    # ---- checkpoints -------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path | None:
        return self.out_dir / "checkpoints" if self.out_dir is not None else None

    def save_checkpoint(self, epoch: int) -> None:
        """Weights first (new file), then the state that points at them: a crash in between
        leaves the previous consistent checkpoint. Rank 0 alone writes."""
        assert self.checkpoint_dir is not None
        if not self.dist.is_main:
            return
        weights = self.checkpoint_dir / f"model-e{epoch:04d}.safetensors"
        io.save_weights(weights, self.model, {"epoch": str(epoch)})
        state = {"epoch": epoch, "global_step": self.global_step, "weights": weights.name,
                 "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "scaler": self.runner.scaler.state_dict() if self.runner.scaler else {},
                 "method": self.method.state_dict(), "history": self.history, "best": self.best}
        io.save_state(self.checkpoint_dir / "state.pt", state)
        for old in self.checkpoint_dir.glob("model-e*.safetensors"):
            if old != weights:
                old.unlink(missing_ok=True)

    def load_checkpoint(self) -> bool:
        """Restore the last completed epoch; False when there is nothing to resume."""
        path = self.checkpoint_dir / "state.pt" if self.checkpoint_dir else None
        if path is None or not path.exists():
            return False
        state = io.load_state(path)
        io.load_weights(self.checkpoint_dir / state["weights"], self.model)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.runner.scaler and state["scaler"]:
            self.runner.scaler.load_state_dict(state["scaler"])
        self.method.load_state_dict(state["method"])
        self.history, self.best = list(state["history"]), state["best"]
        self.start_epoch, self.global_step = state["epoch"] + 1, state["global_step"]
        if self.dist.is_main:
            io.write_text(self.out_dir / "metrics.jsonl", "".join(
                json.dumps(row) + "\n" for row in self.history))
        return True

    # ---- loop --------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> FitResult:
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if not (resume and self.load_checkpoint()) and self.dist.is_main:
                (self.out_dir / "metrics.jsonl").unlink(missing_ok=True)
        epochs = range(self.start_epoch, self.config.epochs)
        show = self.progress and self.dist.is_main and sys.stderr.isatty()  # no bars in logs or pipes
        bar = tqdm(epochs, desc=self.description, disable=not show, leave=False, file=sys.stderr,
                   dynamic_ncols=True)
        for epoch in bar:
            row = self.run_epoch(epoch)
            bar.set_postfix(val=f"{row['val'][self.select_metric]:.4f}")
            if self.stop_early():
                break
        bar.close()
        self._loader = None  # stops its persistent workers
        distributed.barrier()  # rank 0's files (best weights) exist for every rank from here on
        if self.best is None:
            raise RuntimeError("no epoch was run; is epochs > 0 and the checkpoint not already complete?")
        return FitResult(self.best["epoch"], self.best["val"], self.best["test"], self.history,
                         self.select_metric)

    def run_epoch(self, epoch: int) -> dict[str, Any]:
        start = time.perf_counter()
        torch.manual_seed(epoch_seed(self.seed, epoch))
        train_log = self.train_epoch(epoch)
        self.guard.check(self.model, epoch)  # before anything of this epoch is evaluated or saved
        train_log["train_time_s"] = round(time.perf_counter() - start, 4)
        self.scheduler.step()
        distributed.sync_buffers(self.model)  # every rank evaluates the same model on the full splits
        val = self.evaluate(self.val_data)
        test = self.evaluate(self.test_data) if self.test_data is not None else {}
        improved = self.best is None or self.is_better(val[self.select_metric], self.best["val"][self.select_metric])
        row = {"epoch": epoch, **train_log, "val": val, "test": test, "selected": improved,
               "time_s": round(time.perf_counter() - start, 4)}
        if improved:
            self.best = {"epoch": epoch, "val": val, "test": test}
            if self.checkpoint_dir is not None and self.dist.is_main:
                io.save_weights(self.checkpoint_dir / "best.safetensors", self.model, {"epoch": str(epoch)})
        for callback in self.callbacks if self.dist.is_main else []:
            extra = callback.on_epoch_end(self, epoch, row)
            if extra:
                row.setdefault("analysis", {}).update(extra)
        self.method.on_epoch_end(epoch, val)
        summary = self.method.epoch_summary()
        if summary:
            row["modulators"] = summary
        self.history.append(row)
        if self.out_dir is not None:
            if self.dist.is_main:
                io.append_jsonl(self.out_dir / "metrics.jsonl", row)
            self.save_checkpoint(epoch)
        return row

    def evaluate(self, dataset: MultimodalDataset) -> dict[str, Any]:
        return evaluate(self.model, dataset, self.device, self.eval_batch_size, self.precision,
                        channels_last=self.channels_last)

    def is_better(self, new: float, old: float) -> bool:
        if math.isnan(new):
            return False
        return new > old if self.maximize else new < old

    def stop_early(self) -> bool:
        patience = self.config.patience
        return patience is not None and self.best is not None and \
            self.history[-1]["epoch"] - self.best["epoch"] >= patience

    def train_loader(self, epoch: int) -> DataLoader:
        """The run's one training loader (workers persist across epochs), reshuffled per epoch."""
        if self._loader is None:
            self._loader = make_loader(self.train_data, self.batch_size, shuffle=True,
                                       num_workers=self.num_workers, pin_memory=self.device.type == "cuda",
                                       persistent_workers=True, rank=self.dist.rank,
                                       world_size=self.dist.world_size)
        set_loader_seed(self._loader, epoch_seed(self.seed, epoch))
        return self._loader

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        self.model.train()
        sums = EpochSums()  # the step's figures summed on the device, read once after the loop
        active_counts = {m: 0 for m in self.model.modalities}
        samples = steps = 0
        for batch in self.train_loader(epoch):
            batch = move_batch(batch, self.device, self.channels_last)
            state = self.step_state(epoch, batch)
            terms = self.method.training_step(self.runner, state)
            self.guard.observe(terms, self.global_step)
            n = len(batch)
            sums.add({f"t.{k}": v for k, v in terms.items()}
                     | {f"c.{m}": rho for m, rho in (state.confidence or {}).items()}, n)
            for m in state.active if state.active is not None else self.model.modalities:
                active_counts[m] += 1
            samples, steps = samples + n, steps + 1
            self.global_step += 1
        # one device->host read per epoch (and one all-reduce when distributed)
        totals, samples = distributed.all_reduce_sums(sums.read(), samples, self._reduce_device())
        train = {k[2:]: v / samples for k, v in totals.items() if k.startswith("t.")}
        train["loss"] = sum(train.values())
        return {"lr": self.optimizer.param_groups[0]["lr"], "train": train, "steps": steps,
                "confidence": {k[2:]: v / samples for k, v in totals.items() if k.startswith("c.")},
                "active_share": {m: c / max(steps, 1) for m, c in active_counts.items()}}

    def _reduce_device(self) -> torch.device:
        import torch.distributed as dist

        nccl = self.dist.enabled and dist.get_backend() == "nccl"
        return self.device if nccl else torch.device("cpu")

    def step_state(self, epoch: int, batch: Batch) -> StepState:
        return build_step_state(self.method, batch, epoch=epoch, step=self.global_step,
                                modalities=self.model.modalities, task=self.task, teachers=self.teachers)
