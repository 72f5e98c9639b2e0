"""Podcasting 2.0 JSON transcripts.

``{"version": "1.0.0", "segments": [{"speaker": "Jane", "startTime": 0.0,
"endTime": 1.2, "body": "Hello."}]}``.  Segments may hold a sentence or a
single word; consecutive segments of one speaker are one paragraph.  JSON
that is not such a transcript (a chapters file, a list, a segment with no
body) is refused, naming the line.
"""

from __future__ import annotations

import bisect
import json
import re

from .base import Document, Dropped, merge_cues, refuse

_SEGMENTS_RE = re.compile(r'"segments"\s*:\s*\[')
_FLAT_OBJECT_RE = re.compile(r'\{[^{}]*\}')


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer("\n", text)]


def _segment_lines(text: str, count: int) -> list[int] | None:
    """The line each segment starts on, when segments are flat objects (they are, in practice)."""
    found = _SEGMENTS_RE.search(text)
    if found is None:
        return None
    starts = [m.start() for m in _FLAT_OBJECT_RE.finditer(text, found.end())][:count]
    if len(starts) != count:
        return None
    newlines = _line_starts(text)
    return [bisect.bisect_right(newlines, pos) for pos in starts]


def read_podcast_json(text: str, *, source: str) -> Document:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise refuse(source, exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
        what = " (it looks like a chapters file)" if isinstance(data, dict) and "chapters" in data else ""
        raise refuse(source, 1, f"JSON that is not a Podcasting 2.0 transcript: no \"segments\" list{what}")
    segments = data["segments"]
    lines = _segment_lines(text, len(segments))

    def line_of(i: int) -> int:
        return lines[i] if lines else 1

    def cues():
        for i, seg in enumerate(segments):
            if not isinstance(seg, dict):
                raise refuse(source, line_of(i), f"segment {i + 1} is not an object")
            body = seg.get("body")
            if not isinstance(body, str):
                raise refuse(source, line_of(i), f"segment {i + 1} has no \"body\" text")
            speaker = seg.get("speaker")
            if speaker is not None and not isinstance(speaker, str):
                raise refuse(source, line_of(i), f"segment {i + 1}: \"speaker\" is not text")
            for key in ("startTime", "endTime"):
                value = seg.get(key)
                if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                    raise refuse(source, line_of(i), f"segment {i + 1}: {key!r} is not a number of seconds")
            words = " ".join(body.split())
            if not words:
                continue
            yield line_of(i), (speaker.strip() or None) if speaker else None, words

    dropped: list[Dropped] = []
    paragraphs = merge_cues(cues(), None, dropped)
    return Document("podcast-json", tuple(paragraphs), tuple(dropped))
