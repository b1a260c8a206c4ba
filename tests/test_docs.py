"""The documentation: the site builds with `mkdocs build --strict` (a broken link, a missing page or
a missing API target fails), the methods reference is generated from the registry, and the README
stays a short front door whose relative links all exist."""
from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

needs_mkdocs = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("mkdocs", "material", "mkdocstrings")),
    reason="mkdocs, mkdocs-material or mkdocstrings is not installed (extra `docs`, also in `test`)")


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
                          cwd=config.parent, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})


def relative_links(markdown: str) -> list[str]:
    targets = re.findall(r"\]\(([^)\s]+)\)", markdown)
    return [t for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


def test_the_readme_is_a_front_door_whose_links_exist():
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    links = relative_links(text)
    assert len(links) >= 15
    missing = [t for t in links if not (ROOT / t.split("#")[0]).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"


def test_the_readme_keeps_the_two_commands_and_both_quick_starts():
    text = README.read_text()
    for needed in ("make demo", "make test", "## Quick start: CLI", "## Quick start: Python", "## Results at a glance"):
        assert needed in text


@needs_mkdocs
def test_the_site_builds_strictly_with_the_generated_methods_reference_and_the_api(tmp_path):
    done = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr[-4000:]
    methods = (tmp_path / "site" / "reference" / "methods.html").read_text()
    from g2d.catalog import METHODS

    for name in METHODS.names():
        assert f"<code>{name}</code>" in methods, name
    assert "max_phase" in methods and "neglect" in methods  # options with their descriptions
    api = (tmp_path / "site" / "reference" / "api.html").read_text()
    assert "g2d.objectives" in api and "SequentialModalityPrioritization" in api
    for page in ("getting-started", "concepts/index", "concepts/smp", "concepts/cache", "how-to/own-data",
                 "results/index", "troubleshooting/index", "ARCHITECTURE"):
        assert (tmp_path / "site" / f"{page}.html").is_file(), page
    fetched = re.findall(r"""<(?:script|img|link)\b[^>]*(?:src|href)=["'](https?://[^"']+)""", methods + api)
    assert not fetched, f"the site loads files from the network: {fetched[:5]}"


@needs_mkdocs
def test_a_missing_api_target_or_a_broken_link_fails_the_strict_build(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    config = re.sub(r"\nhooks:\n(  - .*\n)+", "\n", (ROOT / "mkdocs.yml").read_text())  # the same site settings
    config = config.replace("paths: [src]", f"paths: [{ROOT / 'src'}]")
    (tmp_path / "mkdocs.yml").write_text(config)
    (docs / "index.md").write_text("# Home\n\n::: g2d.objectives.this_does_not_exist\n")
    done = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0 and "this_does_not_exist" in done.stderr
    (docs / "index.md").write_text("# Home\n\nSee [a page that is not there](nowhere.md).\n")
    done = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0 and "nowhere.md" in done.stderr


def test_every_readme_section_moved_out_is_in_the_docs():
    """The sections the README had before it became a front door, each now a docs page (or a section of one)."""
    docs = {p.relative_to(ROOT / "docs").as_posix(): p.read_text() for p in (ROOT / "docs").rglob("*.md")}
    expected = {
        "how-to/plugins.md": "# Your own encoder, data set or method: plugins",
        "concepts/index.md": "# The method as implemented",
        "concepts/methods.md": "## Baselines",
        "results/index.md": "## Does G2D beat joint training on real data?",
        "reference/encoders-fusions.md": "# Encoders and fusion modules",
        "how-to/report.md": "# See the imbalance: `g2d report`",
        "how-to/grids.md": "# Grids on several processes or a Ray cluster",
        "how-to/tuning.md": "# Tuning on validation: `g2d tune`",
        "reference/configuration.md": "# Configuration reference",
        "reference/data-formats.md": "## Built-in synthetic data",
        "troubleshooting/index.md": "| What | Checked | The error says |",
        "how-to/gpus.md": "# Speed, GPUs and several GPUs",
        "development.md": "# Development",
    }
    for page, heading in expected.items():
        assert heading in docs.get(page, ""), f"{page} lacks {heading!r}"
    for heading in ("## Real benchmark: spoken and written digits, and mfeat", "### Whole epochs (issue 17)",
                    "On a GPU", "SMP ablation (layout of the paper's Table 4)"):
        assert heading in docs["results/index.md"], heading
