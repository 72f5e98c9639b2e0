"""What WebVTT and SRT share: blocks of lines, cue timings, cue text clean-up."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

from .base import strip_noise

_BLOCK_RE = re.compile(r"[^\n]*\S[^\n]*(?:\n[^\n]*\S[^\n]*)*")
_TAG_RE = re.compile(r"<[^>]*>|\{\\[^}]*\}")
_DASH_RE = re.compile(r"^(?:>>+|-(?=\s))\s*")
_LOOSE_TIMING_RE = re.compile(r"\d+:\d+(?:[:.,]\d+)*\s*\S{1,4}\s*\d+:\d+")


def blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number of its first line, lines)`` per run of non-blank lines."""
    line_no, last = 1, 0
    for match in _BLOCK_RE.finditer(text):
        line_no += text.count("\n", last, match.start())
        last = match.start()
        yield line_no, match.group().split("\n")


def looks_like_timing(line: str) -> bool:
    """Two timestamps on a line, as a cue timing has, however broken its arrow."""
    return bool(_LOOSE_TIMING_RE.search(line))


def joined(lines: list[str]) -> str:
    """A cue's lines as one, without the ``>>`` and ``- `` that mark a change of speaker."""
    text = " ".join(lines)
    if ">>" in text or "- " in text or "-\t" in text:
        text = " ".join(_DASH_RE.sub("", line.strip()) for line in lines)
    return text


def earlier(begin: str, end: str) -> bool:
    """Does timestamp *end* come before *begin*?  ("00:01:02,500", "1:02.5"...)"""
    if len(begin) == len(end) and begin.find(":") == end.find(":"):
        return end < begin  # same shape, zero-padded: the strings compare as the times do
    return _ms(end) < _ms(begin)


def _ms(stamp: str) -> int:
    *hm, s = stamp.replace(",", ".").split(":")
    return round((float(s) + 60 * int(hm[-1]) + (3600 * int(hm[0]) if len(hm) > 1 else 0)) * 1000)


def cue_text(text: str) -> str:
    """A cue's text as plain words: tags, entities and sounds gone."""
    if "<" in text or "{" in text:
        text = _TAG_RE.sub("", text)
    if "&" in text:
        text = html.unescape(text).replace("\xa0", " ")
    if "  " in text or not text.isprintable():  # tabs, no-break spaces: one space each
        text = " ".join(text.split())
    return strip_noise(text.strip())
