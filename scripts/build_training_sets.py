"""Build the adapter training sets for the two sample domains.

Reads ``samples/training/<domain>.toml`` and writes ``samples/training/<domain>.jsonl`` beside it, one
example a line::

    {"question": "...", "answer": "...", "sources": ["file-name.md"], "domain": "support"}

How the data is made
--------------------
The adapters teach tone and answer format; the facts come from retrieval at serving time. So every
answer here rests on the sample corpus in ``samples/corpus/<domain>/`` and nothing else:

* The TOML files (their header comments explain the fields) pair one answer with several phrasings of
  the question (first person, imperative, short, long). Answers are short hand-written restatements of
  the corpus, or quote what this script parses from it: numbered steps under a heading, clause texts
  (``G1.3 ...``). Two template families multiply parsed rows by question templates: the LED table of
  the help pages and the retention periods of the policies.
* About 10% of each set are plausible questions the corpus does not answer; their answer is the
  domain's fixed refusal and they have no ``sources``.
* Intents that paraphrase a question of ``samples/questions.jsonl`` were left out on purpose, and the
  build rejects any training question that is a near-duplicate of a question of the eval set
  ``samples/eval.jsonl`` (which includes those): a content-word Jaccard similarity of 0.7 or more, the
  one definition (``assistant/core/near_duplicates.py``) that adapter training and eval apply too.

Checks before anything is written: the domain's ``answer_format`` (``samples/config.toml``, the
pattern the eval scores) and, on top of it, a citation ending the lead and every step (support) or in
the reason line (policy), steps numbered from 1, at most 6; citation numbers, sources that exist,
every source cited; every number and menu path (``A > B``) in an answer present in a cited document,
every listed clause present in a cited document; word limits, no duplicate questions, no eval
near-duplicates, sizes and refusal share. The output is deterministic (fixed shuffle seed).

Usage: ``.venv/bin/python scripts/build_training_sets.py`` (needs the project installed: it imports
the product's definitions of citations, near-duplicates, refusals and answer formats).
"""

from __future__ import annotations

import html
import json
import random
import re
import sys
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.core.config import load_settings
from assistant.core.near_duplicates import overlapping_questions, similarity
from assistant.core.prompts import CITATION, cited_numbers
from eval.metrics import format_compliance, is_refusal

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
CORPUS = SAMPLES / "corpus"
EVAL_QUESTIONS = SAMPLES / "eval.jsonl"
TRAINING_DIR = SAMPLES / "training"

DOMAINS = ("support", "policy")
MAX_WORDS = {"support": 90, "policy": 60}
MAX_STEPS = 6
MIN_EXAMPLES = 220
REFUSAL_SHARE = (0.08, 0.12)
SEED = 20260401
KEYS = {"question", "answer", "sources", "domain"}

Example = dict[str, object]
Table = dict[str, Any]  # a table of a TOML file


# --------------------------------------------------------------------------- corpus


def plain_text(path: Path) -> str:
    """The document as plain text: HTML headings become ``## ...``, ordered lists ``1. ...``, markup goes."""
    raw = path.read_text(encoding="utf-8")
    if path.suffix == ".html":
        raw = re.sub(r"<(head|nav|header|footer)\b.*?</\1>", "", raw, flags=re.S)
        raw = re.sub(r"<h[1-6][^>]*>(.*?)</h[1-6]>", r"\n## \1\n", raw, flags=re.S)

        def number_items(match: re.Match[str]) -> str:
            """The items of one ``<ol>``, numbered as the steps the answers quote."""
            items = re.findall(r"<li[^>]*>(.*?)</li>", match.group(1), flags=re.S)
            return "\n" + "\n".join(f"{i}. {item}" for i, item in enumerate(items, start=1)) + "\n"

        raw = re.sub(r"<ol[^>]*>(.*?)</ol>", number_items, raw, flags=re.S)
        raw = re.sub(r"</(p|tr)>", "\n", raw)
        raw = re.sub(r"</t[dh]>", " | ", raw)
        raw = html.unescape(re.sub(r"<[^>]+>", "", raw))
    raw = raw.replace("*", "").replace("`", "")
    return "\n".join(line.strip() for line in raw.splitlines())


@dataclass(frozen=True)
class Corpus:
    """A domain's documents as plain text, which answers quote and are checked against."""

    domain: str
    texts: dict[str, str]  # file name -> plain text

    @classmethod
    def load(cls, domain: str) -> Corpus:
        """Every file of ``samples/corpus/<domain>/``, sorted by name so the build is reproducible."""
        files = sorted(p for p in (CORPUS / domain).iterdir() if p.is_file())
        return cls(domain, {p.name: plain_text(p) for p in files})

    def steps(self, source: str, heading: str) -> list[str]:
        """The numbered steps that follow ``heading`` (a ``##`` heading or a line of its own)."""
        lines = self.texts[source].splitlines()
        start = next((i for i, line in enumerate(lines) if line.lstrip("# ").strip() == heading), None)
        if start is None:
            raise SystemExit(f"no heading {heading!r} in {source}")
        steps: list[str] = []
        for line in lines[start + 1 :]:
            match = re.match(r"^\d+\. (.+)$", line)
            if match:
                steps.append(match.group(1).strip())
            elif steps or line:
                break
        if not steps:
            raise SystemExit(f"no numbered steps under {heading!r} in {source}")
        return steps

    def clauses(self) -> dict[str, tuple[str, str]]:
        """Clause id -> (file name, clause text), e.g. ``"G1.3" -> ("gifts-and-hospitality.md", "Cash, ...")``."""
        found: dict[str, tuple[str, str]] = {}
        for source, text in self.texts.items():
            for match in re.finditer(r"^([A-Z]\d+\.\d+) (.+)$", text, flags=re.M):
                found[match.group(1)] = (source, match.group(2).strip())
        return found

    def led_rows(self, source: str) -> list[tuple[str, str, str]]:
        """(LED, meaning, what to do) rows of the LED table, read from the HTML: plain text loses the cells."""
        raw = (CORPUS / self.domain / source).read_text(encoding="utf-8")
        rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", raw)
        return [(html.unescape(a), html.unescape(b), html.unescape(c)) for a, b, c in rows]


# --------------------------------------------------------------------------- the TOML files


@dataclass(frozen=True)
class Intent:
    """One answer, the documents it cites (``[n]`` is ``sources[n-1]``) and the questions it answers."""

    answer: str
    sources: tuple[str, ...]
    questions: tuple[str, ...]


def fields(table: Table, where: str, required: Iterable[str], optional: Iterable[str] = ()) -> Table:
    """The table, once it has the required keys and no unknown ones: a misspelt key must not drop data."""
    missing, unknown = set(required) - set(table), set(table) - set(required) - set(optional)
    if missing or unknown:
        raise SystemExit(f"{where}: missing {sorted(missing)}, unknown {sorted(unknown)}")
    return table


def texts(table: Table, key: str, where: str) -> tuple[str, ...]:
    """A list of non-empty strings: a lone string would otherwise be read as its characters."""
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SystemExit(f"{where}: {key} is not a list of non-empty strings")
    return tuple(value)


def cited(steps: Iterable[str], n: int = 1) -> list[str]:
    """Steps quoted from the corpus, each ending with the citation ``[n]``."""
    return [f"{step.rstrip('.')} [{n}]" for step in steps]


def support_answer(lead: str, steps: Sequence[str]) -> str:
    """The support format: the lead, a blank line, the steps numbered from 1."""
    numbered = "\n".join(f"{i}. {step}" for i, step in enumerate(steps, start=1))
    return f"{lead}\n\n{numbered}"


def support_intent(table: Table, corpus: Corpus, where: str) -> Intent:
    """An ``[[intent]]`` of support.toml; ``{ steps_under = "Heading" }`` quotes the first source's steps."""
    fields(table, where, ["questions", "sources", "lead", "steps"])
    sources = texts(table, "sources", where)
    steps: list[str] = []
    for entry in table["steps"]:
        if isinstance(entry, str):
            steps.append(entry)
        else:
            steps += cited(corpus.steps(sources[0], fields(entry, where, ["steps_under"])["steps_under"]))
    return Intent(support_answer(table["lead"], steps), sources, texts(table, "questions", where))


def led_intents(led: Table, corpus: Corpus) -> list[Intent]:
    """One intent per row of the LED table, in the lead's and questions' templates."""
    fields(led, "[led]", ["source", "lead", "questions", "left_out", "meaning", "action"])
    intents = []
    for colour, meaning, action in corpus.led_rows(led["source"]):
        if colour in led["left_out"]:
            continue
        if meaning not in led["meaning"]:
            raise SystemExit(f"[led.meaning] has no wording for the table's {meaning!r}")
        lead = led["lead"].format(colour=colour, meaning=led["meaning"][meaning])
        steps = [s[0].upper() + s[1:] for s in led["action"].get(action, action).split("; ")]
        questions = tuple(q.format(c=colour.lower()) for q in texts(led, "questions", "[led]"))
        intents.append(Intent(support_answer(lead, cited(steps)), (led["source"],), questions))
    return intents


def support_intents(data: Table, corpus: Corpus) -> list[Intent]:
    """support.toml's intents, the LED family first: the order fixes what the seeded shuffle gives."""
    intents = led_intents(data["led"], corpus)
    return intents + [support_intent(t, corpus, f"support.toml intent {i}") for i, t in enumerate(data["intent"], 1)]


def policy_answer(verdict: str, reason: str, clauses: Sequence[str]) -> str:
    """The policy format: the verdict, the reason, the clauses relied on."""
    return f"Verdict: {verdict}\n{reason}\nClauses: {', '.join(clauses)}"


def clause_reason(clauses: Sequence[str], sources: Sequence[str], clause_texts: dict[str, tuple[str, str]]) -> str:
    """The clauses' own text, every sentence cited by its document's number."""
    sentences = []
    for clause in clauses:
        source, text = clause_texts[clause]
        n = sources.index(source) + 1
        sentences += [f"{s.rstrip('.')} [{n}]." for s in re.split(r"(?<=\.)\s+", text)]
    return " ".join(sentences)


def policy_intent(table: Table, clause_texts: dict[str, tuple[str, str]], where: str) -> Intent:
    """An ``[[intent]]`` of policy.toml; without a ``reason`` the clauses' text is the reason."""
    fields(table, where, ["questions", "sources", "verdict", "clauses"], ["reason"])
    sources, clauses = texts(table, "sources", where), texts(table, "clauses", where)
    unknown = [c for c in clauses if c not in clause_texts]
    if unknown:
        raise SystemExit(f"{where}: no clause {', '.join(unknown)} in the corpus")
    reason = table.get("reason") or clause_reason(clauses, sources, clause_texts)
    return Intent(policy_answer(table["verdict"], reason, clauses), sources, texts(table, "questions", where))


def retention_intents(retention: Table, clause_texts: dict[str, tuple[str, str]]) -> list[Intent]:
    """One intent per retention clause ("Records: period."), in the reason's and questions' templates."""
    fields(retention, "[retention]", ["reason", "questions", "clause"])
    templates = texts(retention, "questions", "[retention]")
    intents = []
    for entry in retention["clause"]:
        fields(entry, "[[retention.clause]]", ["id", "verb", "verdict", "names"])
        source, text = clause_texts[entry["id"]]
        records, period = text.rstrip(".").split(": ", 1)
        reason = retention["reason"].format(records=records, verb=entry["verb"], period=period)
        names = texts(entry, "names", "[[retention.clause]]")
        questions = tuple(t.format(r=names[i % len(names)]) for i, t in enumerate(templates))
        intents.append(Intent(policy_answer(entry["verdict"], reason, [entry["id"]]), (source,), questions))
    return intents


def policy_intents(data: Table, corpus: Corpus) -> list[Intent]:
    """policy.toml's intents, the retention family first: the order fixes what the seeded shuffle gives."""
    clause_texts = corpus.clauses()
    intents = retention_intents(data["retention"], clause_texts)
    return intents + [
        policy_intent(t, clause_texts, f"policy.toml intent {i}") for i, t in enumerate(data["intent"], 1)
    ]


# Per domain: the table of its template family, and what reads the intents of its TOML file.
READERS: dict[str, tuple[str, Callable[[Table, Corpus], list[Intent]]]] = {
    "support": ("led", support_intents),
    "policy": ("retention", policy_intents),
}


@dataclass(frozen=True)
class Domain:
    """What one domain's set is built from and checked against."""

    name: str
    corpus: Corpus
    intents: list[Intent]
    refusal: str
    unanswered: tuple[str, ...]
    answer_format: str  # the product's, from samples/config.toml


def load_domain(name: str, answer_format: str) -> Domain:
    """The domain's corpus and its TOML file, read and resolved against the corpus."""
    corpus = Corpus.load(name)
    path = TRAINING_DIR / f"{name}.toml"
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    family, intents = READERS[name]
    fields(data, path.name, [family, "refusal", "intent"])
    refusal = fields(data["refusal"], f"{path.name} [refusal]", ["answer", "questions"])
    unanswered = texts(refusal, "questions", f"{path.name} [refusal]")
    return Domain(name, corpus, intents(data, corpus), refusal["answer"], unanswered, answer_format)


def answer_formats() -> dict[str, str]:
    """Each domain's ``answer_format`` as the product reads it from samples/config.toml for the eval."""
    domains = load_settings(home=SAMPLES, config_file=SAMPLES / "config.toml").domains
    formats = {name: hints.answer_format for name, hints in domains.items() if hints.answer_format}
    if missing := set(DOMAINS) - set(formats):
        raise SystemExit(f"samples/config.toml sets no answer_format for {sorted(missing)}")
    return formats


# --------------------------------------------------------------------------- build


def build(domain: Domain) -> list[Example]:
    """One example per question, refusals last, shuffled with a fixed seed so the output is reproducible."""
    examples = [example(q, i.answer, i.sources, domain.name) for i in domain.intents for q in i.questions]
    examples += [example(q, domain.refusal, (), domain.name) for q in domain.unanswered]
    random.Random(f"{SEED}-{domain.name}").shuffle(examples)
    return examples


def example(question: str, answer: str, sources: Sequence[str], domain: str) -> Example:
    """A JSONL record; refusals carry no ``sources`` key at all."""
    record: Example = {"question": question, "answer": answer}
    if sources:
        record["sources"] = list(sources)
    record["domain"] = domain
    return record


# --------------------------------------------------------------------------- checks


def normalise(question: str) -> str:
    """Lowercased, punctuation stripped: ``"Wi-Fi?"`` -> ``"wifi"``; two questions alike so are one."""
    return " ".join(re.sub(r"[^\w\s]", "", question.lower()).split())


def leakage(examples: Sequence[Example], eval_questions: list[str]) -> list[str]:
    """Training questions that are, or nearly are, an eval question, by the definition training and eval use."""
    questions = [str(record["question"]) for record in examples]
    return [
        f"near eval question {theirs!r} (content-word Jaccard {similarity(questions[i], theirs):.2f}): {questions[i]!r}"
        for i, theirs in overlapping_questions(questions, eval_questions)
    ]


def ends_cited(line: str, after: str = "") -> bool:
    """The line ends with a citation marker, then ``after``."""
    return re.search(f"{CITATION.pattern}{re.escape(after)}$", line) is not None


def check_format(domain: Domain, answer: str) -> list[str]:
    """The domain's answer_format, which the eval scores, then what this data promises beyond it."""
    if not format_compliance(answer, domain.answer_format):
        return [f"does not match the {domain.name} answer_format of samples/config.toml"]
    lines = answer.split("\n")
    return policy_lines(lines) if domain.name == "policy" else support_lines(lines[0], lines[2:])


def policy_lines(lines: list[str]) -> list[str]:
    """A verdict ending with a full stop, one reason line that cites, the clauses."""
    if len(lines) != 3 or not CITATION.search(lines[1]):
        return ["the reason is not one cited line"]
    return [] if lines[0].endswith(".") else ["the verdict does not end with a full stop"]


def support_lines(lead: str, steps: list[str]) -> list[str]:
    """A lead ending with a citation and full stop, then steps numbered from 1, each ending with a citation."""
    problems = [] if ends_cited(lead, ".") else ["the lead does not end with a citation"]
    numbers = [re.match(r"(\d+)\. ", step) for step in steps]
    if [int(m.group(1)) if m else 0 for m in numbers] != list(range(1, len(steps) + 1)):
        problems.append("steps are not numbered from 1")
    if not all(ends_cited(step) for step in steps):
        problems.append("a step does not end with a citation")
    if len(steps) > MAX_STEPS:
        problems.append(f"{len(steps)} steps")
    return problems


def check_grounding(answer: str, texts: Sequence[str], clause_ids: set[str]) -> list[str]:
    """Numbers, menu paths and clause ids of the answer must appear in the cited documents."""
    problems = []
    body = re.sub(r"^\d+\. ", "", CITATION.sub("", answer), flags=re.M)
    for number in re.findall(r"\d+(?:[.,:/]\d+)*", body):
        if not any(re.search(rf"(?<![\d.,]){re.escape(number)}(?![\d])", t) for t in texts):
            problems.append(f"number {number} is in no cited document")
    for left, right in re.findall(r"([\w.-]+) > ([\w.-]+)", answer):
        if not any(f"{left} > {right}" in t for t in texts):
            problems.append(f"menu path '{left} > {right}' is in no cited document")
    clause_line = answer.rsplit("\n", 1)[-1]
    if clause_line.startswith("Clauses: ") and clause_line != "Clauses: none":
        for clause in clause_line.removeprefix("Clauses: ").split(", "):
            if clause not in clause_ids:
                problems.append(f"clause {clause} is in no cited document")
    return problems


def check_sources(sources: object, corpus: Corpus) -> str | None:
    """One or two distinct documents of the corpus, or what is wrong with them."""
    if not sources:
        return "an answer without sources"
    if not isinstance(sources, list) or len(set(sources)) != len(sources) or len(sources) > 2:
        return f"bad sources {sources}"
    if missing := [s for s in sources if s not in corpus.texts]:
        return f"no such document {missing}"
    return None


def check_answer(domain: Domain, answer: str, sources: list[str]) -> list[str]:
    """An answer with sources: citations, length, format and grounding in the cited documents."""
    problems = []
    numbers = set(cited_numbers(answer))
    if not numbers or max(numbers) > len(sources):
        problems.append(f"cites {sorted(numbers)} with {len(sources)} source(s)")
    if numbers != set(range(1, len(sources) + 1)):
        problems.append("not every source is cited")
    if len(answer.split()) > MAX_WORDS[domain.name]:
        problems.append(f"{len(answer.split())} words, more than {MAX_WORDS[domain.name]}")
    problems += check_format(domain, answer)
    clauses = domain.corpus.clauses()
    clause_ids = {c for c, (source, _) in clauses.items() if source in sources}
    problems += check_grounding(answer, [domain.corpus.texts[s] for s in sources], clause_ids)
    if domain.name == "policy":
        listed = answer.rsplit("\n", 1)[-1].removeprefix("Clauses: ").split(", ")
        if {clauses[c][0] for c in listed if c in clauses} != set(sources):
            problems.append("the listed clauses do not match the sources")
    return problems


def check_example(domain: Domain, record: Example) -> list[str]:
    """One record: its keys, then the refusal rule or the answer's checks."""
    question, answer = str(record.get("question", "")), str(record.get("answer", ""))
    problems = []
    if set(record) - KEYS or record.get("domain") != domain.name:
        problems.append("unexpected keys or domain")
    if not question or not answer:
        problems.append("empty question or answer")
    if answer == domain.refusal:
        return problems + (["a refusal lists sources"] if "sources" in record else [])
    sources = record.get("sources", [])
    if (problem := check_sources(sources, domain.corpus)) is not None:
        return [*problems, problem]
    assert isinstance(sources, list)
    return problems + check_answer(domain, answer, sources)


def check_set(domain: Domain, examples: Sequence[Example]) -> list[str]:
    """The refusal as the eval reads it, the set's size and its share of refusals."""
    problems = []
    if not is_refusal(domain.refusal) or not format_compliance(domain.refusal, domain.answer_format):
        problems.append(f"the refusal {domain.refusal!r} is not a refusal in the {domain.name} answer_format")
    refusals = sum(1 for record in examples if record["answer"] == domain.refusal)
    share = refusals / len(examples) if examples else 0.0
    if len(examples) < MIN_EXAMPLES:
        problems.append(f"only {len(examples)} examples, fewer than {MIN_EXAMPLES}")
    if not REFUSAL_SHARE[0] <= share <= REFUSAL_SHARE[1]:
        problems.append(f"refusal share {share:.1%} is outside {REFUSAL_SHARE}")
    return problems


def validate(domain: Domain, examples: Sequence[Example], eval_questions: list[str]) -> list[str]:
    """Every problem of a domain's set, each prefixed with the domain (and the question where there is one)."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for record in examples:
        question = str(record.get("question", ""))
        found = check_example(domain, record)
        if normalise(question) in seen:
            found.append(f"duplicates {seen[normalise(question)]!r}")
        seen[normalise(question)] = question
        problems += [f"[{domain.name}] {question!r}: {problem}" for problem in found]
    whole_set = leakage(examples, eval_questions) + check_set(domain, examples)
    return problems + [f"[{domain.name}] {problem}" for problem in whole_set]


# --------------------------------------------------------------------------- main


def read_eval_questions() -> list[str]:
    """The eval set's questions, which no training question may (nearly) repeat."""
    with EVAL_QUESTIONS.open(encoding="utf-8") as handle:
        return [json.loads(line)["question"] for line in handle if line.strip()]


def write(domain: Domain, examples: list[Example], eval_questions: list[str]) -> str | None:
    """Write the set, then read it back: every line parses and passes the same checks. A problem or None."""
    path = TRAINING_DIR / f"{domain.name}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in examples), encoding="utf-8")
    reread = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    again = validate(domain, reread, eval_questions)
    if again or reread != examples:
        return "\n".join(again) or f"{path} does not read back as written"
    refusals = sum(1 for r in reread if r["answer"] == domain.refusal)
    two = sum(1 for r in reread if len(r.get("sources", [])) == 2)
    print(
        f"{domain.name}: {len(reread)} examples ({len(reread) - refusals} answered, {two} of them from two "
        f"sources; {refusals} refusals) -> {path.relative_to(REPO)}"
    )
    return None


def main() -> int:
    """Build and check both sets, and write them only if neither has a problem."""
    eval_questions = read_eval_questions()
    formats = answer_formats()
    domains = [load_domain(name, formats[name]) for name in DOMAINS]
    built = {domain.name: build(domain) for domain in domains}
    problems = [p for domain in domains for p in validate(domain, built[domain.name], eval_questions)]
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(f"{len(problems)} problem(s); nothing written.", file=sys.stderr)
        return 1
    for domain in domains:
        if (problem := write(domain, built[domain.name], eval_questions)) is not None:
            print(problem, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
