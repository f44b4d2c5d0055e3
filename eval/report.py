"""The reports of an eval run: ``results.json``, ``report.md``, and ``report.html`` with its charts inline.

The HTML is the Markdown rendered, plus charts drawn with matplotlib and
embedded as data URIs, so the file opens anywhere, offline, on its own.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from eval.results import RETRIEVAL, EvalResults, scores_of
from eval.stats import Estimate

# Where an adapter can make things worse, in the order the report lists its losses.
WATCHED = [
    "faithfulness",
    "key_facts",
    "cited_ids",
    "token_f1",
    "format_compliance",
    "refusal_correctness",
    "citation_coverage",
]
_SHOWN_LOSSES = 8
_LATENCIES = ("latency_ms_p50", "latency_ms_p95", "first_token_ms_p50")


def write_reports(results: EvalResults, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "report.md", "html": out / "report.html"}
    paths["json"].write_text(results.model_dump_json(indent=1), encoding="utf-8")
    markdown = render_markdown(results)
    paths["markdown"].write_text(markdown, encoding="utf-8")
    paths["html"].write_text(render_html(results, markdown), encoding="utf-8")
    return paths


def render_markdown(results: EvalResults) -> str:
    setup = results.setup
    resolution = 2 / (setup.get("bootstrap_resamples", 1) + 1)  # two-sided: twice the one-sided floor
    lines = [
        "# Eval report",
        "",
        f"{setup['questions']} questions from `{results.eval_set}` (sha256 {results.eval_set_sha256[:12]}), "
        f"run {results.created_at:%Y-%m-%d %H:%M} UTC on the `{setup['backend']}` backend ({setup['gguf']}); "
        f"adapters: {', '.join(setup['adapters']) or 'none'}; judge: {'yes' if setup['judge'] else 'no'}.",
        "",
        "## Arms x metrics",
        "",
        "Mean [95 % bootstrap interval] (questions scored).",
        "",
        *_table(
            ["metric", *results.arms],
            [
                [name, *(_estimate(results.summary[arm].get(name)) for arm in results.arms)]
                for name in scored_answer_metrics(results)
            ],
        ),
        "",
        "## Retrieval and routing (shared by the RAG arms)",
        "",
        *_table(
            ["metric", "mean [95 % interval] (n)"],
            [[name, _estimate(estimate)] for name, estimate in results.summary[RETRIEVAL].items()],
        ),
        "",
        "## Paired differences",
        "",
        "Arm minus baseline per question; interval by paired bootstrap, p by a paired sign-flip permutation test.",
        "",
        *_table(
            ["arm - baseline", "metric", "Δ [95 % interval]", "p", "n", "wins / losses"],
            [
                [
                    f"{d.arm} - {d.baseline}",
                    d.metric,
                    f"{d.diff:+.3f} [{d.low:+.3f}, {d.high:+.3f}]",
                    _p_value(d.p_value, resolution),
                    str(d.n),
                    f"{len(d.wins)} / {len(d.losses)}",
                ]
                for d in results.differences
            ],
        ),
        "",
        "## By domain",
        "",
    ]
    for domain, parts in results.by_domain.items():
        arms = [arm for arm in results.arms if arm in parts]
        lines += [f"### {domain}", ""]
        lines += _table(
            ["metric", *arms],
            [[m, *(_number(parts[arm].get(m)) for arm in arms)] for m in scored_answer_metrics(results)],
        )
        retrieval = parts.get(RETRIEVAL, {})
        lines += ["", "Retrieval: " + ", ".join(f"{m} {v:.3f}" for m, v in retrieval.items()), ""]
    lines += [
        "## Cost",
        "",
        *_table(
            ["arm", "latency p50 (ms)", "latency p95 (ms)", "first token p50 (ms)", "tokens/s p50"],
            [
                [arm, *(_number(cost[k], 0) for k in _LATENCIES), _number(cost["tokens_per_s_p50"], 1)]
                for arm, cost in results.cost.items()
            ],
        ),
        "",
        *_where_worse(results),
        "## Metrics",
        "",
        *(f"- **{name}**: {description}" for name, description in results.metrics.items()),
        "",
    ]
    return "\n".join(lines)


def _where_worse(results: EvalResults) -> list[str]:
    """Per adapter comparison: the questions on which a watched metric went down."""
    by_line = {q.line: q for q in results.questions}
    lines = ["## Where the adapter made things worse", ""]
    adapter_differences = [d for d in results.differences if "adapter" in d.arm and "adapter" not in d.baseline]
    if not adapter_differences:
        return [*lines, "No arm with an adapter was compared with one without.", ""]
    for d in (d for metric in WATCHED for d in adapter_differences if d.metric == metric):
        if not d.losses:
            continue
        lines += [f"**{d.metric}, {d.arm} vs {d.baseline}**: worse on {len(d.losses)} of {d.n} questions", ""]
        for line in d.losses[:_SHOWN_LOSSES]:
            question = by_line[line]
            old, new = question.arms[d.baseline], question.arms[d.arm]
            lines.append(
                f"- line {line} ({question.domain or '—'}): {_quote(question.question)} "
                f"{old.scores[d.metric]:.2f} → {new.scores[d.metric]:.2f}"
            )
            lines.append(f"  - {d.baseline}: {_quote(old.answer, 200)}")
            lines.append(f"  - {d.arm}: {_quote(new.answer, 200)}")
        if len(d.losses) > _SHOWN_LOSSES:
            lines.append(f"- … and {len(d.losses) - _SHOWN_LOSSES} more (lines {_lines(d.losses[_SHOWN_LOSSES:])})")
        lines.append("")
    return lines


def render_html(results: EvalResults, markdown: str) -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    figures = "".join(
        f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{png}"><figcaption>'
        f"{html.escape(title)}</figcaption></figure>"
        for title, png in charts(results)
    )
    head = body.index("<h2>")  # the charts go right after the run's description
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Eval report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}
th {{ background: #f3f3f3; }}
figure {{ margin: 1em 0; }} img {{ max-width: 100%; }} figcaption {{ color: #555; font-size: 0.9em; }}
li {{ margin: 0.2em 0; }}
</style></head><body>
{body[:head]}<h2>Charts</h2>{figures}{body[head:]}
</body></html>
"""


def charts(results: EvalResults) -> list[tuple[str, str]]:
    """The report's charts as (title, base64 PNG); the web app shows the same ones."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory
    from matplotlib import pyplot as plt

    drawn = []
    metrics = scored_answer_metrics(results)
    columns = 4
    rows = -(-len(metrics) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False)
    for axis, metric in zip(axes.flat, metrics, strict=False):
        estimates = [results.summary[arm].get(metric) for arm in results.arms]
        means = [e.mean if e else 0.0 for e in estimates]
        errors = [[e.mean - e.low if e else 0 for e in estimates], [e.high - e.mean if e else 0 for e in estimates]]
        axis.bar(results.arms, means, yerr=errors, capsize=3, color=_colours(len(results.arms)))
        for x, found in enumerate(estimates):
            if found is None:
                axis.text(x, 0.03, "n/a", ha="center", fontsize=7, color="#777")
        axis.set_title(metric, fontsize=9)
        axis.set_ylim(0, 1.05)
        axis.tick_params(axis="x", labelrotation=30, labelsize=7)
    for axis in list(axes.flat)[len(metrics) :]:
        axis.axis("off")
    drawn.append(("Each arm's mean with its 95 % bootstrap interval", _png(figure)))

    domains = list(results.by_domain)
    shown = [m for m in ("faithfulness", "token_f1", "format_compliance", "refusal_correctness") if m in metrics]
    figure, axes = plt.subplots(1, len(shown), figsize=(3.6 * len(shown), 2.8), squeeze=False)
    width = 0.8 / max(1, len(results.arms))
    for axis, metric in zip(axes.flat, shown, strict=False):
        for i, (arm, colour) in enumerate(zip(results.arms, _colours(len(results.arms)), strict=True)):
            values = [results.by_domain[d].get(arm, {}).get(metric, 0.0) for d in domains]
            axis.bar([x + i * width for x in range(len(domains))], values, width, label=arm, color=colour)
        axis.set_xticks([x + 0.4 - width / 2 for x in range(len(domains))], domains, fontsize=8)
        axis.set_title(metric, fontsize=9)
        axis.set_ylim(0, 1.05)
    axes.flat[0].legend(fontsize=7)
    drawn.append(("Per domain", _png(figure)))

    figure, axis = plt.subplots(figsize=(7, 2.8))
    latencies = [scores_of(results.questions, arm, "latency_ms") for arm in results.arms]
    axis.boxplot([[v / 1000 for v in values] or [0.0] for values in latencies], tick_labels=results.arms)
    axis.set_ylabel("seconds to the whole answer")
    drawn.append(("Latency distribution per arm", _png(figure)))
    return drawn


def _png(figure: Any) -> str:
    from matplotlib import pyplot as plt

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _colours(n: int) -> list[str]:
    return ["#8c8c8c", "#4c78a8", "#f58518", "#54a24b", "#b279a2"][:n] or ["#4c78a8"]


def scored_answer_metrics(results: EvalResults) -> list[str]:
    """The answer metrics at least one arm was scored on, in the catalogue's order."""
    scored = {m for arm in results.arms for m in results.summary[arm]}
    return [m for m in results.metrics if m in scored]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    escape = [[cell.replace("|", "\\|") for cell in row] for row in rows]
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in escape),
    ]


def _estimate(estimate: Estimate | None) -> str:
    if estimate is None:
        return "—"
    return f"{estimate.mean:.3f} [{estimate.low:.3f}, {estimate.high:.3f}] ({estimate.n})"


def _p_value(p: float | None, resolution: float) -> str:
    """A Monte Carlo p-value cannot be told from zero at its floor: say so rather than print the floor."""
    if p is None:
        return "—"
    return f"< {resolution:.2g}" if p <= resolution < 1 else f"{p:.3g}"


def _number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _quote(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return f"“{flat if len(flat) <= limit else flat[: limit - 1] + '…'}”"


def _lines(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers))
