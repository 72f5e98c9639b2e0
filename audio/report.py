"""Presenting a FidelityReport: a table for people, JSON for machines."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import OutputError
from .files import write_atomic
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
    lines += _word_timing_lines(report)
    lines.append("")
    lines += [f"note: {n}" for n in report.notes]
    if report.passed:
        lines.append("PASS")
    else:
        lines += [f"FAIL: {f}" for f in report.failures]
    return "\n".join(lines)


def _word_timing_lines(report: FidelityReport) -> list[str]:
    w = report.word_timing
    if w is None:
        return []
    lines = ["", f"word timing of {w.source}: {w.heard_right} of {w.words} words heard right"]
    if w.median_ms is not None:
        t = report.thresholds
        lines += [f"  |Δ start| median {w.median_ms:>5} ms  (limit {t.max_word_median_ms} ms)",
                  f"  |Δ start| 90th   {w.p90_ms:>5} ms  (limit {t.max_word_p90_ms} ms)",
                  f"  |Δ start| max    {w.max_ms:>5} ms;  heard later than timed by a median {w.bias_ms:+d} ms"]
    return lines


def write_json(data: dict, dest: Path) -> None:
    """Write *data* as JSON atomically (temporary file, then rename)."""
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write to {dest.parent}: {exc.strerror}") from None
    write_atomic(dest, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
