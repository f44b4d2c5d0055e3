"""`assistant eval run|compare`: score grounded answers with and without adapters, and gate regressions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from assistant.cli.console import ConfigOption, HomeOption, JsonOption, print_json, settings_from, stderr, stdout
from eval.arms import ARMS
from eval.compare import GATED, compare, load_results, regressions

if TYPE_CHECKING:
    from eval.results import EvalResults

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help="Score grounded answers on an eval set, arm by arm (with and without retrieval and adapters).",
)


@app.command()
def run(
    eval_set: Annotated[
        Path, typer.Option("--set", help="Eval JSONL: question, domain, gold_sources, reference, answerable.")
    ],
    arms: Annotated[str, typer.Option("--arms", help=f"Comma-separated, from: {', '.join(ARMS)}.")] = ",".join(ARMS),
    out: Annotated[Path, typer.Option("--out", help="Folder for results.json, report.md and report.html.")] = Path(
        "eval-results"
    ),
    user: Annotated[str | None, typer.Option("--user", "-u", help="Ask as this user (access.users).")] = None,
    judge: Annotated[bool, typer.Option("--judge", help="Also judge faithfulness with an LLM (slow).")] = False,
    judge_config: Annotated[
        Path | None,
        typer.Option("--judge-config", help="Config whose llm section is the judge; default: the answering one."),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N questions.")] = None,
    record: Annotated[bool, typer.Option(help="Write each adapter's headline figures into its card.")] = True,
    json_output: JsonOption = False,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Answer every question of the set in each arm, score it, and write the reports to --out.

    Arms: [bold]base[/] (no retrieval, no adapter), [bold]rag[/] (retrieval), [bold]rag+adapter[/] (retrieval and
    the routed domain's adapter, as `ask` serves), [bold]adapter[/] (the adapter without retrieval). Adapters
    trained on a question of the set are refused.
    """
    # Imported here, as in every command that loads models: `assistant ask` starts without them.
    from assistant.runtime import Runtime
    from eval.harness import parse_arms, record_on_cards, run_eval
    from eval.judge import Judge
    from eval.report import write_reports

    settings = settings_from(home, config)
    runtime = Runtime(settings)
    chosen = parse_arms(arms)
    judge_backend = Runtime(settings_from(home, judge_config)).backend if judge_config else None
    with _progress(quiet=json_output) as progress:
        task = progress.add_task("questions", total=None)

        def on_progress(done: int, total: int, question: str) -> None:
            progress.update(task, completed=done, total=total, description=escape(question[:48]))

        results = run_eval(
            runtime,
            eval_set,
            chosen,
            user=user,
            judge=Judge(judge_backend or runtime.backend) if judge else None,
            limit=limit,
            on_progress=on_progress,
        )
    paths = write_reports(results, out)
    recorded = record_on_cards(runtime, results, out.resolve()) if record else []
    if json_output:
        print_json(
            {
                "results": str(paths["json"]),
                "reports": [str(paths["markdown"]), str(paths["html"])],
                "recorded_on": recorded,
                "summary": results.model_dump(mode="json")["summary"],
            }
        )
        return
    _print_summary(results)
    stdout.print(f"reports: {paths['markdown']}, {paths['html']}; data: {paths['json']}")
    if recorded:
        stdout.print(f"headline figures written to the card of {', '.join(recorded)}", style="dim")


@app.command("compare")
def compare_runs(
    old: Annotated[Path, typer.Argument(help="The earlier results.json (or its folder).")],
    new: Annotated[Path, typer.Argument(help="The new results.json (or its folder).")],
    threshold: Annotated[
        float, typer.Option("--threshold", min=0.0, help="Largest drop of a mean that still passes.")
    ] = 0.02,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", "-m", help=f"Gate only these (repeatable); default all of: {', '.join(GATED)}."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Compare two eval runs of the same set; exit 1 when any gated metric fell by more than --threshold."""
    changes = compare(load_results(old), load_results(new), metric)
    failed = regressions(changes, threshold)
    if json_output:
        print_json(
            {
                "threshold": threshold,
                "passed": not failed,
                "changes": [{**c.model_dump(), "delta": c.delta} for c in changes],
                "regressions": [{**c.model_dump(), "delta": c.delta} for c in failed],
            }
        )
    else:
        table = Table("arm", "metric", "old", "new", "Δ", "Δ paired [95 %]", "n")
        for change in changes:
            style = "red" if change in failed else ("green" if change.delta > threshold else "")
            paired = change.paired
            table.add_row(
                change.arm,
                change.metric,
                f"{change.old:.3f}",
                f"{change.new:.3f}",
                f"[{style}]{change.delta:+.3f}[/]" if style else f"{change.delta:+.3f}",
                f"{paired.diff:+.3f} [{paired.low:+.3f}, {paired.high:+.3f}]" if paired else "—",
                str(paired.n) if paired else "—",
            )
        stdout.print(table)
        verdict = f"{len(failed)} regression(s) beyond {threshold}" if failed else f"no regression beyond {threshold}"
        (stderr if failed else stdout).print(verdict, style="bold red" if failed else "bold green")
    if failed:
        raise typer.Exit(1)


def _print_summary(results: EvalResults) -> None:
    from eval.report import scored_answer_metrics

    table = Table("metric", *results.arms, title="mean [95 % interval]")
    for metric in scored_answer_metrics(results):
        cells = []
        for arm in results.arms:
            estimate = results.summary[arm].get(metric)
            cells.append(f"{estimate.mean:.2f} [{estimate.low:.2f}, {estimate.high:.2f}]" if estimate else "—")
        table.add_row(metric, *cells)
    stdout.print(table)


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        disable=quiet,
    )
