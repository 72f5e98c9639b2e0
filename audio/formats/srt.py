"""SubRip captions, with ``NAME:`` before a speaker's first cue.

Each cue is a number, a timing line (``00:00:01,000 --> 00:00:04,000``)
and text.  ``Name:`` (or ``>> NAME:``) at the start of a cue names who
speaks from there on; consecutive cues of one speaker are one paragraph.
A broken timing refuses the file, naming its line.
"""

from __future__ import annotations

import re

from .base import Document, Dropped, merge_cues, refuse
from .captions_common import blocks, cue_text, earlier, joined, looks_like_timing, plain_runs
from .labels import label_of

_STAMP = r"\d{1,3}:[0-5]\d:[0-5]\d[,.]\d{1,3}"
_TIMING_RE = re.compile(rf"^({_STAMP})[ \t]+-->[ \t]+({_STAMP})(?:[ \t].*)?$")
_RUNS = plain_runs(r"[0-9]{2}:[0-5][0-9]:[0-5][0-9][,.][0-9]{3}")


def _cues(text: str, source: str):
    pending: tuple[int, list[str]] | None = None  # the cue read last, which a stray block may continue
    for line_no, lines in blocks(text, _RUNS):
        if isinstance(lines, str):  # plain cues, already checked (see blocks)
            if pending is not None:
                yield pending
            pending = (line_no, [lines])
            continue
        first = lines[0].strip()
        if "-->" in first:
            t = 0
        elif first.isdigit() and len(lines) > 1 and ("-->" in lines[1] or looks_like_timing(lines[1])):
            t = 1
        elif first.isdigit():
            raise refuse(source, line_no, f"cue {first} has no timing line")
        elif looks_like_timing(first):
            t = 0
        elif pending is not None and not any("-->" in line for line in lines):  # a blank line inside a cue's text
            pending[1].extend(lines)
            continue
        else:
            raise refuse(source, line_no, f"not SubRip: expected a cue number and timing, not {first[:60]!r}")
        timing = _TIMING_RE.match(lines[t].strip())
        if timing is None:
            raise refuse(source, line_no + t, f"broken cue timing {lines[t].strip()[:60]!r} "
                                              "(expected HH:MM:SS,mmm --> HH:MM:SS,mmm)")
        if earlier(*timing.groups()):
            raise refuse(source, line_no + t, f"cue ends before it starts: {lines[t].strip()[:60]!r}")
        for k, line in enumerate(lines[t + 1:]):
            if "-->" in line:
                raise refuse(source, line_no + t + 1 + k, "a cue timing inside a cue's text (a blank line missing?)")
        if pending is not None:
            yield pending
        pending = (line_no + t + 1, lines[t + 1:])
    if pending is not None:
        yield pending


def read_srt(text: str, *, source: str) -> Document:
    dropped: list[Dropped] = []

    def cues():
        for line_no, lines in _cues(text, source):
            cue = joined(lines)
            words = cue_text(cue)
            if words:
                yield line_no, None, words
            elif cue.strip():
                dropped.append(Dropped(line_no, cue.strip(), "not speech (a sound or music)"))

    paragraphs = merge_cues(cues(), label_of, dropped)
    return Document("srt", tuple(paragraphs), tuple(sorted(dropped, key=lambda d: d.line_no)))
