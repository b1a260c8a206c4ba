"""``g2d tune``: an Optuna study over the config's ``tune:`` search space, on validation only.

Run folder::

    RUN/config.yaml           the experiment, search space included
    RUN/teachers/, RUN/cache/ built once, shared by every trial (reused when the study resumes)
    RUN/study.db              the Optuna study (SQLite; ``--storage URL`` puts it elsewhere)
    RUN/trials/students/trial-NNN/   each trial's student (metrics.jsonl, checkpoints, result.json)
    RUN/best.yaml             the experiment with the best trial's values (no tune: section)
    RUN/trials.csv, RUN/trials.md    every trial: state, objective, values, selected epoch, time
    RUN/tune.json             the study's summary; RUN/history.png/.svg the optimisation history

The objective is the student's validation ``select_metric`` at its selected epoch. The test split
is dropped before anything trains (``splits.test = None``): no teacher, trial or pruning decision
ever evaluates it. A trial whose validation metric so far is below the median of earlier trials at
the same epoch is pruned (``tune.pruner: median``).
"""
from __future__ import annotations

import csv
import dataclasses
import io as textio
import sys
import time
from pathlib import Path
from typing import Any, Callable

from g2d import api, io
from g2d.config import ExperimentConfig, parse_config, set_dotted
from g2d.data import DataSplits
from g2d.metrics.stateful import higher_is_better
from g2d.tuning.space import CategoricalParam, FloatParam, IntParam, TuneConfig
from g2d.validation import ConfigError, G2DError

OPTUNA_INSTALL_HINT = "install it with `pip install 'g2d[tune]'` (or `pip install optuna`)"
STUDY_NAME = "g2d-tune"


def import_optuna():
    try:
        import optuna
    except ImportError:
        raise G2DError(f"g2d tune needs Optuna, which is not installed: {OPTUNA_INSTALL_HINT}") from None
    return optuna


def check_storage(url: str) -> None:
    """ConfigError naming ``--storage`` when ``url`` cannot be an Optuna storage: not a database URL,
    an unknown database or driver (not installed), or a SQLite file in a folder that does not exist.
    Run before anything trains; whether a server answers is known when the study is opened, which
    also happens before the first training."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"--storage {url!r}: not a database URL; expected e.g. sqlite:///study.db or "
                          f"postgresql://user@host/db") from None
    try:
        parsed.get_dialect().import_dbapi()
    except NoSuchModuleError:
        raise ConfigError(f"--storage {url!r}: unknown database {parsed.drivername!r}; expected sqlite, "
                          f"postgresql or mysql (with their driver installed)") from None
    except ImportError as err:
        raise ConfigError(f"--storage {url!r}: the driver of {parsed.drivername!r} is not installed ({err})") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        from g2d.paths import require_folder

        require_folder(Path(parsed.database).expanduser().resolve().parent, f"--storage {url!r}: folder", ConfigError)


@dataclasses.dataclass
class TuneResult:
    metric: str
    maximize: bool
    best_trial: int
    best_value: float
    best_params: dict[str, Any]
    default_value: float | None  # trial 0, the config's own values, when it was enqueued and finished
    trials: list[dict[str, Any]]
    run_dir: Path


def space_of(config: ExperimentConfig, source: str = "config") -> TuneConfig:
    if config.tune is None:
        raise ConfigError(f"{source}: no tune: section; declare the search space, e.g.\n"
                          "  tune:\n    params:\n      method.options.alpha: {type: float, low: 0.1, high: 10, log: true}")
    return config.tune


def base_raw(config: ExperimentConfig) -> dict[str, Any]:
    """The experiment as a trial starts from it: no search space, no per-epoch analyses (they would
    cost time and may read the test split)."""
    raw = config.model_dump(mode="json")
    raw["tune"] = None
    raw["analysis"]["track"] = False
    return raw


def trial_config(config: ExperimentConfig, values: dict[str, Any], source: str) -> ExperimentConfig:
    raw = base_raw(config)
    for key, value in values.items():
        set_dotted(raw, key, value)
    return parse_config(raw, source)


def check_space(config: ExperimentConfig, space: TuneConfig) -> None:
    """Every bound and choice of every parameter must give a valid config on its own; the error
    names the parameter and the value."""
    for key, param in space.params.items():
        for value in _corner_values(param):
            try:
                trial_config(config, {key: value}, "tune")
            except ConfigError as err:
                raise ConfigError(f"tune.params[{key!r}] = {value!r} gives an invalid experiment:\n  "
                                  + str(err).split("\n", 1)[-1].strip()) from None


def _corner_values(param: FloatParam | IntParam | CategoricalParam) -> list[Any]:
    if isinstance(param, CategoricalParam):
        return list(param.choices)
    if isinstance(param, IntParam) and param.size is not None:
        return [[param.low] * param.size, [param.high] * param.size]
    return [param.low, param.high]


def suggest(trial: Any, key: str, param: FloatParam | IntParam | CategoricalParam) -> Any:
    """Optuna's suggestion for one parameter (a list of ints for ``size``; names ``key[i]``)."""
    if isinstance(param, CategoricalParam):
        return trial.suggest_categorical(key, param.choices)
    if isinstance(param, FloatParam):
        return trial.suggest_float(key, param.low, param.high, log=param.log, step=param.step)
    if param.size is not None:
        return [trial.suggest_int(f"{key}[{i}]", param.low, param.high, log=param.log, step=param.step)
                for i in range(param.size)]
    return trial.suggest_int(key, param.low, param.high, log=param.log, step=param.step)


def config_values(config: ExperimentConfig, space: TuneConfig) -> dict[str, Any] | None:
    """The config's own values as Optuna parameters, or None when one lies outside the space."""
    raw = config.model_dump(mode="json")
    params: dict[str, Any] = {}
    for key, param in space.params.items():
        node: Any = raw
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        values = node if isinstance(param, IntParam) and param.size is not None else [node]
        if not isinstance(values, list) or (isinstance(param, IntParam) and param.size not in (None, len(values))):
            return None
        for i, value in enumerate(values):
            if not _inside(param, value):
                return None
            params[f"{key}[{i}]" if isinstance(param, IntParam) and param.size is not None else key] = value
    return params


def _inside(param: FloatParam | IntParam | CategoricalParam, value: Any) -> bool:
    if isinstance(param, CategoricalParam):
        return value in param.choices
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(param, IntParam) and (not float(value).is_integer() or (value - param.low) % param.step):
        return False
    return param.low <= value <= param.high


class PruneOnValidation:
    """Trainer callback: report the best validation metric so far after every epoch; stop the
    trial (``optuna.TrialPruned``) when the pruner says so."""

    def __init__(self, trial: Any, metric: str) -> None:
        self.trial, self.metric = trial, metric

    def on_epoch_end(self, trainer: Any, epoch: int, row: dict[str, Any]) -> None:
        optuna = import_optuna()
        self.trial.report(trainer.best["val"][self.metric], epoch)
        if self.trial.should_prune():
            self.trial.set_user_attr("pruned_at_epoch", epoch)
            raise optuna.TrialPruned(f"pruned after epoch {epoch}")
        return None


def tune(config: ExperimentConfig, run_dir: str | Path, *, trials: int, timeout: float | None = None,
         storage: str | None = None, study_name: str = STUDY_NAME, splits: DataSplits | None = None,
         progress: bool = False, log: Callable[[str], None] | None = None) -> TuneResult:
    """Run (or resume) the study until it holds ``trials`` finished trials or ``timeout`` seconds
    pass; write the outputs listed in the module docstring."""
    optuna = import_optuna()
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    space = space_of(config)
    check_space(config, space)
    run_dir = Path(run_dir)
    if trials < 1:
        raise ConfigError(f"--trials: expected at least 1 trial, got {trials}")
    if storage is not None:
        check_storage(storage)
    splits = splits or api.load_data(config)
    tuning = dataclasses.replace(splits, test=None)  # the test split is never handed to tuning
    metric = config.student.select_metric or ("accuracy" if splits.info.task == "classification" else "mae")
    maximize = higher_is_better(metric)
    run_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(optuna, storage or f"sqlite:///{(run_dir / 'study.db').resolve()}", study_name,
                       maximize, space)  # before any training: a storage that cannot be opened fails now
    shared_teachers(config, run_dir, tuning, progress, log)
    io.write_text(run_dir / "trials" / "config.yaml", config.to_yaml())
    if not study.trials and space.enqueue_config:
        own = config_values(config, space)
        if own is not None:
            study.enqueue_trial(own, user_attrs={"source": "the config's own values"})
        else:
            log("tune: the config's own values are not all inside the search space; trial 0 is sampled")
    finished = [t for t in study.trials if t.state.is_finished()]
    remaining = max(0, trials - len(finished))
    log(f"tune: {len(finished)} trials already in the study, running up to {remaining} more "
        f"(objective: val {metric}, {'max' if maximize else 'min'}imised) -> {run_dir}")
    objective = _objective(config, space, run_dir, tuning, metric, progress, log)
    if remaining:
        study.optimize(objective, n_trials=remaining, timeout=timeout, catch=(ConfigError,))
    return write_outputs(study, config, space, run_dir, metric, maximize)


def open_study(optuna: Any, storage: str, study_name: str, maximize: bool, space: TuneConfig) -> Any:
    """Create or load the study; a storage that cannot be opened (no server, no permission) is a
    ConfigError naming ``--storage``."""
    try:
        return optuna.create_study(
            study_name=study_name, storage=storage, load_if_exists=True,
            direction="maximize" if maximize else "minimize",
            sampler=optuna.samplers.TPESampler(seed=space.sampler_seed),
            pruner=(optuna.pruners.MedianPruner(n_startup_trials=space.startup_trials,
                                                n_warmup_steps=space.warmup_epochs)
                    if space.pruner == "median" else optuna.pruners.NopPruner()))
    except (ImportError, OSError, ValueError, RuntimeError) as err:
        raise ConfigError(f"--storage {storage!r}: the Optuna study cannot be opened ({type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else ''})") from None
    except Exception as err:  # sqlalchemy's OperationalError and kin: the database did not answer
        if type(err).__module__.startswith("sqlalchemy"):
            raise ConfigError(f"--storage {storage!r}: the database cannot be opened ({str(err).splitlines()[0]})") from None
        raise


def shared_teachers(config: ExperimentConfig, run_dir: Path, tuning: DataSplits, progress: bool,
                    log: Callable[[str], None]) -> None:
    """Teachers and their cache, built once in ``RUN``; a resumed study checks they are the same
    experiment's and reuses them."""
    cards = [run_dir / "teachers" / m / "card.json" for m in tuning.info.modalities]
    if all(c.exists() for c in cards) and (run_dir / "config.yaml").exists():
        changed = api.teacher_config_changes(config, run_dir)
        if changed:
            raise ConfigError(f"{run_dir}: its teachers were trained for another experiment:\n  " + "\n  ".join(changed)
                              + "\ntune into a new --out folder")
        log(f"tune: reusing the teachers in {run_dir / 'teachers'}")
        teachers = api.load_teachers(config, tuning, run_dir / "teachers")
    else:
        log("tune: training the teachers (once, shared by every trial)")
        teachers = api.train_teachers(config, run_dir, tuning, progress=progress)
    if not tuning.train.random_transform and not (run_dir / "cache" / "manifest.json").exists():
        api.cache_teacher_outputs(config, run_dir, tuning, teachers)


def _objective(config: ExperimentConfig, space: TuneConfig, run_dir: Path, tuning: DataSplits, metric: str,
               progress: bool, log: Callable[[str], None]) -> Callable[[Any], float]:
    optuna = import_optuna()

    def objective(trial: Any) -> float:
        values = {key: suggest(trial, key, param) for key, param in space.params.items()}
        cfg = trial_config(config, values, f"tune trial {trial.number}")
        start = time.perf_counter()
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        try:
            student = api.train_student(cfg, run_dir / "trials", tuning, teachers_dir=run_dir / "teachers",
                                        cache_dir=run_dir / "cache", progress=progress,
                                        name=f"trial-{trial.number:03d}",
                                        callbacks=[PruneOnValidation(trial, metric)])
        except optuna.TrialPruned:
            trial.set_user_attr("wall_s", round(time.perf_counter() - start, 2))
            log(f"tune: trial {trial.number} pruned after epoch {trial.user_attrs.get('pruned_at_epoch')} ({shown})")
            raise
        value = float(student.result.val[metric])
        trial.set_user_attr("selected_epoch", student.result.best_epoch)
        trial.set_user_attr("wall_s", round(time.perf_counter() - start, 2))
        log(f"tune: trial {trial.number} val {metric} {value:.4f} (epoch {student.result.best_epoch}; "
            f"{time.perf_counter() - start:.1f} s) {shown}")
        return value

    return objective


def trial_values(trial: Any, space: TuneConfig) -> dict[str, Any]:
    """A trial's Optuna parameters as config values (``key[i]`` folded back into lists)."""
    out: dict[str, Any] = {}
    for key, param in space.params.items():
        if isinstance(param, IntParam) and param.size is not None:
            if all(f"{key}[{i}]" in trial.params for i in range(param.size)):
                out[key] = [trial.params[f"{key}[{i}]"] for i in range(param.size)]
        elif key in trial.params:
            out[key] = trial.params[key]
    return out


def write_outputs(study: Any, config: ExperimentConfig, space: TuneConfig, run_dir: Path, metric: str,
                  maximize: bool) -> TuneResult:
    from g2d.report.style import render
    from g2d.report.tuning import history_figure

    rows = [{"trial": t.number, "state": t.state.name.lower(), "value": t.value,
             "selected_epoch": t.user_attrs.get("selected_epoch"), "pruned_at_epoch": t.user_attrs.get("pruned_at_epoch"),
             "wall_s": t.user_attrs.get("wall_s"), "source": t.user_attrs.get("source", "sampled"),
             "params": trial_values(t, space)} for t in study.trials]
    complete = [r for r in rows if r["state"] == "complete"]
    if not complete:
        raise G2DError(f"{run_dir}: no trial finished (states: {sorted({r['state'] for r in rows})}); "
                       f"see the trial messages above")
    best = (max if maximize else min)(complete, key=lambda r: r["value"])
    default = next((r for r in rows if r["source"] != "sampled"), None)
    best_config = trial_config(config, best["params"], f"best trial {best['trial']}")
    raw = best_config.model_dump(mode="json")
    raw["analysis"] = config.analysis.model_dump(mode="json")  # trials ran without analyses; a rerun may want them
    best_config = parse_config(raw, "best.yaml")
    header = f"# g2d tune: best of {len(rows)} trials, trial {best['trial']}: val {metric} {best['value']:.4f}\n"
    io.write_text(run_dir / "best.yaml", header + best_config.to_yaml())
    io.write_text(run_dir / "trials.csv", trials_csv(rows, space))
    io.write_text(run_dir / "trials.md", trials_markdown(rows, space, metric))
    summary = {"metric": metric, "direction": "maximize" if maximize else "minimize", "trials": rows,
               "best": best, "default": default, "space": space.model_dump(mode="json")}
    io.write_json(run_dir / "tune.json", summary)
    render(history_figure(summary), run_dir / "history")
    return TuneResult(metric, maximize, best["trial"], best["value"], best["params"],
                      default["value"] if default and default["state"] == "complete" else None, rows, run_dir)


def trials_csv(rows: list[dict[str, Any]], space: TuneConfig) -> str:
    buf = textio.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    keys = list(space.params)
    writer.writerow(["trial", "state", "value", "selected_epoch", "pruned_at_epoch", "wall_s", "source", *keys])
    for r in rows:
        writer.writerow([r["trial"], r["state"], r["value"], r["selected_epoch"], r["pruned_at_epoch"], r["wall_s"],
                         r["source"], *[r["params"].get(k) for k in keys]])
    return buf.getvalue()


def trials_markdown(rows: list[dict[str, Any]], space: TuneConfig, metric: str) -> str:
    keys = list(space.params)
    lines = ["| trial | state | val " + metric + " | epoch | " + " | ".join(f"`{k}`" for k in keys) + " |",
             "|" + "---|" * (4 + len(keys))]
    for r in rows:
        value = f"{r['value']:.4f}" if r["value"] is not None else "–"
        epoch = r["selected_epoch"] if r["state"] == "complete" else (
            f"pruned at {r['pruned_at_epoch']}" if r["pruned_at_epoch"] is not None else "–")
        cells = [_short(r["params"].get(k)) for k in keys]
        lines.append(f"| {r['trial']} | {r['state']} | {value} | {epoch} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "–" if value is None else str(value)
