"""Files → ``Document``: plain text split into blocks that carry their heading path, and a summary.

Every format is reduced to the same shape so that one chunker serves them all.
HTML becomes Markdown (``html_text``: trafilatura's main content, or the whole
main region when trafilatura kept too little), whose headings then give the
section path. PDF pages (pypdf) become one block each with their page number;
DOCX heading styles (python-docx) become Markdown headings. The format is
sniffed from the content as well as the suffix, so a mislabelled file is read
for what it is. The summary is the sentence that says what the document is
for: a man page's NAME line, the page's meta description, or its first prose.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from assistant.core.config import IngestSettings
from assistant.core.errors import UserError
from ingest.html_text import HTMLError, html_to_markdown
from ingest.text_encoding import EncodingError, decode_text

TEXT_SUFFIXES = {".txt", ".text", ".rst", ".log"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
PDF_SUFFIXES = {".pdf"}
DOCX_SUFFIXES = {".docx"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES | DOCX_SUFFIXES

_PDF_MAGIC = b"%PDF-"
_MARKUP_START = (b"<!doctype html", b"<html", b"<?xml")

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


@dataclass
class Block:
    """A run of text under one heading path (e.g. ``Factory reset > Resetting a unit``)."""

    text: str
    section: str = ""
    page: int | None = None  # 1-based, for paged formats


@dataclass
class Document:
    path: Path
    title: str
    blocks: list[Block] = field(default_factory=list)
    summary: str = ""  # what the document is for, in a sentence: chunks far from its top are embedded with it
    encoding: str = ""  # what a text format was read in ("utf-8", "cp1252"...); "" for PDF and DOCX


class DocumentError(UserError):
    """A file that cannot be read as a document; the message names the reason."""


# An archive member that unpacks to over 100 times its packed size is a bomb, not a document: Apache POI's
# ZipSecureFile refuses Office files by the same ratio. Real Word XML packs 5-20 fold.
MAX_UNPACK_RATIO = 100
_RATIO_FROM_BYTES = 1 << 20  # small members (styles, settings) may pack tighter harmlessly
DEFAULT_MAX_UNPACKED_MB: float = IngestSettings.model_fields["max_unpacked_mb"].default


def load_document(path: Path, raw: bytes | None = None, max_unpacked_mb: float = DEFAULT_MAX_UNPACKED_MB) -> Document:
    """Parse one file with the loader its content and suffix call for (``raw``: its bytes, if already read;
    ``max_unpacked_mb``: the most an archive format, DOCX, may unpack to)."""
    raw = path.read_bytes() if raw is None else raw
    if not raw:
        raise DocumentError("empty file")
    suffix = path.suffix.lower()
    if raw.startswith(_PDF_MAGIC):
        return _checked(_load_pdf(path, raw))
    if suffix in PDF_SUFFIXES:
        raise DocumentError("not a PDF (no %PDF header)")
    if suffix in DOCX_SUFFIXES:
        _check_unpacked_size(raw, max_unpacked_mb)
        return _checked(_load_docx(path, raw))
    markup = suffix in HTML_SUFFIXES or _looks_like_markup(raw)
    try:
        text, encoding = decode_text(raw, markup)
    except EncodingError as err:
        raise DocumentError(str(err)) from None
    loader = _load_html if markup else _load_markdown if suffix in MARKDOWN_SUFFIXES else _load_text
    return _checked(replace(loader(path, text), encoding=encoding))


def _checked(document: Document) -> Document:
    if not any(block.text.strip() for block in document.blocks):
        raise DocumentError("no text found")
    return document


def _looks_like_markup(raw: bytes) -> bool:
    """Sniff HTML by content too: Debian manuals ship pages without an .html suffix."""
    return raw[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith(_MARKUP_START)


def _load_text(path: Path, text: str) -> Document:
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), path.stem)
    blocks = [Block(text)]
    return Document(path, title=first_line[:200], blocks=blocks, summary=_first_sentence(blocks))


def _load_markdown(path: Path, text: str) -> Document:
    blocks = markdown_blocks(text)
    title = next((b.section.split(" > ")[0] for b in blocks if b.section), path.stem)
    return Document(path, title=title, blocks=blocks, summary=_first_sentence(blocks))


def _load_html(path: Path, text: str) -> Document:
    try:
        page = html_to_markdown(text)
    except HTMLError as err:
        raise DocumentError(f"unreadable HTML: {err}") from None
    blocks = markdown_blocks(unescape_markdown(page.markdown))
    if not blocks:
        raise DocumentError("no main content found in the HTML")
    title = page.title or next((b.section.split(" > ")[0] for b in blocks if b.section), path.stem)
    if not blocks[0].section.startswith(title):
        # trafilatura drops the <h1> it used as the title; put it back at the top of the path.
        blocks = [Block(b.text, f"{title} > {b.section}" if b.section else title) for b in blocks]
    return Document(path, title=title, blocks=blocks, summary=_clip(page.description) or _first_sentence(blocks))


def _load_pdf(path: Path, raw: bytes) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError("encrypted PDF (a password is needed)")
        pages = [page.extract_text() or "" for page in reader.pages]
        metadata_title = reader.metadata.title if reader.metadata else None
    except (PyPdfError, ValueError, KeyError, TypeError) as err:
        raise DocumentError(f"unreadable PDF: {err}") from None
    if not any(text.strip() for text in pages):
        raise DocumentError("PDF has no text layer (a scan? OCR is not supported)")
    first_line = next((line.strip() for text in pages for line in text.splitlines() if line.strip()), "")
    title = (metadata_title or first_line or path.stem).strip()[:200]
    blocks = [Block(text.strip(), title, page=n) for n, text in enumerate(pages, start=1) if text.strip()]
    return Document(path, title=title, blocks=blocks)


def _check_unpacked_size(raw: bytes, max_unpacked_mb: float) -> None:
    """Refuse a zip bomb before anything inflates it, by the sizes its directory declares: Python's zipfile
    never inflates a member past its declared size."""
    try:
        members = zipfile.ZipFile(io.BytesIO(raw)).infolist()
    except (zipfile.BadZipFile, ValueError) as err:
        raise DocumentError(f"unreadable DOCX: {err}") from None
    for member in members:
        if member.file_size > _RATIO_FROM_BYTES and member.file_size > MAX_UNPACK_RATIO * member.compress_size:
            raise DocumentError(
                f"{member.filename} unpacks to {member.file_size // member.compress_size} times its packed size "
                f"(over {MAX_UNPACK_RATIO}): a zip bomb, not a document"
            )
    unpacked_mb = sum(member.file_size for member in members) / 1e6
    if unpacked_mb > max_unpacked_mb:
        raise DocumentError(
            f"unpacks to {unpacked_mb:.3g} MB, over the {max_unpacked_mb:g} MB limit (ingest.max_unpacked_mb)"
        )


def _load_docx(path: Path, raw: bytes) -> Document:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        word = docx.Document(io.BytesIO(raw))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as err:
        raise DocumentError(f"unreadable DOCX: {err}") from None
    lines = []
    for paragraph in word.paragraphs:
        style = paragraph.style.name if paragraph.style is not None else ""
        level = _heading_level(style or "")
        text = paragraph.text.strip()
        lines.append(f"{'#' * level} {text}" if level and text else text)
    for table in word.tables:
        lines.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows)
    blocks = markdown_blocks("\n\n".join(lines))
    title = (word.core_properties.title or "").strip() or next(
        (b.section.split(" > ")[0] for b in blocks if b.section), path.stem
    )
    return Document(path, title=title, blocks=blocks, summary=_first_sentence(blocks))


def _heading_level(style: str) -> int:
    """Word's 'Title' and 'Heading N' styles as Markdown heading levels (0: not a heading)."""
    if style == "Title":
        return 1
    match = re.fullmatch(r"Heading (\d)", style)
    return int(match.group(1)) if match else 0


def markdown_blocks(text: str) -> list[Block]:
    """Split Markdown at headings, keeping the path of enclosing headings."""
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    lines: list[str] = []

    def flush() -> None:
        body = "\n".join(lines).strip()
        if body:
            blocks.append(Block(body, " > ".join(title for _, title in path)))
        lines.clear()

    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line)
        if match:
            flush()
            level, title = len(match.group(1)), _strip_markup(match.group(2))
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, title)]
        else:
            lines.append(line)
    flush()
    if not blocks and path:  # a file of headings only still has text worth indexing
        blocks.append(Block(" > ".join(t for _, t in path), " > ".join(t for _, t in path)))
    return blocks


_MAN_NAME = re.compile(r"^\W*NAME\W*\n+((?:[ \t]+\S.*\n?)+)", re.MULTILINE)  # "**NAME**" and its indented line
_CODE_CHARACTERS = re.compile(r"[\[\]<>{}|=]")
_SUMMARY_WORDS = 40


def _first_sentence(blocks: list[Block]) -> str:
    """A man page's NAME line ("anvil - session count and rate control"), else the first paragraph of prose:
    the sentence that says what the document is for, which the chunks of its option lists never repeat."""
    text = "\n\n".join(block.text for block in blocks[:5])
    if name := _MAN_NAME.search(text):
        return _clip(name.group(1))
    return next((_clip(p) for p in re.split(r"\n\s*\n", text) if _is_prose(p)), "")


def _is_prose(paragraph: str) -> bool:
    """A sentence or more of running text: not a synopsis, a list, a table or code."""
    text = paragraph.strip()
    return (
        len(text.split()) >= 6
        and text.endswith((".", ":"))
        and not text.startswith(("```", "|", "- ", "* ", "    "))
        and len(_CODE_CHARACTERS.findall(text)) <= len(text) / 50
    )


def _clip(text: str) -> str:
    words = re.sub(r"[*`]", "", text).split()
    return " ".join(words[:_SUMMARY_WORDS]) + (" …" if len(words) > _SUMMARY_WORDS else "")


_MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>|~])")


def unescape_markdown(text: str) -> str:
    """Drop the backslashes trafilatura puts before punctuation (``\\[``, ``\\<``): noise to the embedder,
    to BM25 and to a reader alike. Fenced code is left as written."""
    parts = re.split(r"(^```.*?^```)", text, flags=re.MULTILINE | re.DOTALL)
    return "".join(part if part.startswith("```") else _MARKDOWN_ESCAPE.sub(r"\1", part) for part in parts)


def _strip_markup(title: str) -> str:
    """A heading without emphasis markers; underscores inside names (``add_custom_command``) stay."""
    return re.sub(r"(?<!\w)[*_]+|[*_]+(?!\w)|`", "", title).strip()
