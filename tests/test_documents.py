"""Loading files into heading-aware blocks, and chunking them in the embedder's own tokens."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.core.config import load_settings
from ingest.chunker import chunk_document
from ingest.documents import DocumentError, load_document
from ingest.embedder import Embedder

from .conftest import SAMPLES


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return Embedder.from_settings(load_settings(home=tmp_path_factory.mktemp("home")))


def test_markdown_keeps_heading_paths() -> None:
    document = load_document(SAMPLES / "corpus/support/factory-reset.md")
    assert document.title == "Factory reset of the Nimbus N300"
    sections = [block.section for block in document.blocks]
    assert "Factory reset of the Nimbus N300 > Resetting a unit" in sections
    reset = next(b for b in document.blocks if b.section.endswith("Resetting a unit"))
    assert "10 seconds" in reset.text and "#" not in reset.text


def test_html_keeps_main_content_and_title_only() -> None:
    document = load_document(SAMPLES / "corpus/support/firmware-update.html")
    text = "\n".join(block.text for block in document.blocks)
    assert document.title == "Updating the firmware of the Nimbus N300"
    assert "03:00 and 05:00" in text
    assert "Cookie settings" not in text and "Brightwave Support" not in text  # footer and breadcrumb
    assert any(block.section.endswith("> Rolling back") for block in document.blocks)
    assert all(block.section.startswith(document.title) for block in document.blocks)


def test_html_is_sniffed_without_suffix(tmp_path: Path) -> None:
    page = tmp_path / "page"
    page.write_text((SAMPLES / "corpus/policy/data-retention.html").read_text())
    assert load_document(page).title == "Data Retention Policy (OFP-DAT)"


def test_plain_text_title_is_its_first_line() -> None:
    assert load_document(SAMPLES / "corpus/support/port-forwarding.txt").title == "Port forwarding on the Nimbus N300"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary content"),
        (bytes((n * 7919) % 128 + 128 for n in range(200)), "not text in any encoding"),
        (b"\xff\xfe" + "a lone surrogate:".encode("utf-16-le") + b"\x00\xd8", "not valid UTF-16, although its byte"),
        (b"   \n\n  ", "no text found"),
    ],
)
def test_unreadable_files_raise_a_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    with pytest.raises(DocumentError, match=reason):
        load_document(bad)


def test_chunks_fit_the_model_and_never_cut_words(tmp_path: Path, embedder: Embedder) -> None:
    words = [f"word{i}" for i in range(3000)]
    sentences = [" ".join(words[i : i + 12]) + "." for i in range(0, len(words), 12)]
    source = tmp_path / "long.md"
    source.write_text("# Long\n\n" + " ".join(sentences[:100]) + "\n\n" + "\n\n".join(sentences[100:]))
    chunks = chunk_document(load_document(source), embedder.count_tokens, max_tokens=120, overlap_tokens=20)

    assert len(chunks) > 10
    for chunk in chunks:
        assert chunk.tokens <= 120 - 2, chunk  # room left for [CLS] and [SEP]
        body = chunk.text.split("\n", 1)[1]
        assert chunk.text.startswith("Long\n")
        assert set(re.findall(r"word\d+", body)) <= set(words)
        assert not re.search(r"(^|\s)\d", body), "a chunk starts inside a word"
    covered = {w for chunk in chunks for w in re.findall(r"word\d+", chunk.text)}
    assert covered == set(words)


def test_overlap_repeats_the_end_of_the_previous_chunk(tmp_path: Path, embedder: Embedder) -> None:
    paragraphs = [f"Paragraph {i} says something about topic {i}." for i in range(60)]
    source = tmp_path / "doc.md"
    source.write_text("# Doc\n\n" + "\n\n".join(paragraphs))
    document = load_document(source)
    with_overlap = chunk_document(document, embedder.count_tokens, max_tokens=80, overlap_tokens=20)
    without = chunk_document(document, embedder.count_tokens, max_tokens=80, overlap_tokens=0)

    last_of_first = with_overlap[0].text.splitlines()[-1]
    assert last_of_first in with_overlap[1].text
    assert last_of_first not in without[1].text
    assert len(with_overlap) > len(without)


def test_sections_are_never_mixed_in_one_chunk(embedder: Embedder) -> None:
    document = load_document(SAMPLES / "corpus/policy/travel-expenses.md")
    chunks = chunk_document(document, embedder.count_tokens, max_tokens=200, overlap_tokens=32)
    for chunk in chunks:
        clauses = set(re.findall(r"\*\*T(\d)\.\d\*\*", chunk.text))
        assert len(clauses) <= 1, chunk.text
