"""WebVTT captions: Zoom and Teams exports, YouTube's, podcast hosts', this project's own.

A voice span (``<v Jane Smith>``) names the speaker; without one, a
``Name:`` at the start of a cue does (Zoom's style, and diarisation's
``[SPEAKER_00]:``).  Consecutive cues of one voice are one paragraph, so a
sentence split across cues is whole again.  Timestamps may have hours of
one digit or more (``0:00:01.250``), or none.  YouTube's automatic captions
roll: each cue repeats the line before it, with the new words in ``<c>``
tags, and 10 ms cues repeat both; a line the cue before showed is read
once.  Timings are checked, never spoken: a broken one refuses the file,
naming its line.
"""

from __future__ import annotations

import functools
import html
import re

from .base import Document, Dropped, FoundMetadata, merge_cues, refuse
from .captions_common import blocks, cue_text, earlier, joined, looks_like_timing, plain_runs
from .labels import label_of

_STAMP = r"(?:\d+:)?[0-5]\d:[0-5]\d\.\d{3}"
_TIMING_RE = re.compile(rf"^({_STAMP})[ \t]+-->[ \t]+({_STAMP})(?:[ \t].*)?$")
_FIRST_STAMP_RE = re.compile(r"^(\d+:)?[0-5]\d:[0-5]\d\.\d{3}[ \t]+-->", re.M)
_LANGUAGE_RE = re.compile(r"^Language:[ \t]*([A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)[ \t]*$", re.M)


@functools.lru_cache(maxsize=3)
def _runs(hour_digits: int) -> re.Pattern[str]:
    """Plain runs for a file whose stamps have hours of this many digits (0: none): one width, as they must be."""
    hours = {0: "", 1: "[0-9]:", 2: "[0-9]{2}:"}[hour_digits]
    return plain_runs(rf"{hours}[0-5][0-9]:[0-5][0-9]\.[0-9]{{3}}")
_VOICE_RE = re.compile(r"<v(?:\.[^\s>]*)?(?:[ \t]+([^>]*))?>")
_SKIPPED_BLOCKS = ("NOTE", "STYLE", "REGION")


def _cues(text: str, source: str, dropped: list[Dropped]):
    first = _FIRST_STAMP_RE.search(text, 0, 100_000)
    hours = len(first.group(1)) - 1 if first is not None and first.group(1) else 0
    rolling = "</c>" in text[:100_000]  # YouTube's automatic captions
    runs = _runs(hours) if hours <= 2 and not rolling else None
    shown: list[str] = []  # the lines the cue before showed, when they roll
    untexted = False  # the cue before had a timing and no text
    for index, (line_no, lines) in enumerate(blocks(text, runs)):
        if isinstance(lines, str):  # plain cues, already checked (see blocks)
            untexted = False
            yield from _spans(lines, line_no, dropped)
            continue
        if index == 0:  # the header: "WEBVTT" and optional metadata lines
            if not lines[0].startswith("WEBVTT") or lines[0][6:7] not in ("", " ", "\t"):
                raise refuse(source, line_no, f"not WebVTT: the first line must be 'WEBVTT', not {lines[0][:40]!r}")
            timing_at = next((i for i, line in enumerate(lines) if "-->" in line), None)
            if timing_at is None:
                continue
            lines, line_no = lines[timing_at:], line_no + timing_at  # a first cue with no blank line before it
        first = lines[0]
        if "-->" in first:
            t = 0
        elif len(lines) > 1 and "-->" in lines[1]:
            t = 1
        elif first.split(None, 1)[0] in _SKIPPED_BLOCKS:
            continue
        elif looks_like_timing(first) or len(lines) > 1 and looks_like_timing(lines[1]):
            t = 0 if looks_like_timing(first) else 1  # an arrow gone wrong: said below, with its line
        elif untexted:  # the text of the cue before, after a line of spaces (YouTube's): not a new cue
            t = -1
        else:
            raise refuse(source, line_no, f"a cue with no timing line: {first[:60]!r}")
        if t >= 0:
            timing_line = lines[t].strip()
            timing = _TIMING_RE.match(timing_line)
            if timing is None:
                raise refuse(source, line_no + t, f"broken cue timing {timing_line[:60]!r} "
                                                  "(expected HH:MM:SS.mmm --> HH:MM:SS.mmm)")
            begin, end = timing.groups()
            if earlier(begin, end):
                raise refuse(source, line_no + t, f"cue ends before it starts: {timing_line[:60]!r}")
        payload = lines[t + 1:]
        untexted = not payload
        cue = joined(payload)
        if "-->" in cue:
            k = next(k for k, line in enumerate(payload) if "-->" in line)
            raise refuse(source, line_no + t + 1 + k, "a cue timing inside a cue's text (a blank line missing?)")
        if rolling:
            showing = [line for line in (cue_text(joined([p])) for p in payload) if line]
            cue = " ".join(line for line in showing if line not in shown)
            shown = showing
            if not cue:
                continue
        yield from _spans(cue, line_no + t + 1, dropped)


def _spans(text: str, text_line: int, dropped: list[Dropped]):
    """``(line, voice or None, words)`` per voice span of a cue's text."""
    if "<v" not in text:
        words = cue_text(text)
        if words:
            yield text_line, None, words
        elif text.strip():
            dropped.append(Dropped(text_line, text.strip(), "not speech (a sound or music)"))
        return
    parts = _VOICE_RE.split(text)
    for voice, span in [(None, parts[0])] + [(parts[i], parts[i + 1]) for i in range(1, len(parts) - 1, 2)]:
        words = cue_text(span)
        if voice is not None:
            voice = html.unescape(voice).strip() or None
        if words:
            yield text_line, voice, words
        elif span.strip():
            dropped.append(Dropped(text_line, span.strip(), "not speech (a sound or music)"))


def read_webvtt(text: str, *, source: str) -> Document:
    dropped: list[Dropped] = []
    paragraphs = merge_cues(_cues(text, source, dropped), label_of, dropped)
    first_line = text.split("\n", 1)[0]
    title = first_line[6:].strip(" \t-–—")
    header = text[:text.find("\n\n")] if "\n\n" in text else text[:2000]
    language = _LANGUAGE_RE.search(header)
    meta = FoundMetadata().merged(title=(title, "line 1 (the WEBVTT header)"),
                                  language=(language.group(1) if language else "", "the WEBVTT header"))
    return Document("webvtt", tuple(paragraphs), tuple(sorted(dropped, key=lambda d: d.line_no)), meta)
