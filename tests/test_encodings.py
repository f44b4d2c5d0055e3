"""Pages and texts as their generators and editors write them: an XML declaration before the page (DocBook,
asciidoc), a legacy charset, declared or not, and a byte-order mark.

Each file in ``tests/encodings`` was written for these tests in the style of its generator. Each is read in
the right encoding, keeps its title and summary, is found by a question in other words, and the manifest
records what it was read in. Before, lxml refused every page with an XML declaration, and text in a legacy
code page was refused as "not valid UTF-8".
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from assistant.runtime import Runtime
from ingest.documents import load_document
from ingest.manifest import DocumentRecord, LocalManifest
from ingest.text_encoding import decode_text

from .conftest import invoke

ENCODINGS = Path(__file__).parent / "encodings"

# file, encoding it is read in, title, summary's start, words only the right decoding gives, a question
CASES = [
    (
        "sect.kiln-firing.html",  # DocBook (publican) XHTML: XML declaration, DOCTYPE, xmlns
        "utf-8",
        "4.2. Firing schedules for the Potterlane kiln",
        "A firing schedule tells the Potterlane controller how fast to climb",
        "passes 573 °C on the way down",
        "Why did my pots crack when I opened the lid while the kiln was cooling?",
    ),
    (
        "serac-burrs.html",  # asciidoc XHTML saved in ISO-8859-1, which WHATWG reads as windows-1252
        "cp1252",
        "Café Sérac: the espresso grinder's burr settings",
        "The Sérac grinder's burrs are set with the dial under the hopper",
        "start at dial 4½",
        "Which number on the coffee grinder should I use for espresso?",
    ),
    (
        "tidewell-overflow.html",  # a UTF-8 byte-order mark before the XML declaration
        "utf-8-sig",
        "Tidewell rain barrel \u2013 overflow valve",
        "How the Tidewell rain barrel's overflow valve diverts water",
        "the downpipe\u2019s flow",
        "What should I do with the water butt before it freezes?",
    ),
    (
        "almrausch-cellar.txt",  # Latin-1, no declaration
        "cp1252",
        "Bergkäserei Almrausch: cellar handbook",
        "The wheels mature for at least 14 months at 12 °C",
        "the Prüfer decides",
        "How long are the cheeses aged, and at what humidity?",
    ),
    (
        "ferry-notes.md",  # Windows-1252: euro signs and curly quotes, where detection alone guessed cp775
        "cp1252",
        "Harbour ferry timetable notes",
        "A single crossing costs €3.20",
        "a “ten-trip” card costs €27",
        "How much does a multi-journey boat ticket cost?",
    ),
]


@pytest.mark.parametrize(("name", "encoding", "title", "summary", "words", "question"), CASES)
def test_each_page_is_read_in_its_encoding_with_title_and_summary(
    name: str, encoding: str, title: str, summary: str, words: str, question: str
) -> None:
    document = load_document(ENCODINGS / name)
    text = "\n".join(block.text for block in document.blocks)
    assert (document.encoding, document.title) == (encoding, title)
    assert document.summary.startswith(summary), document.summary
    assert words in text and "\ufffd" not in text and "<?xml" not in text


@pytest.mark.model
def test_every_page_ingests_and_a_question_finds_it(runtime: Runtime) -> None:
    summary = runtime.ingest([ENCODINGS], "encodings")
    assert summary.files_failed == [] and summary.files_added == len(CASES)
    recorded = {Path(r.path).name: r.encoding for r in runtime.documents("encodings")}
    assert recorded == {name: encoding for name, encoding, *_ in CASES}
    for name, *_, question in CASES:
        assert runtime.retrieve(question, "encodings").citations[0].source == name, question


def test_a_declaration_that_lies_gives_way_to_the_bytes() -> None:
    page = '<?xml version="1.0" encoding="UTF-8"?><html><title>Crème brûlée</title></html>'.encode("cp1252")
    assert decode_text(page, markup=True) == (page.decode("cp1252"), "cp1252")
    # A declaration in a text file is just text: only markup is read by what it declares.
    note = b'<meta charset="koi8-r"> caf\xc3\xa9'
    assert decode_text(note) == ('<meta charset="koi8-r"> café', "utf-8")


def test_text_in_another_script_keeps_its_code_page() -> None:
    text = "Сервер перезапускается каждую ночь в три часа, после резервного копирования базы данных."
    assert decode_text(text.encode("cp1251")) == (text, "cp1251")


def test_a_manifest_written_before_encodings_were_recorded_opens_and_gains_them(tmp_path: Path) -> None:
    path = tmp_path / "manifest.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE documents (domain TEXT NOT NULL, path TEXT NOT NULL, source TEXT NOT NULL, title TEXT NOT NULL,"
        " sha256 TEXT NOT NULL, chunk_ids TEXT NOT NULL, ingested_at TEXT NOT NULL, PRIMARY KEY (domain, path))"
    )
    old.execute("INSERT INTO documents VALUES ('d', '/a.md', 'a.md', 'A', 'x', '[\"c1\"]', '2026-01-01')")
    old.commit()
    old.close()
    manifest = LocalManifest(path)
    assert manifest.get("d", "/a.md") == DocumentRecord("d", "/a.md", "a.md", "A", "x", ("c1",), "2026-01-01", "")
    manifest.put([DocumentRecord("d", "/b.txt", "b.txt", "B", "y", ("c2",), encoding="cp1252")])
    assert [r.encoding for r in manifest.records("d")] == ["", "cp1252"]
    manifest.close()


@pytest.mark.model
def test_a_reason_most_files_fail_for_is_said_once(home: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Good\n\nA readable page about the harbour ferry.\n")
    for n in range(3):
        (docs / f"scan{n}.txt").write_bytes(b"\x00\x01\x02binary" * 4)
    result = invoke("ingest", docs, "--domain", "misc", home=home)
    assert result.returncode == 1
    said = [line for line in result.stderr.splitlines() if "failed for one reason" in line]
    assert said == ["3 of the files failed for one reason: binary content, not a text document"], result.stderr
    one_failure = invoke("ingest", docs / "good.md", docs / "scan0.txt", "--domain", "misc", home=home)
    assert "for one reason" not in one_failure.stderr  # one of two files is not "most of them"
