"""The software record: a fingerprint of g2d's own source files that tells two checkouts apart."""
import re

from g2d import provenance


def test_the_fingerprint_hashes_every_source_file_by_path_and_content(tmp_path, monkeypatch):
    package = tmp_path / "g2d"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "a.py").write_text("x = 1\n")
    (package / "notes.txt").write_text("not code")
    fake = package / "provenance.py"
    fake.write_text("")

    def fingerprint() -> str:
        monkeypatch.setattr(provenance, "__file__", str(fake))
        provenance.source_fingerprint.cache_clear()
        return provenance.source_fingerprint()

    first = fingerprint()
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    (package / "notes.txt").write_text("changed")  # not a .py file: same code
    assert fingerprint() == first
    (package / "sub" / "a.py").write_text("x = 2\n")
    changed = fingerprint()
    assert changed != first
    (package / "sub" / "a.py").rename(package / "b.py")  # same bytes, another module
    assert fingerprint() != changed
    provenance.source_fingerprint.cache_clear()


def test_software_names_g2d_torch_and_python():
    import torch

    record = provenance.software()
    assert record["torch"] == torch.__version__ and record["g2d_source"] == provenance.source_fingerprint()
    assert set(record) == {"g2d", "g2d_source", "torch", "python"}
