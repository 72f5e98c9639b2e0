"""Transcription services' text exports: a speaker and a timestamp head each turn.

- Otter: ``Jane Smith  0:03`` on a line of its own, the text below;
- Rev and Temi: ``Jane Smith (00:00:03):``, the text below or after it;
- Descript: ``[00:00:03] Jane Smith: text``, or ``Jane Smith [00:03]``;

Timestamps are never spoken; a timestamp alone on its line is dropped, and
so are the services' footers ("Transcribed by https://otter.ai"), which
``webpage`` recognises with the other page clutter.
"""

from __future__ import annotations

import re

from .base import TIMESTAMP
from .labels import looks_like_name

_OTTER_RE = re.compile(rf"^(?P<name>[^\s\d(\[][^\n]{{0,60}}?)(?:[ \t]{{2,}}|\t| )(?P<ts>{TIMESTAMP})$")
_REV_RE = re.compile(rf"^(?P<name>[^()\[\]\n]{{1,60}}?)\s*\((?P<ts>{TIMESTAMP})\)\s*:?\s*(?P<rest>.*)$", re.S)
_TS_FIRST_RE = re.compile(rf"^\[?(?P<ts>{TIMESTAMP})\]?\s+(?P<name>[^:\n]{{1,60}}?)\s*:\s*(?P<rest>.*)$", re.S)
_TS_AFTER_RE = re.compile(rf"^(?P<name>[^\[\]\n:]{{1,60}}?)\s*\[(?P<ts>{TIMESTAMP})\]\s*:?\s*(?P<rest>.*)$", re.S)
_TS_ONLY_RE = re.compile(rf"^[\[(]?{TIMESTAMP}(?:\s*-->?\s*{TIMESTAMP})?[\])]?$")
_EMPHASIS = "*_"


def header_of(line: str) -> tuple[str, str] | None:
    """``(speaker name, text after it)`` when *line* heads a turn in an export's style."""
    if line[0] in _EMPHASIS or line[-1] in _EMPHASIS:  # "*Joe (00:15)*"
        line = line.strip(_EMPHASIS).strip()
        if not line:
            return None
    first, last = line[0], line[-1]
    match = None
    if last.isdigit():
        match = _OTTER_RE.match(line)
    if match is None and 0 <= line.find("(", 0, 70) and ")" in line:
        match = _REV_RE.match(line)
    if match is None and (first == "[" or first.isdigit()):
        match = _TS_FIRST_RE.match(line)
    if match is None and 0 <= line.find("[", 0, 70):
        match = _TS_AFTER_RE.match(line)
    if match is None:
        return None
    name = match.group("name").strip().strip(_EMPHASIS).strip()
    if not looks_like_name(name):
        return None
    rest = match.groupdict().get("rest") or ""
    return name, rest.strip()


def is_timestamp(line: str) -> bool:
    """A line that is only a timestamp (or a range): never spoken."""
    return (line[0].isdigit() or line[0] in "[(") and line[-1] in "0123456789])" and bool(_TS_ONLY_RE.match(line))
