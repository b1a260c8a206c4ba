"""DDP (gloo, 2 CPU processes) trains exactly what one process trains with the same global batch,
in an SMP phase and in the joint phase; the suppressed encoder is bit-for-bit unchanged."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import ddp_worker
from conftest import tiny_config

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict]:
    folder = tmp_path_factory.mktemp("ddp")
    mp.spawn(ddp_worker.worker, args=(2, str(folder)), nprocs=2, join=True)
    return [torch.load(folder / f"rank{r}.pt", weights_only=False) for r in range(2)]


@pytest.fixture(scope="module")
def single() -> dict:
    return {"random": ddp_worker.run(8, confident_a=False), "confident_a": ddp_worker.run(8, confident_a=True)}


def assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("scenario", ["random", "confident_a"])
def test_parameters_match_one_process_with_the_global_batch(ranks, single, scenario):
    one = single[scenario]
    for rank in ranks:
        got = rank[scenario]
        assert got["active"] == one["active"]  # the same modality learns in every step
        assert_close(got["after_smp"], one["after_smp"])
        assert_close(got["after_joint"], one["after_joint"])
        for key in ("log0", "log1"):  # epoch logs are reduced over the ranks
            for term, value in one[key]["train"].items():
                assert got[key]["train"][term] == pytest.approx(value, rel=1e-5)
    assert any(a is not None for a in one["active"][:4]) and all(a is None for a in one["active"][4:])


def test_ranks_read_the_teacher_cache_by_their_own_sampler_indices(ranks, single):
    for step, global_batch in enumerate(single["random"]["reads"]):
        local = [set(r["random"]["reads"][step]) for r in ranks]
        assert not local[0] & local[1] and local[0] | local[1] == set(global_batch)


def test_suppressed_encoder_is_bit_for_bit_unchanged_on_every_rank(ranks):
    for rank in ranks:
        run = rank["confident_a"]
        assert all(a == ["b"] for a in run["active"][:4])
        for name, value in run["initial"].items():
            if name.startswith("encoders.a."):
                assert torch.equal(run["after_smp"][name], value), name
            elif name.startswith("encoders.b."):
                assert not torch.equal(run["after_smp"][name], value), name


def test_ddp_leaves_globally_unused_gradients_none(ranks):
    assert all(r["grads"] == {"a_none": True, "b_set": True} for r in ranks)


def test_confidence_is_reduced_over_ranks_before_ranking(ranks):
    for r in ranks:
        assert r["global_confidence"]["a"] == pytest.approx((0.9 * 2 + 0.0 * 6) / 8)
        assert r["global_confidence"]["b"] == pytest.approx((0.1 * 2 + 0.5 * 6) / 8)


def test_train_command_under_torchrun_writes_one_run_folder(tmp_path):
    """``torchrun --nproc_per_node 2 -m g2d.cli train --distributed``: rank 0 builds the cache and
    writes the files; the result equals what every rank selected."""
    from g2d import api, io

    config = tiny_config(student__epochs=3, method__options={})  # the project's SMP: decided from all-reduced ratios
    api.train_teachers(config, tmp_path, progress=False)
    (tmp_path / "config.yaml").write_text(config.to_yaml())
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "g2d.cli", "train", str(tmp_path / "config.yaml"), "--distributed", "--out", str(tmp_path),
           "--quiet"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("g2d: selected epoch") == 1  # rank 0 alone reports
    result = io.read_json(tmp_path / "students/g2d/result.json")
    rows = io.read_jsonl(tmp_path / "students/g2d/metrics.jsonl")
    assert [r["epoch"] for r in rows] == [0, 1, 2] and result["selected_epoch"] in (0, 1, 2)
    assert rows[0]["modulators"]["smp"]["prioritised"] == [] and set(rows[1]["modulators"]["smp"]["ratio"]) == {
        "strong", "weak"}
    assert (tmp_path / "cache/manifest.json").exists() and (tmp_path / "students/g2d/model.safetensors").exists()
    assert not list(Path(tmp_path).rglob("*.tmp"))
