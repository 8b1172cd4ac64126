"""Text extraction by format, and chunking within the spec's ranges (no server needed)."""

from __future__ import annotations

import pytest

from tests.files.pdf import one_page_pdf
from threadloom.threads_server.files.chunking import ChunkingError, chunk, resolve
from threadloom.threads_server.files.extract import UnsupportedFile, content_type, extract_text


def test_formats_users_upload_most() -> None:
    assert extract_text("notes.md", "\ufeff# Title\nbody".encode()) == "# Title\nbody"
    assert extract_text("main.py", b"def f():\n    return 1\n") == "def f():\n    return 1\n"
    assert extract_text("Makefile", b"all:\n\ttrue\n") == "all:\n\ttrue\n"
    html = b"<html><script>var x=1</script><body><p>One &amp; two</p><div>three</div></body></html>"
    assert extract_text("page.html", html) == "One & two\nthree"
    assert extract_text("rows.jsonl", b'{"a": 1}\n\n{"b": 2}\n').startswith('{"a": 1}')
    assert extract_text("doc.pdf", one_page_pdf("Pages of text")) == "Pages of text"
    assert content_type("doc.pdf") == "application/pdf"
    assert content_type("main.py") == "text/plain"
    for name, content in (
        ("photo.jpg", b"\xff\xd8\xff"),
        ("bad.json", b"{"),
        ("bad.jsonl", b'{"a": 1}\nnope\n'),
        ("bin.txt", b"a\x00b"),
        ("blank.md", b"\n\n  "),
        ("blank.pdf", one_page_pdf("")),
    ):
        with pytest.raises(UnsupportedFile):
            extract_text(name, content)


def test_chunks_are_windows_with_overlap() -> None:
    words = " ".join(f"w{i}" for i in range(250))
    chunks = chunk(words, 100, 20)
    assert [c.split()[0] for c in chunks] == ["w0", "w80", "w160"]
    assert chunks[0].split()[-1] == "w99" and chunks[-1].split()[-1] == "w249"
    assert chunk("short text", 100, 0) == ["short text"]
    assert chunk("   ", 100, 0) == []


def test_chunking_strategies_and_their_ranges() -> None:
    assert resolve(None) == {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}
    assert resolve({"type": "auto"}) == resolve(None)
    sizes = {"max_chunk_size_tokens": 4096, "chunk_overlap_tokens": 2048}
    assert resolve({"type": "static", "static": sizes}) == sizes
    for size, overlap in ((99, 0), (4097, 0), (200, 101), (200, -1)):
        static = {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap}
        with pytest.raises(ChunkingError):
            resolve({"type": "static", "static": static})
