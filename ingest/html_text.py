"""HTML → Markdown: trafilatura's main content, or every visible word of the page's main region when
trafilatura kept too little of it.

trafilatura drops navigation and footers well, but on some generators' pages
it keeps one section of many: on CMake's ``cmake-generator-expressions(7)`` it
kept 757 of ~7,700 words. ``bench/retrieval_corpora.py`` measures how much of
each page's visible text reaches the index; when trafilatura keeps under
``MIN_SHARE_KEPT`` of what the main region shows, the region is read whole,
headings, lists and code blocks kept, navigation, scripts and drawings left out.
DocBook pages are always read whole (``_DOCBOOK``). The page comes decoded
(``text_encoding``), so its XML declaration, which lxml refuses in a str, goes.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from lxml import html as lxml_html

MIN_SHARE_KEPT = 0.6

_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {
    "p", "div", "section", "article", "main", "ul", "ol", "li", "dl", "dt", "dd", "table", "tr", "blockquote", "br",
    "figure", "figcaption", "details", "summary", "aside",
}  # fmt: skip
_SKIPPED = {"script", "style", "svg", "nav", "header", "footer", "noscript", "template", "button", "form", "head"}
_SKIPPED_ROLES = {"navigation", "contentinfo", "search", "banner"}
_SKIPPED_CLASSES = {"navheader", "navfooter", "docnav"}  # DocBook XSL's and publican's page navigation
# DocBook XSL (and publican) wrap each heading in a title page, and trafilatura drops most of those headings and
# every sidebar (TIP, CAUTION...): of the Debian Administrator's Handbook it kept 319 of 1,042 headings and 67 %
# of the words. Such pages are read whole.
_DOCBOOK = "//div[@class='titlepage']"
_PERMALINKS = (
    "//a[normalize-space(.)='¶' or normalize-space(.)='§' or contains(concat(' ', @class, ' '), ' headerlink ')]"
)
_FENCE_INSIDE_LINE = re.compile(r"(?<=\S)[ \t]*```[ \t]*\n|^[ \t]*```[ \t]*(?=\S)", re.MULTILINE)
_EMPTY_CODE_BLOCK = re.compile(r"^```\w*[ \t]*\n```[ \t]*\n", re.MULTILINE)
# lxml refuses a str that still declares its encoding: the page was decoded already (``text_encoding``).
_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]{0,200}\?>")


class HTMLError(ValueError):
    """The bytes could not be parsed as HTML."""


@dataclass(frozen=True)
class Page:
    markdown: str
    title: str  # the <title>, whitespace folded ("" without one)
    description: str  # the <meta name="description"> ("" without one)


def html_to_markdown(page: str) -> Page:
    """The page's content as Markdown, with its title and description."""
    try:
        tree = lxml_html.document_fromstring(_XML_DECLARATION.sub("", page, count=1))
    except (ValueError, lxml_html.etree.ParserError) as err:
        raise HTMLError(str(err)) from None
    title = " ".join(tree.findtext(".//title", "").split())[:200]
    for anchor in tree.xpath(_PERMALINKS):
        anchor.drop_tree()  # permalink marks (Sphinx, MkDocs) would end every heading and option name
    if len(top := tree.xpath("//h1")) > 1:
        for heading in top:  # several <h1> are sections (SQLite's pages), which trafilatura would drop as titles
            heading.tag = "h2"
    description = tree.xpath("//meta[translate(@name,'DESCRIPTION','description')='description']/@content")
    whole = region_markdown(tree)
    markdown = whole if tree.xpath(_DOCBOOK) else _trafilatura_markdown(tree)
    if len(markdown.split()) < MIN_SHARE_KEPT * len(whole.split()):
        markdown = whole
    return Page(markdown, title, " ".join(str(description[0]).split()) if description else "")


def _trafilatura_markdown(tree: Any) -> str:
    import trafilatura

    extracted = trafilatura.extract(
        copy.deepcopy(tree),  # trafilatura prunes the tree it is given
        output_format="markdown",
        include_tables=True,
        include_formatting=True,
        favor_recall=True,
    )
    # trafilatura opens some code blocks at the end of a line of text ("Example: ```"), and writes a <pre>
    # inside a <blockquote> as empty blocks before the real one; left so, they flip which lines count as code,
    # and a shell prompt ("# cat a.pem") would become a heading. Fences go on lines of their own.
    return _EMPTY_CODE_BLOCK.sub("", _FENCE_INSIDE_LINE.sub("\n```\n", extracted or ""))


def region_markdown(tree: Any) -> str:
    """Every visible word of the main region (``<main>``, ``role=main``, ``<article>``, else the body)."""
    regions = tree.xpath("//*[@role='main'] | //main | //article") or tree.xpath("//body") or [tree]
    parts: list[str] = []
    _walk(regions[0], parts)
    paragraphs = (p.strip() for p in "".join(parts).split("\n\n"))
    return "\n\n".join(p for p in paragraphs if re.search(r"\w", p))


def _walk(node: Any, parts: list[str]) -> None:
    tag = node.tag if isinstance(node.tag, str) else ""
    if not tag or tag in _SKIPPED or node.get("role") in _SKIPPED_ROLES or node.get("hidden") is not None:
        return  # a comment, or chrome: its tail is the parent's text and is kept by the caller
    if _SKIPPED_CLASSES.intersection(node.get("class", "").split()):
        return  # a comment, or chrome: its tail is the parent's text and is kept by the caller
    if tag in _HEADINGS:
        parts.append(f"\n\n{'#' * _HEADINGS[tag]} {' '.join(node.text_content().split())}\n\n")
        return
    if tag == "pre":
        parts.append(f"\n\n```\n{node.text_content().rstrip()}\n```\n\n")
        return
    block = tag in _BLOCKS
    if block:
        parts.append("\n\n- " if tag in ("li", "dt") else "\n\n")
    parts.append(_inline(node.text))
    for child in node:
        _walk(child, parts)
        parts.append(_inline(child.tail))
    if block:
        parts.append("\n\n")


def _inline(text: str | None) -> str:
    return re.sub(r"\s+", " ", text) if text else ""
