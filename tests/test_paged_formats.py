"""PDF and DOCX: real files built here, read with pypdf and python-docx, and bad ones refused by name."""

from __future__ import annotations

import zipfile
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from assistant.runtime import Runtime
from ingest.documents import DocumentError, load_document


def make_pdf(path: Path, pages: list[str], title: str = "Router Handbook") -> Path:
    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def make_docx(path: Path) -> Path:
    document = docx.Document()
    document.add_heading("Expense Handbook", level=1)
    document.add_paragraph("How expenses work at the company.")
    document.add_heading("Mileage", level=2)
    document.add_paragraph("Private cars are paid at 0.30 EUR per kilometre.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "City", "Hotel cap"
    table.cell(1, 0).text, table.cell(1, 1).text = "Zurich", "220 EUR"
    document.save(str(path))
    return path


def test_pdf_pages_keep_their_numbers(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "handbook.pdf", ["Unpacking the unit.", "The reset button is on the back."])
    document = load_document(pdf)
    assert document.title == "Router Handbook"
    assert [(block.page, block.text) for block in document.blocks] == [
        (1, "Unpacking the unit."),
        (2, "The reset button is on the back."),
    ]


def test_pdf_page_reaches_the_passage(runtime: Runtime, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    make_pdf(folder / "handbook.pdf", ["Unpacking the unit and its cables.", "The reset button sits on the back."])
    summary = runtime.ingest([folder], "manuals")
    assert summary.files_added == 1 and not summary.files_failed
    best = runtime.retrieve("where is the reset button?").citations[0]
    assert (best.source, best.page) == ("handbook.pdf", 2)


def test_docx_headings_become_sections_and_tables_are_kept(tmp_path: Path) -> None:
    document = load_document(make_docx(tmp_path / "expenses.docx"))
    assert document.title == "Expense Handbook"
    mileage = next(b for b in document.blocks if b.section == "Expense Handbook > Mileage")
    assert "0.30 EUR per kilometre" in mileage.text and "Zurich | 220 EUR" in mileage.text


def test_pdf_without_text_layer_says_so(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60)  # a drawing, as a scanned page is an image: no text to extract
    pdf.output(str(tmp_path / "scan.pdf"))
    with pytest.raises(DocumentError, match="no text layer"):
        load_document(tmp_path / "scan.pdf")


def test_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    plain = make_pdf(tmp_path / "plain.pdf", ["Secret numbers."])
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt(user_password="s3cret", algorithm="RC4-128")
    locked = tmp_path / "locked.pdf"
    writer.write(locked)
    with pytest.raises(DocumentError, match="encrypted PDF"):
        load_document(locked)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("truncated.pdf", None, "unreadable PDF"),
        ("empty.pdf", b"", "empty file"),
        ("fake.pdf", b"just some text pretending", "not a PDF"),
        ("broken.docx", b"PK\x03\x04 not really a zip archive", "unreadable DOCX"),
        ("notzip.docx", b"plain words", "unreadable DOCX"),
    ],
)
def test_bad_paged_files_name_the_reason(tmp_path: Path, name: str, content: bytes | None, reason: str) -> None:
    path = tmp_path / name
    if content is None:  # a real PDF cut in half, as a failed download leaves it
        whole = make_pdf(tmp_path / "whole.pdf", ["Some text on a page."]).read_bytes()
        content = whole[: len(whole) // 2]
    path.write_bytes(content)
    with pytest.raises(DocumentError, match=reason):
        load_document(path)


def _repacked(docx_path: Path, out: Path, document_xml: bytes) -> Path:
    """The same .docx with another word/document.xml, deflated as Word does."""
    with zipfile.ZipFile(docx_path) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = document_xml if item.filename == "word/document.xml" else source.read(item)
            target.writestr(item.filename, data)
    return out


def test_a_docx_that_unpacks_a_thousand_fold_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    """A 30 kB file holding 10 MB of XML (it took 74 s and 213 MB to parse, under the index's write lock)."""
    whole = make_docx(tmp_path / "real.docx")
    with zipfile.ZipFile(whole) as archive:
        xml = archive.read("word/document.xml")
    filler = b"<w:p><w:r><w:t>spam</w:t></w:r></w:p>" * 270_000  # 10 MB of one repeated paragraph
    bomb = _repacked(whole, tmp_path / "bomb.docx", xml.replace(b"<w:sectPr", filler + b"<w:sectPr", 1))
    assert bomb.stat().st_size < 100_000
    with pytest.raises(DocumentError, match=r"unpacks .* times its packed size"):
        load_document(bomb)
    assert load_document(whole).title == "Expense Handbook", "a real document is not a bomb"


def test_a_docx_over_the_unpacked_size_limit_is_refused(tmp_path: Path) -> None:
    whole = make_docx(tmp_path / "real.docx")
    with pytest.raises(DocumentError, match=r"unpacks to .* MB, over the 0.001 MB limit \(ingest.max_unpacked_mb\)"):
        load_document(whole, max_unpacked_mb=0.001)
