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


SETTING_ROW = re.compile(r"^\| `THREADLOOM_([A-Z0-9_]+)` \| `([0-9.]+)` \|", re.MULTILINE)


def test_the_readmes_numeric_setting_defaults_are_the_settings_own() -> None:
    """A row of the README's settings table with a number for its default states `Settings`'."""
    from threadloom.starter.settings import Settings

    rows = SETTING_ROW.findall((ROOT / "README.md").read_text())
    assert len(rows) >= 5  # the table is still there, in this shape
    fields = Settings.model_fields
    for name, default in rows:
        field = fields.get(name.lower())
        assert field is not None, f"THREADLOOM_{name} is not a setting"
        assert float(default) == float(field.default), f"THREADLOOM_{name}: README says {default}"
