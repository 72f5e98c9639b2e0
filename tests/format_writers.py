"""Turns written out in each input format `episode` reads.

The property tests (tests/test_robustness.py) write random turns
this way and parse them back; scripts/bench.py writes 10 MB transcripts
with them.  Each writer takes ``(speaker name, text)`` pairs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

Turns = Sequence[tuple[str, str]]
CUE_WORDS = 7  # captions cut a turn into cues of this many words, sentences split across cues


def _clock(seconds: float, sep: str = ".", hours: bool = True) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    if not hours:  # Otter's style: 0:03, 12:40, 1:02:43
        return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _cues(turns: Turns):
    """(start s, end s, speaker, words of the cue, first cue of the turn) in order."""
    t = 0.0
    for name, text in turns:
        words = text.split()
        for i in range(0, len(words), CUE_WORDS):
            piece = words[i:i + CUE_WORDS]
            yield t, t + 0.4 * len(piece), name, " ".join(piece), i == 0
            t += 0.4 * len(piece) + 0.1


def as_text(turns: Turns) -> str:
    return "".join(f"{name}: {text}\n" for name, text in turns)


def as_markdown(turns: Turns, title: str = "An episode") -> str:
    body = "".join(f"**{name}:** {text}\n\n" for name, text in turns)
    return f"---\ntitle: {json.dumps(title)}\ndate: 2024-01-02\n---\n\n# {title}\n\n{body}"


def as_web_page(turns: Turns, title: str = "An episode") -> str:
    head = (f"{title}\n\nEpisode 7: {title}\n\nShow notes about the episode.\n\n"
            "Listen on: Apple Podcasts | Spotify | Overcast\n\nTranscript\n\nJanuary 2, 2024\n\n")
    body = "".join(f"{name.upper()}: {text}\n\n" + ("***\n\n" if n % 10 == 9 else "")
                   for n, (name, text) in enumerate(turns))
    return head + body


def as_otter(turns: Turns) -> str:
    return "".join(f"{name}  {_clock(n * 5.0, hours=False)}\n{text}\n\n" for n, (name, text) in enumerate(turns)) \
        + "Transcribed by https://otter.ai\n"


def as_rev(turns: Turns) -> str:
    return "".join(f"{name} ({_clock(n * 5.0)[:8]}):\n{text}\n\n" for n, (name, text) in enumerate(turns))


def as_descript(turns: Turns) -> str:
    return "".join(f"[{_clock(n * 5.0)[:8]}] {name}: {text}\n\n" for n, (name, text) in enumerate(turns))


def as_webvtt(turns: Turns) -> str:
    blocks = ["WEBVTT\n"]
    for n, (start, end, name, words, _) in enumerate(_cues(turns), 1):
        text = words.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        blocks.append(f"{n}\n{_clock(start)} --> {_clock(end)}\n<v {name}>{text}</v>\n")
    return "\n".join(blocks)


def as_zoom_vtt(turns: Turns) -> str:
    blocks = ["WEBVTT\n"]
    for n, (start, end, name, words, _) in enumerate(_cues(turns), 1):
        blocks.append(f"{n}\n{_clock(start)} --> {_clock(end)}\n{name}: {words}\n")
    return "\n".join(blocks)


def as_srt(turns: Turns) -> str:
    blocks = []
    for n, (start, end, name, words, first) in enumerate(_cues(turns), 1):
        text = f"{name}: {words}" if first else words
        blocks.append(f"{n}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{text}\n")
    return "\n".join(blocks)


def as_podcast_json(turns: Turns) -> str:
    segments = [{"speaker": name, "startTime": round(start, 3), "endTime": round(end, 3), "body": words}
                for start, end, name, words, _ in _cues(turns)]
    return json.dumps({"version": "1.0.0", "segments": segments}, indent=1, ensure_ascii=False) + "\n"


# name -> (writer, the file extension it goes with)
WRITERS = {
    "text": (as_text, ".txt"), "markdown": (as_markdown, ".md"), "web page": (as_web_page, ".txt"),
    "otter": (as_otter, ".txt"), "rev": (as_rev, ".txt"), "descript": (as_descript, ".txt"),
    "webvtt": (as_webvtt, ".vtt"), "zoom vtt": (as_zoom_vtt, ".vtt"), "srt": (as_srt, ".srt"),
    "podcast json": (as_podcast_json, ".json"),
}
