"""Turns written out in each input format `episode` reads.

The property tests (tests/test_robustness.py, tests/test_directions.py)
write random turns this way and parse them back; scripts/bench.py writes
10 MB transcripts with them.  Each writer takes ``(speaker name, text)``
pairs.  WRITERS keep every speaker's name; VARIANT_WRITERS are the shapes
shows publish that rename speakers or have none (diarised captions,
YouTube's, a timestamped page), or add what is not spoken (radio); a Word
writer gives bytes.
"""

from __future__ import annotations

import functools
import html
import io
import json
import zipfile
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


def as_html(turns: Turns, title: str = "An episode") -> str:
    """A saved page: head, scripts, styles, navigation and footer around an article with the transcript."""
    body = "".join(f"<p><strong>{html.escape(name)}:</strong> {html.escape(text)}</p>\n"
                   + ("<hr>\n" if n % 10 == 9 else "") for n, (name, text) in enumerate(turns))
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)} | The Show</title>\n"
            "<link rel=\"stylesheet\" href=\"https://example.invalid/site.css\">\n"
            "<style>body { font-family: serif }</style>\n<script>var analytics = 'never spoken';</script>\n"
            "</head>\n<body>\n<header><nav><a href=\"/\">Home</a> <a href=\"/donate\">Donate</a></nav></header>\n"
            f"<main><article>\n<h1>{html.escape(title)}</h1>\n<time datetime=\"2024-01-02\">January 2, 2024</time>\n"
            "<p class=\"summary\">Show notes about the episode.</p>\n<div class=\"transcript\">\n"
            f"{body}</div>\n</article></main>\n<footer><p>Subscribe</p><p>&copy; 2024 The Show</p></footer>\n"
            "</body>\n</html>\n")


@functools.lru_cache(maxsize=1)
def _docx_template() -> tuple[bytes, str]:
    """python-docx's empty document, and its document.xml with {body} where the paragraphs go."""
    import docx

    buffer = io.BytesIO()
    docx.Document().save(buffer)
    xml = zipfile.ZipFile(buffer).read("word/document.xml").decode("utf-8")
    start = xml.index("<w:body>") + len("<w:body>")
    return buffer.getvalue(), xml[:start] + "{body}" + xml[xml.index("<w:sectPr", start):]


def _w_text(text: str) -> str:
    return html.escape(text, quote=False)


def as_docx(turns: Turns, title: str = "An episode", *, stored: bool = False) -> bytes:
    """A Word file: a Title paragraph, then a bold label run and the text per turn (*stored*: not compressed)."""
    template, document_xml = _docx_template()
    paragraphs = [f'<w:p><w:pPr><w:pStyle w:val="Title"/></w:pPr><w:r><w:t>{_w_text(title)}</w:t></w:r></w:p>']
    paragraphs += [f'<w:p><w:r><w:rPr><w:b/></w:rPr><w:t>{_w_text(name)}:</w:t></w:r>'
                   f'<w:r><w:t xml:space="preserve"> {_w_text(text)}</w:t></w:r></w:p>' for name, text in turns]
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(template)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as dest:
        for item in source.infolist():
            data = document_xml.replace("{body}", "".join(paragraphs)).encode("utf-8") \
                if item.filename == "word/document.xml" else source.read(item.filename)
            dest.writestr(item.filename, data)
    return out.getvalue()


def as_radio(turns: Turns) -> str:
    """A public-radio transcript: NAME, HOST: first, then surnames; soundbites, laughter, (ph), the footer."""
    first_seen: set[str] = set()
    out = []
    for n, (name, text) in enumerate(turns):
        role = ", HOST" if n == 0 else ""
        label = name.upper() if name not in first_seen else name.split()[-1].upper()
        first_seen.add(name)
        out.append(f"{label}{role}:\n\n{text}\n\n")
        if n % 7 == 3:
            out.append("(SOUNDBITE OF MUSIC)\n\n")
        elif n % 7 == 5:
            out.append("(LAUGHTER)\n\n")
    out.append("Copyright © 2024 Public Radio. All rights reserved.\n\n"
               "Public Radio transcripts are created on a rush deadline by a contractor. This text may not be in its "
               "final form and may be updated or revised in the future.\n")
    return "".join(out)


def as_diarised_srt(turns: Turns) -> str:
    """A diarisation tool's SRT: [SPEAKER_00]: before every cue."""
    ids: dict[str, str] = {}
    blocks = []
    for n, (start, end, name, words, _) in enumerate(_cues(turns), 1):
        speaker = ids.setdefault(name, f"SPEAKER_{len(ids):02d}")
        blocks.append(f"{n}\n{_clock(start, ',')} --> {_clock(end, ',')}\n[{speaker}]: {words}\n")
    return "\n".join(blocks)


def as_short_hour_vtt(turns: Turns) -> str:
    """WebVTT with one-digit hours (0:00:01.250), as a large podcast host publishes it."""
    def clock(seconds: float) -> str:
        stamp = _clock(seconds)
        return stamp[1:] if stamp[0] == "0" else stamp  # 0:00:01.250, and 10:00:01.250 after ten hours

    blocks = ["WEBVTT\n"]
    for start, end, name, words, _ in _cues(turns):
        blocks.append(f"{clock(start)} --> {clock(end)}\n<v {name}>{html.escape(words, quote=False)}</v>\n")
    return "\n".join(blocks)


def as_youtube_vtt(turns: Turns) -> str:
    """YouTube's automatic captions: no speakers, each cue the line before and the new words in <c> tags,
    a 10 ms cue repeating both."""
    blocks = ["WEBVTT\nKind: captions\nLanguage: en\n"]
    previous = ""
    for start, end, _, words, _ in _cues(turns):
        spoken = words.lower().replace(".", "").replace(",", "").replace("?", "")
        first, *rest = spoken.split() or [""]
        tagged = first + "".join(f"<{_clock(start + 0.2 * (i + 1))}><c> {w}</c>" for i, w in enumerate(rest))
        blocks.append(f"{_clock(start)} --> {_clock(end)} align:start position:0%\n{previous or ' '}\n{tagged}\n")
        blocks.append(f"{_clock(end)} --> {_clock(end + 0.01)} align:start position:0%\n{spoken}\n \n")
        previous = spoken
    return "\n".join(blocks)


def as_timestamped_page(turns: Turns) -> str:
    """A transcript page copied with its controls and a timestamp alone on a line before each fragment."""
    out = ["The Show: An episode\n", "Transcript\n", "Use Ctrl + F to search\n"]
    for start, _, _, words, _ in _cues(turns):
        out.append(f"{_clock(start, hours=False)}\n{words}\n")
    return "".join(out)


# name -> (writer, the file extension it goes with)
WRITERS = {
    "text": (as_text, ".txt"), "markdown": (as_markdown, ".md"), "web page": (as_web_page, ".txt"),
    "otter": (as_otter, ".txt"), "rev": (as_rev, ".txt"), "descript": (as_descript, ".txt"),
    "webvtt": (as_webvtt, ".vtt"), "zoom vtt": (as_zoom_vtt, ".vtt"), "srt": (as_srt, ".srt"),
    "podcast json": (as_podcast_json, ".json"), "html": (as_html, ".html"),
}
VARIANT_WRITERS = {
    "radio (newsroom)": (as_radio, ".txt"), "diarised srt": (as_diarised_srt, ".srt"),
    "webvtt, 1-digit hours": (as_short_hour_vtt, ".vtt"), "youtube auto vtt": (as_youtube_vtt, ".vtt"),
    "timestamped page": (as_timestamped_page, ".txt"),
}
