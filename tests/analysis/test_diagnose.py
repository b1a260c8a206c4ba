"""``g2d diagnose``: the neglected modality, whether the paper's ranking agrees, and ``ranking: auto``."""
import json

import pytest
import yaml

from g2d import api
from g2d.analysis.diagnose import summarize
from g2d.cli import main
from g2d.config import parse_config


def test_summary_names_the_lowest_ratio_and_flags_disagreement():
    conf = {"audio": {"student": 0.3, "teacher": 0.8}, "image": {"student": 0.5, "teacher": 0.5}}
    d = summarize(("audio", "image"), conf, {"audio": 0.8, "image": 0.6}, {"audio": 0.4, "image": 0.6}, "accuracy")
    assert d["modalities"]["audio"]["confidence_ratio"] == pytest.approx(0.375)
    assert d["neglected"] == "audio" and d["least_confident_teacher"] == "image"
    assert not d["paper_ranking_agrees"]
    assert d["recommended"]["ranking"] == "neglect" and d["recommended"]["order"] == ["audio", "image"]
    assert "would train the wrong modality first" in d["recommended"]["reason"]


def test_summary_keeps_the_paper_ranking_when_it_agrees():
    conf = {"audio": {"student": 0.2, "teacher": 0.5}, "image": {"student": 0.8, "teacher": 0.9}}
    d = summarize(("audio", "image"), conf, {"audio": 0.5, "image": 0.9}, {"audio": 0.3, "image": 0.9}, "accuracy")
    assert d["paper_ranking_agrees"] and d["recommended"]["ranking"] == "teacher"


def synthetic(options: dict, epochs: int = 15, student_epochs: int = 10) -> dict:
    train = {"epochs": epochs, "optim": {"name": "adam", "lr": 3e-3, "step_size": None}}
    return {"data": {"name": "synthetic", "options": {"num_train": 1200, "num_val": 200, "num_test": 50, **options},
                     "batch_size": 32},
            "model": {"encoders": {m: {"name": "mlp", "options": {"hidden": [32], "out_dim": 16}}
                                   for m in ("strong", "weak")}},
            "teachers": train, "student": train | {"epochs": student_epochs}, "device": "cpu", "analysis": {"track": False}}


# the strong modality's teacher is the less confident one (its signal is missing on 60 % of the samples and
# too narrow to memorise), yet joint training learns it first and neglects the weak (non-linear) modality
DISAGREE = {"strong_missing": 0.6, "strong_dim": 8, "weak_noise": 0.0, "weak_snr": 2.5, "strong_snr": 6.0}


@pytest.mark.slow
@pytest.mark.parametrize("options, agrees", [({}, True), (DISAGREE, False)])
def test_diagnose_names_the_neglected_modality(tmp_path, options, agrees, capsys):
    path = tmp_path / "exp.yaml"
    path.write_text(json.dumps(synthetic(options)))  # JSON is YAML
    assert main(["diagnose", str(path), "--out", str(tmp_path / "run"), "--probe-epochs", "2", "--quiet"]) == 0
    d = json.loads((tmp_path / "run" / "diagnosis.json").read_text())
    assert d["neglected"] == "weak"
    assert d["least_confident_teacher"] == ("weak" if agrees else "strong")
    assert d["paper_ranking_agrees"] is agrees
    assert d["recommended"]["ranking"] == ("teacher" if agrees else "neglect")
    assert "neglected by joint training: weak" in capsys.readouterr().out
    assert not (tmp_path / "run" / "students").exists()  # the probe leaves no student behind


def test_auto_ranking_takes_the_order_the_diagnosis_recommends(tmp_path):
    raw = synthetic({"num_train": 64, "num_val": 16, "num_test": 16}, epochs=1, student_epochs=2)
    raw["method"] = {"name": "g2d", "options": {"ranking": "auto", "schedule": "fixed"}}
    config = parse_config(raw)
    run = tmp_path / "run"
    api.train_teachers(config, run, progress=False)
    (run / "diagnosis.json").write_text(json.dumps({"neglected": "weak", "recommended": {"order": ["weak", "strong"]}}))
    student = api.train_student(config, run, progress=False)
    saved = yaml.safe_load((student.out_dir / "config.yaml").read_text())["method"]["options"]
    assert saved["ranking"] == "fixed" and saved["order"] == ["weak", "strong"]
    assert any("names weak as neglected" in note for note in student.notes)
    smp = [json.loads(line)["modulators"]["smp"] for line in (student.out_dir / "metrics.jsonl").read_text().splitlines()]
    assert smp[0]["prioritised"] == ["weak"] and smp[1]["prioritised"] == []
