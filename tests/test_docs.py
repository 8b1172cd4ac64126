"""The docs carry what they point at: every relative link resolves inside the repository, and the
vendored spec excerpt is the file its provenance note names."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)")


def test_every_relative_link_of_the_docs_stays_in_the_repository() -> None:
    outside, missing = [], []
    for doc in DOCS:
        for target in LINK.findall(doc.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            path = (doc.parent / target).resolve()
            if not path.is_relative_to(ROOT):
                outside.append(f"{doc.name}: {target}")
            elif not path.exists():
                missing.append(f"{doc.name}: {target}")
    assert not outside, f"links outside the repository: {outside}"
    assert not missing, f"links to missing files: {missing}"


def test_the_docs_name_no_folder_beside_the_checkout() -> None:
    for doc in DOCS:
        assert "../shared" not in doc.read_text(), doc.name


def test_the_vendored_reference_matches_its_provenance_note() -> None:
    reference = ROOT / "docs" / "reference"
    note = (reference / "PROVENANCE.md").read_text()
    listed = re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", note, flags=re.M)
    assert {name for name, _ in listed} == {
        "assistants-v2.openapi.yaml",
        "BEHAVIOUR.md",
        "normalize_nullable.py",
        "files-vector-stores.openapi.yaml",
        "FILES-BEHAVIOUR.md",
    }
    for name, digest in listed:
        assert hashlib.sha256((reference / name).read_bytes()).hexdigest() == digest, name
