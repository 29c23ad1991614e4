"""The project carries its own data: every file an option reads is under data/, pinned, listed in data/SOURCES.md.

A clone with nothing beside it must run: nothing in the code, configs or tests may point outside the repository, and
git must not ignore data/ (a clone would silently lack it).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from lemma.benchmarks import file_sha256
from lemma.config import DATA_ROOT, REPO_ROOT, TRAIN_SHA256

SOURCES = DATA_ROOT / "SOURCES.md"


def _listed() -> dict[str, str]:
    """path under data/ -> sha256, from the Files table of data/SOURCES.md."""
    rows = re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", SOURCES.read_text(), flags=re.M)
    return dict(rows)


def test_sources_lists_every_shipped_file_with_its_hash():
    listed = _listed()
    shipped = {str(p.relative_to(DATA_ROOT)) for p in DATA_ROOT.rglob("*") if p.is_file() and p != SOURCES}
    assert set(listed) == shipped
    for rel, sha in listed.items():
        assert file_sha256(DATA_ROOT / rel) == sha, rel


def test_every_benchmark_option_and_train_set_reads_a_pinned_shipped_file(make_cfg):
    listed = _listed()
    items = list(make_cfg().build.decontaminate_against["items"].values())  # every file-sourced single option
    assert {i.name for i in items} >= {"gsm8k", "math", "asdiv", "deepmind_math", "mawps", "svamp", "college_math"}
    for item in items:
        rel = str(item.path).removeprefix(str(DATA_ROOT) + "/")
        assert listed.get(rel) == item.sha256, item.name
    for dataset, sha in TRAIN_SHA256.items():
        assert listed[f"train/{dataset}/train.jsonl"] == sha


def test_sources_states_a_licence_for_every_file():
    text = SOURCES.read_text()
    licences = text[text.index("## Licences"):text.index("## Hub sources")]
    for name in ("gsm8k", "math test", "math500", "svamp", "asdiv", "mawps (Qwen copy)", "mawps_refaug",
                 "deepmind_math", "college_math", "minerva_math", "olympiadbench"):
        assert f"| {name}" in licences, name
    assert licences.count("non-commercial") >= 3  # ASDiv, College-Math's NC-SA records, Minerva


def test_nothing_points_outside_the_repository():
    pattern = re.compile(r"\.\./shared|/shared/|shared_data|SHARED_DATA|LEMMA_SHARED")
    offenders = []
    for folder in ("lemma", "tests", "conf", "benchmarks", "scripts", "sweeps", ".ci"):
        for path in (REPO_ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".yaml", ".yml", ".json", ".md", ".txt", ""}:
                text = path.read_text(encoding="utf-8", errors="ignore")
                if path.name != "test_data_folder.py" and pattern.search(text):
                    offenders.append(str(path.relative_to(REPO_ROOT)))
    for name in ("run.py", "pyproject.toml"):
        if pattern.search((REPO_ROOT / name).read_text()):
            offenders.append(name)
    assert offenders == []


@pytest.mark.skipif(shutil.which("git") is None or not (REPO_ROOT / ".git").exists(), reason="not a git checkout")
def test_git_does_not_ignore_the_data_folder():
    files = [str(p.relative_to(REPO_ROOT)) for p in DATA_ROOT.rglob("*") if p.is_file()]
    out = subprocess.run(["git", "check-ignore", *files], cwd=REPO_ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "", f"ignored by .gitignore: {out.stdout}"
