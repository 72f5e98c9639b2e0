"""Presenting a FidelityReport: a table for people, JSON for machines."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import OutputError
from .publish import write_atomic
from .verify import FidelityReport, Score


def _score_cells(s: Score) -> str:
    return f"{s.wer:>7.1%} {s.words:>6} {s.substitutions:>5} {s.deletions:>5} {s.insertions:>5}"


def _ms(value: int | None) -> str:
    return "-" if value is None else f"{value:+d}"


def render_table(report: FidelityReport) -> str:
    head = f"{'':<34} {'WER':>7} {'words':>6} {'sub':>5} {'del':>5} {'ins':>5}"
    lines = [f"Fidelity of {report.audio}", f"model: {report.model}", f"normaliser: {report.normaliser}", "",
             head, f"{'overall':<34} {_score_cells(report.overall)}", ""]
    lines.append("by speaker")
    for name, score in report.speakers.items():
        lines.append(f"  {name:<32} {_score_cells(score)}")
    if report.chapters:
        lines += ["", f"by chapter{'':<24} {'WER':>7} {'words':>6} {'sub':>5} {'del':>5} {'ins':>5} {'drift ms':>9}"]
        for c in report.chapters:
            lines.append(f"  {c.index + 1:>2}. {c.title[:28]:<28} {_score_cells(c.score)} {_ms(c.drift_ms):>9}")
    lines += ["", f"by turn{'':<27} {'WER':>7} {'words':>6} {'sub':>5} {'del':>5} {'ins':>5} {'drift ms':>9}  status"]
    for t in report.turns:
        lines.append(f"  {t.index + 1:>3}. {t.speaker[:27]:<27} {_score_cells(t.score)} {_ms(t.drift_ms):>9}  {t.status}")
    lines.append("")
    lines += [f"note: {n}" for n in report.notes]
    if report.passed:
        lines.append("PASS")
    else:
        lines += [f"FAIL: {f}" for f in report.failures]
    return "\n".join(lines)


def write_json(data: dict, dest: Path) -> None:
    """Write *data* as JSON atomically (temporary file, then rename)."""
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write to {dest.parent}: {exc.strerror}") from None
    write_atomic(dest, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
