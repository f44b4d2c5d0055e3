"""``Document`` → chunks that fit the embedding model, counted in its own tokens.

Chunks never cross a heading and never cut inside a word: a block is split at
paragraphs, then sentences, then words, and the pieces are packed greedily up
to the budget. Each chunk starts with its heading path, so that both the
embedding and the generator see where the text sits in the document.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ingest.documents import Block, Document

TokenCounter = Callable[[Sequence[str]], list[int]]
"""Token counts of many texts at once: one batched tokenizer call is much cheaper than many single ones."""

_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+")
_SPECIAL_TOKENS = 2  # [CLS] and [SEP] take room in the model's window too


@dataclass(frozen=True)
class Chunk:
    text: str
    section: str
    index: int
    tokens: int
    page: int | None = None


@dataclass(frozen=True)
class _Piece:
    text: str
    joiner: str  # how this piece attaches to the one before it
    tokens: int


def chunk_document(document: Document, count_tokens: TokenCounter, max_tokens: int, overlap_tokens: int) -> list[Chunk]:
    drafts: list[tuple[str, Block]] = []
    header_tokens = count_tokens([block.section or document.title for block in document.blocks])
    for block, used_by_header in zip(document.blocks, header_tokens, strict=True):
        header = block.section or document.title
        budget = max_tokens - used_by_header - _SPECIAL_TOKENS - 1
        if budget < 8:
            header, budget = "", max_tokens - _SPECIAL_TOKENS
        for body in _pack(list(_pieces(block, count_tokens, budget)), budget, overlap_tokens):
            drafts.append((f"{header}\n{body}" if header else body, block))
    counts = count_tokens([text for text, _ in drafts])
    return [
        Chunk(text, block.section, index, tokens, block.page)
        for index, ((text, block), tokens) in enumerate(zip(drafts, counts, strict=True))
    ]


def _pieces(block: Block, count_tokens: TokenCounter, budget: int) -> Iterator[_Piece]:
    """Paragraphs, or sentences of a long paragraph, or words of a long sentence."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", block.text.strip()) if p.strip()]
    for paragraph, tokens in zip(paragraphs, count_tokens(paragraphs), strict=True):
        if tokens <= budget:
            yield _Piece(paragraph, "\n\n", tokens)
            continue
        joiner = "\n\n"
        sentences = _SENTENCE_END.split(paragraph)
        for sentence, sentence_tokens in zip(sentences, count_tokens(sentences), strict=True):
            yield from _split_words(sentence, sentence_tokens, joiner, count_tokens, budget)
            joiner = " "


def _split_words(sentence: str, tokens: int, joiner: str, count_tokens: TokenCounter, budget: int) -> Iterator[_Piece]:
    if tokens <= budget:
        yield _Piece(sentence, joiner, tokens)
        return
    words: list[str] = []
    used = 0
    all_words = sentence.split()
    for word, cost in zip(all_words, count_tokens(all_words), strict=True):
        # A single word longer than the budget (a URL, a hash) is kept whole: the
        # embedder truncates it, which is better than cutting it.
        if words and used + cost > budget:
            yield _Piece(" ".join(words), joiner, used)
            words, used, joiner = [], 0, " "
        words.append(word)
        used += cost
    if words:
        yield _Piece(" ".join(words), joiner, used)


def _pack(pieces: list[_Piece], budget: int, overlap_tokens: int) -> Iterator[str]:
    current: list[_Piece] = []
    used = 0
    for piece in pieces:
        if current and used + piece.tokens > budget:
            yield _join(current)
            current = _overlap(current, overlap_tokens, budget - piece.tokens)
            used = sum(p.tokens for p in current)
        current.append(piece)
        used += piece.tokens
    if current:
        yield _join(current)


def _overlap(previous: list[_Piece], overlap_tokens: int, room: int) -> list[_Piece]:
    """The last pieces of the previous chunk, up to the overlap, never all of it."""
    kept: list[_Piece] = []
    used = 0
    for piece in reversed(previous[1:]):
        if used + piece.tokens > min(overlap_tokens, room):
            break
        kept.insert(0, piece)
        used += piece.tokens
    return kept


def _join(pieces: list[_Piece]) -> str:
    text = pieces[0].text
    for piece in pieces[1:]:
        text += piece.joiner + piece.text
    return text
