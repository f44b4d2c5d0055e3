"""Real HTML in the styles of three documentation generators (man pages in <pre>, Sphinx, a hand-rolled
site), written for these tests: what reaches the index, and what a question then finds.

The benchmark on the real Debian corpora is ``bench/retrieval_corpora.py``; these pages pin the
fixes it led to: a man page's NAME line survives, no Markdown escape is embedded or indexed, and
each chunk is indexed with its document's title and summary.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.core.config import load_settings
from assistant.runtime import Runtime
from ingest.documents import load_document, unescape_markdown
from ingest.html_text import region_markdown
from ingest.indexed_text import indexed_text

PAGES = Path(__file__).parent / "pages"
ESCAPE = re.compile(r"\\[\\`*_{}\[\]()#+\-.!<>|~]")
WORD = re.compile(r"\w+")


@pytest.fixture(scope="module")
def pages_runtime(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Runtime:
    home = tmp_path_factory.mktemp("pages") / "home"
    home.mkdir()
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    runtime = Runtime(load_settings(home=home))
    summary = runtime.ingest([PAGES], "pages")
    assert summary.files_added == 3 and not summary.files_failed
    return runtime


def _chunks_of(runtime: Runtime, source: str) -> list[tuple[str, dict[str, object]]]:
    _, texts, metadatas = runtime.index.chunks("pages")
    return [(text, meta) for text, meta in zip(texts, metadatas, strict=True) if meta["source"] == source]


def test_a_man_page_keeps_its_name_line_as_its_summary() -> None:
    document = load_document(PAGES / "relayd.8.html")
    assert document.summary == "relayd - Parcel courier hand-off daemon for sealed crates"
    assert "hand-off daemon for sealed crates" in "\n".join(block.text for block in document.blocks)


def test_a_page_description_is_its_summary_and_prose_is_the_fallback() -> None:
    assert load_document(PAGES / "journal.html").summary.startswith("Ledgerlite keeps a rollback journal")
    assert load_document(PAGES / "brew_kettle.html").summary == (
        "Heat a named kettle of wort to a target temperature before the hops are added."
    )


def test_no_markdown_escape_is_stored_embedded_or_indexed(pages_runtime: Runtime) -> None:
    ids, texts, metadatas = pages_runtime.index.chunks("pages")
    indexed = [indexed_text(t, str(m["title"]), str(m["summary"])) for t, m in zip(texts, metadatas, strict=True)]
    assert ids and not [t for t in texts + indexed if ESCAPE.search(t)]
    kettle = " ".join(text for text, _ in _chunks_of(pages_runtime, "brew_kettle.html"))
    assert "[hops]" in kettle and "[default: 78]" in kettle  # the characters stay, only the backslashes go
    assert unescape_markdown("a \\[b\\] c\n```\nre \\.\n```\n") == "a [b] c\n```\nre \\.\n```\n"


@pytest.mark.parametrize("page", ["relayd.8.html", "brew_kettle.html", "journal.html"])
def test_the_visible_text_of_a_page_reaches_its_chunks(pages_runtime: Runtime, page: str) -> None:
    from lxml import html

    tree = html.fromstring((PAGES / page).read_bytes())
    for node in tree.xpath("//script|//style|//head|//*[@role='navigation']|//*[@role='contentinfo']"):
        node.drop_tree()
    visible = set(WORD.findall(tree.text_content().lower()))
    kept = set(WORD.findall(" ".join(text for text, _ in _chunks_of(pages_runtime, page)).lower()))
    assert len(visible & kept) / len(visible) >= 0.95, sorted(visible - kept)


def test_a_chunk_deep_in_a_man_page_is_indexed_with_what_the_page_is_for(pages_runtime: Runtime) -> None:
    ids, texts, metadatas = pages_runtime.index.chunks("pages")
    deep = [n for n, text in enumerate(texts) if "relay_retry_backoff" in text and "NAME" not in text]
    assert deep, "the option list should be a chunk of its own, away from the NAME line"
    meta = metadatas[deep[0]]
    assert meta["summary"] == "relayd - Parcel courier hand-off daemon for sealed crates"
    assert "hand-off daemon" in indexed_text(texts[deep[0]], str(meta["title"]), str(meta["summary"]))
    # BM25 sees the summary too: words that only the NAME line holds find the option's chunk.
    found = [chunk_id for chunk_id, _ in pages_runtime.lexical.search("pages", "sealed crates hand-off", 10)]
    assert ids[deep[0]] in found


def test_a_new_index_recipe_reindexes_unchanged_files_once(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    first = runtime.ingest([PAGES], "pages")
    assert runtime.ingest([PAGES], "pages").files_unchanged == 3
    monkeypatch.setattr("ingest.pipeline.INDEX_RECIPE", "next")
    again = runtime.ingest([PAGES], "pages")
    assert again.files_updated == 3 and again.chunks_added == again.chunks_removed == first.chunks_added
    assert runtime.index.count("pages") == first.chunks_added
    assert runtime.ingest([PAGES], "pages").files_unchanged == 3


def test_the_main_region_is_read_whole_without_its_chrome() -> None:
    """What is indexed when trafilatura keeps too little of a page: every word of the main region, with its
    headings, list items and code, and none of the navigation, scripts or footer around it."""
    from lxml import html

    page = html.document_fromstring(
        "<html><body><nav>Home Download</nav><div role='main'><h1>brew_mash</h1><p>Mash the grain.</p>"
        "<h2>Options</h2><dl><dt>TEMP</dt><dd>Degrees, <b>65</b> by default.</dd></dl>"
        "<pre>brew_mash(TEMP 65)\n  # a comment, not a heading</pre><script>track()</script></div>"
        "<div role='contentinfo'>Copyright</div></body></html>"
    )
    assert region_markdown(page) == (
        "# brew_mash\n\nMash the grain.\n\n## Options\n\n- TEMP\n\nDegrees, 65 by default.\n\n"
        "```\nbrew_mash(TEMP 65)\n  # a comment, not a heading\n```"
    )
