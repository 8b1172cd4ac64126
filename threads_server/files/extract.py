"""Text extraction at upload: what a file says, as text, or `UnsupportedFile` (a 400, nothing stored).

Formats, by file name extension (content that does not fit the extension is refused too):
- text: plain text, Markdown, CSV/TSV, JSON / JSON Lines (must parse), YAML, XML, TeX, and source code
  (`.py .js .ts .java .c .cpp .h .cs .go .rs .rb .php .sh .sql .swift .kt .scala …`): UTF-8 (a BOM
  is dropped), used as it is;
- HTML: the visible text (script and style dropped, block elements as line breaks);
- PDF: the text layer of every page, through `pypdf` (pure Python); a scanned PDF with no text
  layer has no text and is refused.
"""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser
from pathlib import PurePosixPath

TEXT_EXTENSIONS = frozenset(
    ".txt .text .md .markdown .rst .csv .tsv .log .yaml .yml .toml .ini .cfg .xml .tex .org"
    " .py .pyi .js .mjs .cjs .jsx .ts .tsx .java .c .h .cc .cpp .hpp .cxx .cs .go .rs .rb .php"
    " .sh .bash .zsh .ps1 .sql .swift .kt .kts .scala .lua .pl .r .m .dart .ex .exs .erl .hs"
    " .clj .vue .svelte .css .scss .less .proto .graphql .dockerfile .makefile".split()
)
JSON_EXTENSIONS = frozenset({".json", ".jsonl", ".ndjson"})
HTML_EXTENSIONS = frozenset({".html", ".htm", ".xhtml"})
PDF_EXTENSIONS = frozenset({".pdf"})
CONTENT_TYPES = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".json": "application/json",
    ".jsonl": "application/jsonl",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".csv": "text/csv",
}


class UnsupportedFile(ValueError):
    """A file whose format is not supported, or whose content does not fit its format."""


def extension(filename: str) -> str:
    """The lowercase extension (`.md`), or the whole lowercase name for `Makefile`-like files."""
    path = PurePosixPath(filename.replace("\\", "/"))
    return path.suffix.lower() or "." + path.name.lower()


def content_type(filename: str) -> str:
    """The content type of a supported file, by its extension."""
    ext = extension(filename)
    if ext in TEXT_EXTENSIONS:
        return CONTENT_TYPES.get(ext, "text/plain")
    return CONTENT_TYPES.get(ext, "application/octet-stream")


def supported(filename: str) -> bool:
    """Whether the extension is one this server extracts text from."""
    ext = extension(filename)
    return ext in TEXT_EXTENSIONS | JSON_EXTENSIONS | HTML_EXTENSIONS | PDF_EXTENSIONS


def _utf8(content: bytes, filename: str) -> str:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnsupportedFile(f"'{filename}' is not UTF-8 text") from None
    if "\x00" in text:
        raise UnsupportedFile(f"'{filename}' holds binary data, not text")
    return text


class _Visible(HTMLParser):
    BLOCKS = frozenset("p div br li tr h1 h2 h3 h4 h5 h6 section article header footer pre".split())
    HIDDEN = frozenset({"script", "style", "noscript", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self._hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_text(html: str) -> str:
    """The visible text of an HTML document, one line per block."""
    parser = _Visible()
    parser.feed(html)
    parser.close()
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def pdf_text(content: bytes, filename: str) -> str:
    """The text layer of every page of a PDF."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(content))
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise UnsupportedFile(f"'{filename}' is not a readable PDF ({type(exc).__name__})") from None


def extract_text(filename: str, content: bytes) -> str:
    """The text of an uploaded file; UnsupportedFile if there is none this server can read."""
    ext = extension(filename)
    if ext in PDF_EXTENSIONS:
        text = pdf_text(content, filename)
    elif ext in HTML_EXTENSIONS:
        text = html_text(_utf8(content, filename))
    elif ext in JSON_EXTENSIONS:
        text = _utf8(content, filename)
        try:
            if ext == ".json":
                json.loads(text)
            else:
                for line in text.splitlines():
                    if line.strip():
                        json.loads(line)
        except ValueError:
            raise UnsupportedFile(f"'{filename}' is not valid JSON") from None
    elif ext in TEXT_EXTENSIONS:
        text = _utf8(content, filename)
    else:
        raise UnsupportedFile(
            f"Files with extension '{ext}' are not supported for retrieval; supported: text,"
            " Markdown, JSON, HTML, PDF and source code files."
        )
    if not text.strip():
        raise UnsupportedFile(f"'{filename}' contains no text")
    return text
