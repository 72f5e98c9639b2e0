"""What WebVTT and SRT share: blocks of lines, cue timings, cue text clean-up."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

from .base import strip_noise

_BLOCK_RE = re.compile(r"[^\n]*\S[^\n]*(?:\n[^\n]*\S[^\n]*)*")
_TAG_RE = re.compile(r"<[^>]*>|\{\\[^}]*\}")
_DASH_RE = re.compile(r"^(?:>>+|-(?=\s))\s*")


def blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number of its first line, lines)`` per run of non-blank lines."""
    line_no, last = 1, 0
    for match in _BLOCK_RE.finditer(text):
        line_no += text.count("\n", last, match.start())
        last = match.start()
        yield line_no, match.group().split("\n")


def to_ms(h: str | None, m: str, s: str, frac: str) -> int:
    return ((int(h or 0) * 60 + int(m)) * 60 + int(s)) * 1000 + int(frac.ljust(3, "0"))


def cue_text(lines: list[str]) -> str:
    """A cue's lines as one line of plain words: tags, entities, dashes and sounds gone."""
    parts = []
    for line in lines:
        line = line.strip()
        if line[:1] in ("-", ">"):
            line = _DASH_RE.sub("", line)
        if line:
            parts.append(line)
    text = " ".join(parts)
    if "<" in text or "{" in text:
        text = _TAG_RE.sub("", text)
    if "&" in text:
        text = html.unescape(text).replace("\xa0", " ")
    return strip_noise(text)
