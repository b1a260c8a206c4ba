"""``g2d bench evidence``: paired differences with their intervals, the tables, a resumable tiny run."""
import json
import math
from pathlib import Path

import pytest

from g2d.bench.evidence import fused_table, modality_table, paired_ci
from g2d.cli import main


def test_paired_ci_is_the_student_t_interval():
    mean, half = paired_ci([0.01, 0.03, 0.02, 0.04, 0.00])
    assert mean == pytest.approx(0.02)
    assert half == pytest.approx(2.776 * math.sqrt(0.00025) / math.sqrt(5))  # t(0.975, 4) · s / √n
    assert math.isnan(paired_ci([0.5])[1])


def cell(joint: float, g2d: float, weak_g2d: float, prioritised: int) -> dict:
    method = lambda acc, weak: {"test": {"accuracy": acc, "modality_accuracy": {"a": 0.9, "w": weak}}}  # noqa: E731
    return {"modalities": ["a", "w"], "methods": {"joint": method(joint, 0.3), "g2d": method(g2d, weak_g2d)},
            "teachers": {"a": {"test": {"accuracy": 0.9}}, "w": {"test": {"accuracy": 0.7}}},
            "schedules": {"joint": {}, "g2d": {"w": prioritised}}}


def test_tables_show_means_paired_deltas_and_the_schedule():
    cells = [cell(0.80, 0.82, 0.6, 2), cell(0.81, 0.84, 0.7, 4)]
    fused = fused_table({"set": cells}, ["joint", "g2d"])
    assert "| set | 80.5 ± 0.7 | 83.0 ± 1.4 | +2.5 [" in fused  # deltas +2 and +3: mean +2.5
    per = modality_table("set", cells, ["joint", "g2d"])
    assert "| teacher | 90.0 ± 0.0 | 70.0 ± 0.0 | - |" in per
    assert "| g2d | 90.0 ± 0.0 | 65.0 ± 7.1 | w 3.0 |" in per
    assert "| joint | 90.0 ± 0.0 | 30.0 ± 0.0 | none |" in per


@pytest.mark.slow
def test_suite_on_mfeat_writes_tables_and_keeps_finished_cells(tmp_path, shared_data):
    args = ["bench", "evidence", "--out", str(tmp_path / "out"), "--shared", str(shared_data), "--only",
            "mfeat-pix-mor", "--methods", "joint", "g2d", "--seeds", "0,1", "--mfeat-epochs", "3",
            "--workers", "1"]
    assert main(args) == 0
    text = (tmp_path / "out" / "evidence.md").read_text()
    assert "| mfeat-pix-mor |" in text and "Δ g2d − joint [95% CI]" in text
    summary = tmp_path / "out" / "mfeat-pix-mor" / "seed-1" / "summary.json"
    stamp = summary.stat().st_mtime_ns
    assert main(args) == 0  # rerun: both cells are read back, not retrained
    assert summary.stat().st_mtime_ns == stamp
    results = json.loads((tmp_path / "out" / "evidence.json").read_text())
    assert [c["seed"] for c in results["mfeat-pix-mor"]] == [0, 1]
    assert results["mfeat-pix-mor"][0]["diagnosis"]["neglected"] in ("pix", "mor")
    assert (tmp_path / "out" / "mfeat-pix-mor" / "seed-0" / "diagnosis.json").exists()
    assert "What `g2d diagnose` says" in text


def test_suite_cells_run_on_the_executor_a_failed_cell_is_named_and_finished_cells_are_read_back(
        tmp_path, monkeypatch, capsys):
    import argparse

    from g2d.bench import evidence
    from tests.conftest import tiny_config

    real = evidence.run_methods

    def fails_on_bad(config, out, specs, progress, **kwargs):
        if Path(out).parent.name == "bad":
            raise RuntimeError("boom")
        return real(config, out, specs, progress=progress, **kwargs)

    monkeypatch.setattr(evidence, "run_methods", fails_on_bad)
    config = tiny_config(teachers__epochs=1, student__epochs=1)
    args = argparse.Namespace(methods=["joint", "g2d"], seeds=[0], out=str(tmp_path), executor="local",
                              workers=1, threads=1, ray_address=None)
    results, failed = evidence.run_suite({"good": config, "bad": config}, args)
    assert list(results) == ["good"] and list(failed) == ["bad.seed-0"]
    assert failed["bad.seed-0"].startswith("RuntimeError: boom (traceback: ")
    assert "cell bad.seed-0 failed: RuntimeError: boom" in capsys.readouterr().err
    assert sorted(results["good"][0]["methods"]) == ["g2d", "joint"] and "reused" not in results["good"][0]
    assert set(results["good"][0]["diagnosis"]["modalities"]) == set(results["good"][0]["modalities"])
    assert sorted(p.name for p in (tmp_path / "cells").glob("*.json")) == ["good.diagnosis.json", "good.seed-0.json"]
    report_args = argparse.Namespace(**vars(args), width=0.0625, teacher_epochs=1, av_epochs=1, mfeat_epochs=1,
                                     fusion="concat", decay_at=0.0)
    text = evidence.report(results, report_args, 1.0, failed)
    assert "**1 cell(s) failed and are left out of every table**" in text and "bad.seed-0." in text
    again, _ = evidence.run_suite({"good": config}, args)  # read back from the cell files, not retrained
    assert again["good"][0]["reused"] is True
    assert again["good"][0]["methods"] == results["good"][0]["methods"]


# ---- the 2025 methods: choice on validation, paired Δ to joint and to G2D ------------------------
def scored(val: dict[str, float], test: dict[str, float]) -> dict:
    return {"methods": {m: {"val": {"accuracy": val[m]}, "test": {"accuracy": test[m]}} for m in val}}


def test_contenders_are_chosen_by_mean_validation_rank_never_by_test():
    from g2d.bench.evidence import select_contenders

    # set "a": arl > dgl > aug; set "b": dgl > aug > arl. Test accuracy says the opposite (aug best).
    a = [scored({"arl": 0.9, "dgl": 0.8, "aug": 0.7}, {"arl": 0.1, "dgl": 0.2, "aug": 0.99})] * 2
    b = [scored({"arl": 0.5, "dgl": 0.7, "aug": 0.6}, {"arl": 0.1, "dgl": 0.2, "aug": 0.99})] * 2
    chosen, rank = select_contenders({"a": a, "b": b}, ["remix", "arl", "dgl", "aug"])
    assert rank == {"arl": 2.0, "dgl": 1.5, "aug": 2.5}  # remix was not trained everywhere: not eligible
    assert chosen == ["dgl", "arl"]
    # a tie in mean rank goes to the higher mean validation accuracy
    c = [scored({"arl": 0.9, "dgl": 0.8}, {"arl": 0, "dgl": 0})]
    d = [scored({"arl": 0.1, "dgl": 0.3}, {"arl": 0, "dgl": 0})]
    assert select_contenders({"c": c, "d": d}, ["arl", "dgl"], k=1)[0] == ["dgl"]  # 0.55 > 0.5
    assert select_contenders({}, ["arl"]) == ([], {})


def test_contender_table_pairs_each_contender_with_joint_and_g2d():
    from g2d.bench.evidence import contender_table

    cells = [scored({"joint": 0.80, "g2d": 0.85, "dgl": 0.82}, {"joint": 0.80, "g2d": 0.85, "dgl": 0.82}),
             scored({"joint": 0.81, "g2d": 0.86, "dgl": 0.85}, {"joint": 0.81, "g2d": 0.86, "dgl": 0.85})]
    text = contender_table({"set": cells}, ["dgl"])
    assert "| data set | joint | g2d | dgl | Δ dgl − joint [95% CI] | Δ dgl − g2d [95% CI] |" in text
    # Δ to joint: +2, +4 -> +3.0; Δ to g2d: -3, -1 -> -2.0 (t(0.975,1) = 12.706, s = 1.41 points)
    half = 12.706 * math.sqrt(2) / math.sqrt(2)
    assert f"| +3.0 [{3 - half:+.1f}, {3 + half:+.1f}] | -2.0 [{-2 - half:+.1f}, {-2 + half:+.1f}] |" in text


def test_tiny_suite_trains_the_contenders_on_the_cells_teachers_and_reports_them(tmp_path):
    import argparse

    from g2d.bench import evidence
    from g2d.provenance import source_fingerprint
    from tests.conftest import tiny_config

    config = tiny_config(teachers__epochs=1, student__epochs=2)
    common = dict(seeds=[0, 1], out=str(tmp_path), executor="local", workers=1, threads=1, ray_address=None)
    first, _ = evidence.run_suite({"set": config}, argparse.Namespace(methods=["joint", "g2d"], **common))
    teacher = tmp_path / "set" / "seed-0" / "teachers"
    stamps = {p: p.stat().st_mtime_ns for p in teacher.glob("*/model.safetensors")}
    assert stamps
    everything = [s.label for s in evidence.methods() if s.label in
                  ["joint", "g2d", *evidence.CANDIDATES, evidence.COMPOSED]]
    args = argparse.Namespace(methods=everything, width=0.0625, teacher_epochs=1, av_epochs=2, mfeat_epochs=2,
                              fusion="concat", decay_at=0.0, **common)
    results, failed = evidence.run_suite({"set": config}, args)
    assert not failed
    # the contenders were added to the same cells: the seed's teachers were loaded, not retrained
    assert {p: p.stat().st_mtime_ns for p in teacher.glob("*/model.safetensors")} == stamps
    assert results["set"][0]["methods"]["joint"] == first["set"][0]["methods"]["joint"]
    assert set(results["set"][0]["methods"]) == set(everything)
    text = evidence.report(results, args, 60.0)
    chosen, _ = evidence.select_contenders(results, evidence.CANDIDATES)
    assert len(chosen) == 2 and set(chosen) <= set(evidence.CANDIDATES)
    assert "#### The 2025 methods: the best two on validation" in text
    assert f"Δ {chosen[0]} − g2d [95% CI]" in text and "Δ g2d+remix − joint [95% CI]" in text
    assert "(chosen)" in text
    assert "#### The highest mean per data set, every method run" in text
    assert "versions of g2d's source code" not in text  # every student of this run: today's code
    assert results["set"][0]["methods"]["dgl"]["software"]["g2d_source"] == source_fingerprint()
    per_modality = text.split("each modality's own output")[1]
    assert all(f"\n| {label} |" in per_modality for label in everything)  # Table 1 layout: every method's z_s^m


def test_leader_table_names_the_highest_mean_and_whether_g2ds_interval_excludes_zero():
    from g2d.bench.evidence import leader_table

    def cells(**acc: list[float]) -> list[dict]:
        n = len(next(iter(acc.values())))
        return [scored({m: a[i] for m, a in acc.items()}, {m: a[i] for m, a in acc.items()}) for i in range(n)]

    behind = cells(joint=[0.80, 0.81, 0.82], g2d=[0.85, 0.86, 0.87], dgl=[0.90, 0.91, 0.92])  # dgl +5 every seed
    tied = cells(joint=[0.80, 0.80, 0.80], g2d=[0.85, 0.86, 0.84], arl=[0.84, 0.88, 0.83])  # g2d − arl: +1, -2, +1
    ahead = cells(joint=[0.80, 0.80, 0.80], g2d=[0.90, 0.91, 0.92], arl=[0.85, 0.86, 0.87])
    text = leader_table({"b": behind, "t": tied, "a": ahead}, ["joint", "g2d", "dgl", "arl"])
    assert "| b | dgl | 91.0 ± 1.0 | g2d 86.0 ± 1.0 | -5.0 [-5.0, -5.0] | behind |" in text
    assert "| t | g2d | 85.0 ± 1.0 | arl 85.0 ± 2.6 | +0.0 [" in text and "tie (interval across zero)" in text  # equal means: g2d is named
    assert "| a | g2d | 91.0 ± 1.0 | arl 86.0 ± 1.0 | +5.0 [+5.0, +5.0] | ahead |" in text
    from g2d.bench.evidence import versus_g2d_table

    versus = versus_g2d_table({"b": behind, "t": tied}, ["joint", "g2d", "dgl", "arl"])
    assert "| data set | joint − g2d | dgl − g2d | arl − g2d |" in versus
    assert "| b | -5.0 [-5.0, -5.0] * | +5.0 [+5.0, +5.0] * | – |" in versus
    assert "| t | -5.0 [" in versus and versus.count("*") == 3  # t: joint −5 every seed; arl − g2d a tie


def test_the_report_warns_when_its_students_come_from_different_code():
    from g2d.bench.evidence import code_versions_note

    def cell(*sources):
        return {"methods": {f"m{i}": ({"software": {"g2d_source": s}} if s else {}) for i, s in enumerate(sources)}}

    assert code_versions_note({"a": [cell("abc", "abc")], "b": [cell("abc")]}) == ""
    mixed = code_versions_note({"a": [cell("abc", "def")]})
    assert "come from 2 versions of g2d's source code" in mixed and "abc, def" in mixed
    old = code_versions_note({"a": [cell("abc", None)]})
    assert "(1 of 2 trained before versions were recorded)" in old
    assert "None of the 2 students in these tables recorded the code" in code_versions_note({"a": [cell(None, None)]})


def test_a_cell_reads_back_only_columns_trained_with_the_same_config(tmp_path):
    from g2d.bench.evidence import run_cell
    from tests.conftest import tiny_config

    joint, g2d = ("joint", "joint", {}, []), ("g2d", "g2d", {}, [])
    out = str(tmp_path / "cell")
    one = tiny_config(teachers__epochs=1, student__epochs=1).model_dump(mode="json")
    run_cell(json.dumps(one), out, [joint], 1)
    epochs = lambda label: len((tmp_path / "cell/students" / label / "metrics.jsonl").read_text().splitlines())  # noqa: E731
    assert epochs("joint") == 1
    same = run_cell(json.dumps(one), out, [joint], 1)  # same config: read back, nothing trained
    assert same["reused"] is True
    two = tiny_config(teachers__epochs=1, student__epochs=2).model_dump(mode="json")
    summary = run_cell(json.dumps(two), out, [joint, g2d], 1)  # another budget: joint is retrained too
    assert epochs("joint") == 2 and epochs("g2d") == 2 and set(summary["methods"]) == {"joint", "g2d"}
