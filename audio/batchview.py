"""How `episode batch` shows a batch on the terminal: its progress as it runs, its summary after.

A progress bar with each episode's state when stderr is a terminal, a line
per finished episode otherwise; then a table of every episode.
"""

from __future__ import annotations

import contextlib
import sys

import typer

from .batch import BatchReport, EpisodeRow


@contextlib.contextmanager
def batch_view():
    """One bar for the batch with each episode's state on a terminal; a line per finished episode elsewhere."""
    final = ("rendered", "up to date", "failed", "verify failed", "interrupted", "not started")
    if not sys.stderr.isatty():
        def line(row: EpisodeRow) -> None:
            if row.status in final:
                typer.echo(f"{row.status}: {row.slug}" + (f" ({row.reason})" if row.reason else ""), err=True)
        yield line
        return
    from rich.console import Group
    from rich.live import Live
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    rows: dict[str, EpisodeRow] = {}
    bar = Progress(TextColumn("episodes"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeElapsedColumn())
    task = bar.add_task("batch", total=0)

    def view():
        table = Table.grid(padding=(0, 2))
        busy = [r for r in rows.values() if r.status not in ("queued", "up to date", "rendered")]
        shown = list(rows.values()) if len(rows) <= 20 else busy
        for r in shown:
            table.add_row(r.slug, r.status, r.reason[:60])
        return Group(table, bar)

    with Live(view(), transient=True, refresh_per_second=4) as live:
        def update(row: EpisodeRow) -> None:
            rows[row.slug] = row
            bar.update(task, total=len(rows), completed=sum(r.status in final for r in rows.values()))
            live.update(view())
        yield update


def summary(report: BatchReport, verify: bool) -> str:
    """The summary table: episode, status, duration, WER (with --verify), and why a failure failed."""
    head = ["episode", "status", "duration"] + (["WER"] if verify else []) + ["reason"]
    lines = []
    for r in report.rows:
        duration = f"{r.duration_ms / 1000:.1f} s" if r.duration_ms is not None else "-"
        wer = [f"{r.wer:.1%}" if r.wer is not None else "-"] if verify else []
        lines.append([r.slug, r.status, duration, *wer, r.reason])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    fmt = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(head)] + [fmt(cells) for cells in lines])
