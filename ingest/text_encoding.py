"""Bytes → text: which encoding a text or markup file is in, decided once for every loader.

In order: a byte-order mark; a NUL byte, which no text without such a mark
holds, means binary; for markup, the encoding the page declares (its XML
declaration or ``<meta charset>``), as a browser reads it; UTF-8; and else
charset-normalizer's detection. On short texts the detector often cannot tell
the single-byte code pages apart (a page of Windows-1252 with "€" and curly
quotes came out as cp775, a Latin-1 one as cp1250, each with no "mess" at all),
so Windows-1252, the encoding browsers assume for unlabelled legacy text and a
superset of Latin-1's printable range, is taken whenever it reads the bytes
within ``CP1252_TOLERANCE`` of the best mess found. Text that no code page reads
without mess is refused: binary content is not guessed into words.
"""

from __future__ import annotations

import codecs
import re

CP1252_TOLERANCE = 0.05  # charset-normalizer's "chaos" (share of odd characters); its own cut-off is 0.2

_BOMS = (  # longest first: the UTF-32 LE mark starts with UTF-16 LE's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DECLARED = re.compile(
    rb"""<\?xml[^>]{0,200}?\bencoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']"""
    rb"""|<meta[^>]{0,300}?\bcharset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""",
    re.IGNORECASE,
)
_LATIN1_LABELS = {"latin-1", "iso8859-1", "ascii"}  # labels the WHATWG standard reads as windows-1252


class EncodingError(ValueError):
    """No encoding reads the bytes as text."""


def decode_text(raw: bytes, markup: bool = False) -> tuple[str, str]:
    """The text of ``raw`` and the name of the encoding it was read in; ``markup``: honour a page's declaration."""
    for mark, encoding in _BOMS:
        if raw.startswith(mark):
            return _decoded(raw, encoding, "its byte-order mark")
    if b"\x00" in raw[:8192]:
        raise EncodingError("binary content, not a text document")
    if markup and (declared := declared_encoding(raw)):
        try:
            return raw.decode(declared), declared
        except UnicodeDecodeError:
            pass  # a wrong declaration is common: the bytes decide, as below
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return _detected(raw)


def declared_encoding(raw: bytes) -> str | None:
    """The Python codec of the encoding the page's head declares, or ``None`` (none, or one Python lacks)."""
    match = _DECLARED.search(raw[:2048])
    if not match:
        return None
    label = (match.group(1) or match.group(2)).decode("ascii")
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    if name.startswith(("utf-16", "utf-32")):
        return None  # a declaration readable as ASCII bytes is not in UTF-16 or UTF-32
    return "cp1252" if name in _LATIN1_LABELS and _reads(raw, "cp1252") else name


def _detected(raw: bytes) -> tuple[str, str]:
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is None:
        raise EncodingError("not text in any encoding found (neither UTF-8 nor a legacy code page)")
    western = from_bytes(raw, cp_isolation=["cp1252"]).best()
    if western is not None and western.chaos <= best.chaos + CP1252_TOLERANCE:
        return str(western), "cp1252"
    return str(best), best.encoding


def _decoded(raw: bytes, encoding: str, why: str) -> tuple[str, str]:
    try:
        return raw.decode(encoding), encoding
    except UnicodeDecodeError:
        raise EncodingError(f"not valid {encoding.removesuffix('-sig').upper()}, although {why} says so") from None


def _reads(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True
