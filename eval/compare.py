"""`assistant eval compare OLD NEW`: the CI gate. A metric whose mean fell by more than the threshold fails it.

Only quality metrics are gated: latency on a shared CI machine is noise, and
is reported by the run itself. Both runs answered the same questions, so each
change also comes as a paired difference with its interval (new minus old,
question by question): how two adapter versions or two recipes compare.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ValidationError

from assistant.core.errors import UserError
from eval.results import RETRIEVAL, EvalResults, QuestionResult
from eval.scoring import ANSWER_METRICS, RETRIEVAL_METRICS
from eval.stats import Difference, paired_difference

GATED = {**RETRIEVAL_METRICS, **ANSWER_METRICS}


class Change(BaseModel):
    arm: str  # or "retrieval"
    metric: str
    old: float
    new: float
    paired: Difference | None = None  # new minus old on the questions both runs scored

    @property
    def delta(self) -> float:
        return self.new - self.old


def load_results(path: Path) -> EvalResults:
    """``results.json``, or the folder an eval run wrote it into."""
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise UserError(f"no eval results at {path}: give a results.json or the --out folder of `eval run`")
    try:
        return EvalResults.model_validate_json(file.read_text(encoding="utf-8"))
    except ValidationError as err:
        raise UserError(f"{file} is not the results of `assistant eval run`: {err.errors()[0]['msg']}") from None


def compare(old: EvalResults, new: EvalResults, metrics: list[str] | None = None) -> list[Change]:
    """Every gated metric of every arm that both runs scored, old mean beside new."""
    if old.eval_set_sha256 != new.eval_set_sha256:
        raise UserError(
            f"the runs scored different eval sets ({old.eval_set} and {new.eval_set}, or the file changed): "
            "their means are not comparable; rerun the old setup on the new set"
        )
    unknown = sorted(set(metrics or []) - set(GATED))
    if unknown:
        raise UserError(f"unknown metric(s) {', '.join(unknown)}; gated metrics: {', '.join(GATED)}")
    changes = []
    for part, estimates in new.summary.items():
        for metric, estimate in estimates.items():
            previous = old.summary.get(part, {}).get(metric)
            if previous is not None and metric in GATED and (not metrics or metric in metrics):
                paired = _paired(old, new, part, metric)
                changes.append(Change(arm=part, metric=metric, old=previous.mean, new=estimate.mean, paired=paired))
    return changes


def _paired(old: EvalResults, new: EvalResults, part: str, metric: str) -> Difference | None:
    before = {q.line: _score(q, part, metric) for q in old.questions}
    pairs = [
        (q.line, now, then)
        for q in new.questions
        if (now := _score(q, part, metric)) is not None and (then := before.get(q.line)) is not None
    ]
    if not pairs:
        return None
    resamples = int(new.setup.get("bootstrap_resamples", 2000))
    return paired_difference(f"{part} (new)", f"{part} (old)", metric, pairs, resamples, 0.95, seed=0)


def _score(question: QuestionResult, part: str, metric: str) -> float | None:
    if part == RETRIEVAL:
        return question.retrieval.get(metric)
    arm = question.arms.get(part)
    return arm.scores.get(metric) if arm is not None else None


def regressions(changes: list[Change], threshold: float) -> list[Change]:
    return [c for c in changes if c.delta < -threshold]
