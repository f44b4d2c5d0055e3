"""Retrieval, routing and extraction fidelity on real documentation, beside a naive pipeline in the same run.

    apt-get install postfix-doc cmake-doc sqlite3-doc debian-handbook
    .venv/bin/python bench/retrieval_corpora.py --home /tmp/bench-corpora [--split dev|test|all]

The corpora are Debian documentation packages with different HTML generators
(``bench/corpora.toml``); each becomes a domain of one data home, and the
questions in ``bench/questions/NAME.jsonl`` name their gold pages. Per corpus:
- hit@5 and MRR@10 of the gold page, retrieving in the question's own domain as served;
- extraction fidelity: the share of each page's visible words (less what it marks as navigation,
  banner or footer) that reach its chunks;
- markup noise: chunks whose text still carries Markdown escapes (``\\[``, ``\\<``...);
- ingest: the files that failed, counted by reason;
and across the corpora, routing accuracy (``--domain auto`` as served). The naive
pipeline is computed in the same run from the same files and the same embedding
model: the page's full text (lxml), fixed 140-word windows, cosine top-k, and the
route taken from the single best window.

Each question belongs to the ``dev`` or the ``test`` split by a hash of its text.
Tune on ``dev`` only (its misses are written to ``<home>/misses-dev.jsonl``);
``test`` is for the figures reported.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from lxml import html as lxml_html

from assistant.core.config import RetrievalSettings, load_settings
from assistant.retrieval import retrieve_passages
from assistant.runtime import Runtime
from eval.stats import estimate, paired_difference

BENCH = Path(__file__).resolve().parent
NAIVE_WORDS = 140
RESAMPLES = 2000
_WORD = re.compile(r"\w+")
_CHROME = (
    "//script|//style|//head|//svg|//nav|//header|//footer"
    "|//*[@role='navigation' or @role='contentinfo' or @role='search' or @role='banner']"
)
_ESCAPE = re.compile(r"\\[\\`*_{}\[\]()#+\-.!<>|]")


@dataclass
class Corpus:
    name: str
    files: list[Path]
    questions: list[dict[str, Any]]


def split_of(question: str) -> str:
    """A stable half of the questions: tuning sees ``dev`` only."""
    return "dev" if hashlib.sha256(question.encode()).digest()[0] < 128 else "test"


def load_corpora(spec_file: Path, names: list[str] | None, split: str) -> list[Corpus]:
    """The corpora of ``spec_file`` (paths relative to the repository), each with its questions: those of
    ``questions/NAME.jsonl``, or those of the ``questions`` file whose ``domain`` is the corpus's name."""
    specs = tomllib.loads(spec_file.read_text())
    corpora = []
    for name, spec in specs.items():
        if names and name not in names:
            continue
        root = BENCH.parent / spec["root"]
        if not root.is_dir():
            raise SystemExit(f"{root} is missing: apt-get install {spec.get('package', '')}")
        files = sorted({path for pattern in spec["include"] for path in root.glob(pattern) if path.is_file()})
        lines = (BENCH.parent / spec.get("questions", f"bench/questions/{name}.jsonl")).read_text().splitlines()
        questions = [q for q in map(json.loads, filter(str.strip, lines)) if q.get("domain", name) == name]
        questions = [q for q in questions if q.get("gold_sources") and split in ("all", split_of(q["question"]))]
        corpora.append(Corpus(name, files, questions))
    return corpora


def visible_text(path: Path, chrome: bool = True) -> str:
    """Everything a browser would show of the page, as the naive pipeline reads it; without ``chrome``,
    less what the page marks as navigation, banner or footer (the fidelity figure's denominator)."""
    tree = lxml_html.fromstring(path.read_bytes())
    for node in tree.xpath("//script|//style|//head" if chrome else _CHROME):
        node.drop_tree()
    return " ".join(tree.text_content().split())


def windows(text: str) -> Iterator[str]:
    words = text.split()
    for start in range(0, len(words), NAIVE_WORDS):
        yield " ".join(words[start : start + NAIVE_WORDS])


class NaiveIndex:
    """Fixed windows of the full text, embedded with the product's model, searched exhaustively."""

    def __init__(self, runtime: Runtime, corpora: list[Corpus], cache: Path) -> None:
        self.sources: list[str] = []
        self.domains: list[str] = []
        texts: list[str] = []
        for corpus in corpora:
            for path in corpus.files:
                for window in windows(visible_text(path)):
                    texts.append(window)
                    self.sources.append(path.name)
                    self.domains.append(corpus.name)
        key = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]
        cached = cache / f"naive-{key}.npy"
        if cached.is_file():
            self.vectors = np.load(cached)
        else:
            self.vectors = runtime.embedder.embed(texts)
            np.save(cached, self.vectors)
        self.domain_array = np.asarray(self.domains)

    def search(self, query: np.ndarray, domain: str | None, k: int) -> list[tuple[str, str]]:
        """(domain, source) of the ``k`` best windows, in ``domain`` or everywhere."""
        scores = self.vectors @ query
        if domain is not None:
            scores = np.where(self.domain_array == domain, scores, -np.inf)
        best = np.argsort(-scores)[:k]
        return [(self.domains[i], self.sources[i]) for i in best]


def rank_of(sources: list[str], gold: list[str]) -> int | None:
    """1-based rank of the first passage from a gold page (page names compared without folders)."""
    names = {Path(g).name for g in gold}
    return next((n for n, source in enumerate(sources, start=1) if Path(source).name in names), None)


@dataclass
class Scored:
    """One question's outcome, kept per run so that two runs can be compared question by question."""

    corpus: str
    question: str
    rank: int | None
    naive_rank: int | None
    routed: bool
    naive_routed: bool


METRICS: dict[str, Callable[[Scored, str], float]] = {
    "hit_at_5": lambda s, arm: float((r := _rank(s, arm)) is not None and r <= 5),
    "mrr_at_10": lambda s, arm: 1 / r if (r := _rank(s, arm)) and r <= 10 else 0.0,
    "routing": lambda s, arm: float(s.routed if arm == "product" else s.naive_routed),
}


def _rank(scored: Scored, arm: str) -> int | None:
    return scored.rank if arm == "product" else scored.naive_rank


def mean_with_interval(values: list[float]) -> dict[str, float]:
    found = estimate(values, RESAMPLES, 0.95, seed=0)
    return {"mean": round(found.mean, 3), "low": round(found.low, 3), "high": round(found.high, 3), "n": found.n}


def paired(pairs: list[tuple[float, float]]) -> dict[str, float | None]:
    """First minus second, per question, with a paired bootstrap interval and a sign-flip p-value."""
    found = paired_difference("a", "b", "m", [(n, a, b) for n, (a, b) in enumerate(pairs)], RESAMPLES, 0.95, seed=0)
    return {"diff": round(found.diff, 3), "low": round(found.low, 3), "high": round(found.high, 3), "p": found.p_value}


def compare(scored: list[Scored], metrics: list[str], baseline: Callable[[Scored], Scored | None], arm: str) -> dict:
    """Each metric as this run's product arm minus ``arm`` of the baseline, on the questions both have."""
    out = {}
    for metric in metrics:
        pairs = [(METRICS[metric](s, "product"), METRICS[metric](b, arm)) for s in scored if (b := baseline(s))]
        out[metric] = paired(pairs) if pairs else None
    return out


def fidelity(runtime: Runtime, corpus: Corpus) -> dict[str, Any]:
    """Share of each page's visible words found in its chunks, and chunks with Markdown escapes."""
    ids, texts, _ = runtime.index.chunks(corpus.name)
    text_of = dict(zip(ids, texts, strict=True))
    shares, escaped, chunks = [], 0, 0
    for record in runtime.manifest.records(corpus.name):
        chunk_texts = [text_of[i] for i in record.chunk_ids if i in text_of]
        chunks += len(chunk_texts)
        escaped += sum(bool(_ESCAPE.search(t)) for t in chunk_texts)
        seen = set(_WORD.findall(" ".join(chunk_texts).lower()))
        visible = set(_WORD.findall(visible_text(Path(record.path), chrome=False).lower()))
        shares.append(len(visible & seen) / len(visible) if visible else 1.0)
    if not shares:
        return {"pages": 0, "chunks": 0}  # nothing was ingested: the ingest report says why
    shares.sort()
    return {
        "pages": len(shares),
        "chunks": chunks,
        "visible_words_kept_mean": round(statistics.mean(shares), 3),
        "visible_words_kept_p10": round(shares[len(shares) // 10], 3),
        "pages_under_0_9": sum(s < 0.9 for s in shares),
        "chunks_with_escapes": escaped,
    }


def ingest_report(runtime: Runtime, corpus: Corpus) -> dict[str, Any]:
    """Ingest the corpus; how many of its files failed, and for which reasons (failed files are tried on each
    run, since the manifest records only what was indexed)."""
    summary = runtime.ingest(list(corpus.files), corpus.name)
    reasons = Counter(failure["error"] for failure in summary.files_failed)
    return {
        "files": len(corpus.files),
        "files_failed": len(summary.files_failed),
        "failed_by_reason": dict(reasons.most_common()),
        "seconds": summary.seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="Data home for the bench domains (reused if built).")
    parser.add_argument("--split", choices=["dev", "test", "all"], default="test")
    parser.add_argument("--corpora", help="Comma-separated names from the corpora file (default: all).")
    parser.add_argument("--corpora-file", type=Path, default=BENCH / "corpora.toml", help="Corpora and questions.")
    parser.add_argument("--against", type=Path, help="A previous run's scored-SPLIT.jsonl: paired differences.")
    args = parser.parse_args()
    corpora = load_corpora(args.corpora_file, args.corpora.split(",") if args.corpora else None, args.split)
    runtime = Runtime(load_settings(home=args.home))
    ingested = {corpus.name: ingest_report(runtime, corpus) for corpus in corpora}
    naive = NaiveIndex(runtime, corpora, args.home)
    scored, misses = score(runtime, naive, corpora)
    before = {}
    if args.against:
        before = {(s.corpus, s.question): s for s in map(lambda line: Scored(**json.loads(line)), args.against.open())}
    report: dict[str, Any] = {"split": args.split, "corpora": {}}
    for corpus in corpora:
        mine = [s for s in scored if s.corpus == corpus.name]
        report["corpora"][corpus.name] = {
            arm: {m: mean_with_interval([METRICS[m](s, arm) for s in mine]) for m in ("hit_at_5", "mrr_at_10")}
            for arm in ("product", "naive")
        } | {
            "product_minus_naive": compare(mine, ["hit_at_5", "mrr_at_10"], lambda s: s, "naive"),
            "extraction": fidelity(runtime, corpus),
            "ingest": ingested[corpus.name],
        }
        if before:
            against = compare(mine, ["hit_at_5", "mrr_at_10"], lambda s: before.get((s.corpus, s.question)), "product")
            report["corpora"][corpus.name]["product_minus_against"] = against
    report["routing"] = {
        arm: mean_with_interval([METRICS["routing"](s, arm) for s in scored]) for arm in ("product", "naive")
    }
    report["routing"]["product_minus_naive"] = compare(scored, ["routing"], lambda s: s, "naive")["routing"]
    if before:
        report["routing"]["product_minus_against"] = compare(
            scored, ["routing"], lambda s: before.get((s.corpus, s.question)), "product"
        )["routing"]
    (args.home / f"scored-{args.split}.jsonl").write_text("".join(json.dumps(asdict(s)) + "\n" for s in scored))
    if args.split == "dev":
        (args.home / "misses-dev.jsonl").write_text("".join(json.dumps(m) + "\n" for m in misses))
    print(json.dumps(report, indent=2))


def score(runtime: Runtime, naive: NaiveIndex, corpora: list[Corpus]) -> tuple[list[Scored], list[dict[str, Any]]]:
    """Each question: the gold page's rank as served (in its own domain) and naively, and both routes."""
    deep: RetrievalSettings = runtime.settings.retrieval.model_copy(update={"k": 10})
    scored, misses = [], []
    for corpus in corpora:
        for item in corpus.questions:
            question, gold = item["question"], item["gold_sources"]
            found = retrieve_passages(runtime.index, runtime.lexical, question, corpus.name, deep)
            query = np.asarray(runtime.embedder.embed_query(question), dtype=np.float32)
            routed = runtime.retrieve(question).route
            result = Scored(
                corpus=corpus.name,
                question=question,
                rank=rank_of([p.source for p in found], gold),
                naive_rank=rank_of([s for _, s in naive.search(query, corpus.name, 10)], gold),
                routed=routed.domain == corpus.name,
                naive_routed=naive.search(query, None, 1)[0][0] == corpus.name,
            )
            scored.append(result)
            if result.rank is None or result.rank > 5 or not result.routed:
                top = [f"{p.source} {p.score:.2f}" for p in found[:5]]
                misses.append({**asdict(result), "gold": gold, "found": top, "route": routed.model_dump()})
    return scored, misses


if __name__ == "__main__":
    main()
