"""g2d.staging: plan decides without writing; begin/publish never leave a finished folder half-replaced."""
from __future__ import annotations

from pathlib import Path

import pytest

from g2d import staging


def finished(folder: Path, text: str = "old") -> Path:
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(text)
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "state.pt").write_text(text)
    return folder


def files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("resume, overwrite, refused", [(False, False, True), (True, False, False),
                                                         (False, True, False), (True, True, False)])
def test_a_finished_folder_needs_resume_or_overwrite_and_plan_writes_nothing(tmp_path, resume, overwrite, refused):
    final = finished(tmp_path / "g2d")
    before = files(tmp_path)
    if refused:
        with pytest.raises(staging.FinishedRunError, match="already holds a finished student; it was left untouched"):
            staging.plan(final, "result.json", "student", resume=resume, overwrite=overwrite)
    else:
        plan = staging.plan(final, "result.json", "student", resume=resume, overwrite=overwrite)
        assert plan.replaces and plan.resume_from == (final if resume else None)
    assert files(tmp_path) == before


def test_an_interrupted_run_needs_resume_or_overwrite(tmp_path):
    (tmp_path / ".g2d.partial" / "checkpoints").mkdir(parents=True)
    with pytest.raises(staging.FinishedRunError, match="an interrupted run of student is in"):
        staging.plan(tmp_path / "g2d", "result.json", "student", resume=False, overwrite=False)
    plan = staging.plan(tmp_path / "g2d", "result.json", "student", resume=True, overwrite=False)
    assert plan.resume_from == tmp_path / ".g2d.partial" and not plan.replaces


def test_resuming_a_finished_run_stages_a_copy_and_publish_swaps_it_in(tmp_path):
    final = finished(tmp_path / "g2d")
    plan = staging.plan(final, "result.json", "student", resume=True, overwrite=False)
    folder = staging.begin(plan)
    assert folder == tmp_path / ".g2d.partial"
    assert files(folder) == {"checkpoints/state.pt": "old"}  # the checkpoint; the marker is written when it finishes
    (folder / "result.json").write_text("new")
    assert (final / "result.json").read_text() == "old"  # untouched until published
    staging.publish(plan)
    assert (final / "result.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g2d"]


def test_a_fresh_overwrite_starts_empty_and_keeps_the_old_until_published(tmp_path):
    final = finished(tmp_path / "g2d")
    (tmp_path / ".g2d.partial").mkdir()
    (tmp_path / ".g2d.partial" / "stale").write_text("x")
    plan = staging.plan(final, "result.json", "student", resume=False, overwrite=True)
    folder = staging.begin(plan)
    assert list(folder.iterdir()) == [] and files(final)["result.json"] == "old"
    (folder / "result.json").write_text("new")
    staging.publish(plan)
    assert files(final) == {"result.json": "new"}


def test_teachers_folder_marker_is_any_card(tmp_path):
    (tmp_path / "teachers" / "audio").mkdir(parents=True)
    assert not staging.is_finished(tmp_path / "teachers", "*/card.json")
    (tmp_path / "teachers" / "audio" / "card.json").write_text("{}")
    assert staging.is_finished(tmp_path / "teachers", "*/card.json")


def test_a_publish_cut_between_its_renames_is_recovered_with_nothing_lost(tmp_path, monkeypatch):
    final = finished(tmp_path / "g2d")
    plan = staging.plan(final, "result.json", "student", resume=False, overwrite=True)
    folder = staging.begin(plan)
    (folder / "result.json").write_text("new")
    (folder / "checkpoints").mkdir()
    real_rename = Path.rename

    def cut_after_the_first(self, target):
        real_rename(self, target)
        if self == final:
            raise KeyboardInterrupt  # killed between the two renames
    monkeypatch.setattr(Path, "rename", cut_after_the_first)
    with pytest.raises(KeyboardInterrupt):
        staging.publish(plan)
    monkeypatch.undo()
    assert not final.exists()
    again = staging.plan(final, "result.json", "student", resume=True, overwrite=False)
    assert files(final)["result.json"] == "old"  # the finished run is back
    assert again.resume_from == tmp_path / ".g2d.partial"  # --resume picks the new one up
    assert (tmp_path / ".g2d.partial" / "result.json").read_text() == "new"  # the new one still staged
