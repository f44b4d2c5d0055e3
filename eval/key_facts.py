"""Key facts: is the answer *right*, not just close to the reference?

Token F1 and ROUGE score a wrong "Yes", a wrong amount or an invented clause
almost as well as the right one. A reference's key facts are what a reader
acts on: the verdict of a yes/no question, every number with its unit
(amounts, durations, counts, versions, lengths), dates, times of day and clause ids. ``key_facts``
is the share of them an answer states, with units normalised ("ten seconds"
is "10 s", "two weeks" is "14 days", "45 euros" is "€45"). ``cited_ids`` is
the share of clause ids an answer names that occur in a passage it cites: an
id nowhere in the cited text was invented. Both are calibrated against
hand-labelled pairs in ``samples/key_facts_labels.jsonl``
(``bench/calibrate_key_facts.py``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.core.prompts import CITATION, cited_numbers
from eval.metrics import is_refusal

CLAUSE_ID = re.compile(r"\b[A-Z]{1,3}\d+(?:\.\d+)+\b")  # G1.3, T4.2, OFP-ITU's U2.3
_LEXICON = tomllib.loads((Path(__file__).with_name("key_facts.toml")).read_text(encoding="utf-8"))
_NUMBER_WORDS: dict[str, int] = _LEXICON["numbers"]
_UNITS: dict[str, tuple[str, float]] = {word: (unit, factor) for word, (unit, factor) in _LEXICON["units"].items()}
_QUALIFIERS = set(_LEXICON["words"]["qualifiers"])
_MONTHS: list[str] = _LEXICON["words"]["months"]
_NUMBER = re.compile(
    r"(?P<currency>[€$£])?\s?(?<![A-Za-z\d.,])(?P<value>\d+(?:[.,]\d+)*|\b(?:" + "|".join(_NUMBER_WORDS) + r")\b)"
    r"(?:\s?(?P<unit>%|[a-zA-Zé€]+))?(?:\s+(?P<next>[a-zA-Z]+))?",
    re.IGNORECASE,
)
_MONTH = "(" + "|".join(_MONTHS) + ")"
_DATE = re.compile(  # "1 April 2026", "1st April", "April 1, 2026"
    rf"\b(?:(\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH}|{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?)(?:\s+(\d{{4}}))?\b",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s?([ap]\.?m\b\.?)|\b(\d{1,2}):(\d{2})\b", re.IGNORECASE)
_VERDICT_LINE = re.compile(r"^\s*verdict:\s*(.*)$", re.IGNORECASE | re.MULTILINE)
_CONDITIONAL = re.compile(r"\b(only (if|when|with|after|for)|unless|provided|as long as|subject to)\b", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Fact:
    kind: str  # "verdict", "number", "date", "time" or "id"
    value: str
    unit: str = ""

    def __str__(self) -> str:
        return f"{self.value} {self.unit}".strip()


def facts(text: str, *, verdict_from_first_words: bool = True) -> set[Fact]:
    """The key facts a text states: its verdict, numbers with units, dates, clause ids."""
    text = CITATION.sub(" ", text)
    found = {Fact("id", match) for match in CLAUSE_ID.findall(text)}
    without_ids = CLAUSE_ID.sub(" ", text)
    found |= {_date(match) for match in _DATE.finditer(without_ids)}
    found |= {_time(match) for match in _CLOCK.finditer(without_ids)}
    found |= _numbers(_CLOCK.sub(" ", _DATE.sub(" ", without_ids)))
    if (verdict := _verdict(text, verdict_from_first_words)) is not None:
        found.add(Fact("verdict", verdict))
    return found


def key_facts(answer: str, reference: str) -> float | None:
    """Share of the reference's key facts the answer states (None when the reference has none)."""
    expected = facts(reference)
    if not expected:
        return None
    stated = facts(answer)
    return sum(stated_in(fact, stated) for fact in expected) / len(expected)


def cited_ids(answer: str, given_passages: Sequence[str]) -> float | None:
    """Share of the clause ids the answer names that occur in a passage it cites (None when it names none)."""
    named = list(dict.fromkeys(CLAUSE_ID.findall(CITATION.sub(" ", answer))))
    if not named:
        return None
    cited = [given_passages[n - 1] for n in cited_numbers(answer) if 1 <= n <= len(given_passages)]
    return sum(any(re.search(rf"\b{re.escape(i)}\b", text) for text in cited) for i in named) / len(named)


def stated_in(fact: Fact, stated: set[Fact]) -> bool:
    if fact.kind == "number" and not fact.unit:  # a bare number is stated with whatever unit
        return any(s.kind == "number" and s.value == fact.value for s in stated)
    return fact in stated


def _numbers(text: str) -> set[Fact]:
    found = set()
    for match in _NUMBER.finditer(text):
        value = _value(match["value"])
        if value is None:
            continue
        unit, factor = _unit(match["currency"], match["unit"], match["next"])
        found.add(Fact("number", _canonical(value * factor), unit))
    return found


def _date(match: re.Match[str]) -> Fact:
    day, month, other_month, other_day, year = match.groups()
    text = f"{int(day or other_day)} {(month or other_month).lower()}"
    return Fact("date", f"{text} {year}" if year else text)


def _time(match: re.Match[str]) -> Fact:
    """A time of day on the 24-hour clock: "3 am" and "03:00" are both 3:00."""
    hour, minute, half, hour24, minute24 = match.groups()
    if half is None:
        return Fact("time", f"{int(hour24)}:{minute24}")
    afternoon = half.lower().startswith("p") and int(hour) != 12
    return Fact("time", f"{int(hour) % 12 + 12 * afternoon}:{minute or '00'}")


def _value(token: str) -> float | None:
    word = _NUMBER_WORDS.get(token.lower())
    if word is not None:
        return float(word)
    token = token.replace(",", "") if re.fullmatch(r"\d{1,3}(,\d{3})+", token) else token.replace(",", ".")
    try:
        return float(token)
    except ValueError:
        return None


def _unit(currency: str | None, unit: str | None, following: str | None) -> tuple[str, float]:
    if currency:
        return {"€": "€", "$": "$", "£": "£"}[currency], 1
    word = (unit or "").lower()
    if word in _QUALIFIERS:  # "20 working days": the unit is the next word
        word = (following or "").lower()
    for candidate in (word, word.removesuffix("s"), word.removesuffix("es")):
        if candidate in _UNITS:
            return _UNITS[candidate]
    return "", 1


def _canonical(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _verdict(text: str, from_first_words: bool) -> str | None:
    """ "yes", "no" or "conditional", from a ``Verdict:`` line or else the first words."""
    line = _VERDICT_LINE.search(text)
    if line is None and not from_first_words:
        return None
    head = (line[1] if line else text).strip()
    first_clause = re.split(r"[.;\n]", head, maxsplit=1)[0]
    if is_refusal(first_clause):
        return None
    if _CONDITIONAL.search(first_clause):
        return "conditional"
    word = (re.findall(r"[a-z]+", first_clause.lower()) or [""])[0]
    return {"yes": "yes", "no": "no", "never": "no", "not": "no"}.get(word)
