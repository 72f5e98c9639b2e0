"""Stage 6: the player page: an accessible read-along page that works from the file system.

Chapter buttons, a speed control, and the transcript with one element per
written word, highlighted as it is spoken (``player.html`` holds the markup,
style and script; this module fills it from the render's timeline).
"""

from __future__ import annotations

import html
import json
import string
from collections.abc import Sequence
from importlib import resources

from .captions import Cue, timestamp, vtt_payload
from .wordtiming import TimedWord

_LANGUAGE_NAMES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish"}


def _seconds(ms: int) -> float:
    return round(ms / 1000, 3)


def _transcript_html(words: Sequence[TimedWord]) -> str:
    """One paragraph per turn and one element per written word, with its start in seconds.

    Written here rather than built by the page's script: an hour has about
    9,000 words, and the browser parses markup far faster than script can
    make elements.  The first word is the transcript's one tab stop (the
    page's script moves it: a roving tabindex).
    """
    esc = html.escape
    parts: list[str] = []
    turn = None
    for n, w in enumerate(words):
        if w.turn_index != turn:
            parts.append(f'{"</p>" if turn is not None else ""}<p class="turn"><span class="speaker">'
                         f'{esc(w.speaker)}:</span>')
            turn = w.turn_index
        stop = ' tabindex="0" aria-describedby="transcript-help"' if n == 0 else ""
        parts.append(f' <span data-start="{_seconds(w.start_ms)}"{stop}>{esc(w.text)}</span>')
    return "".join(parts) + ("</p>" if parts else "")


def player_html(result, cues: list[Cue], words: Sequence[TimedWord], show_href: str = "") -> str:
    """The player page; *show_href* links the show's name to the show's page."""
    meta = result.episode.metadata
    stem = result.path.stem
    esc = html.escape
    chapter_items = "".join(
        f'<li><button type="button" data-start="{_seconds(m.start_ms)}">'
        f'<span class="time">{timestamp(m.start_ms)[:8]}</span>{esc(m.title)}</button></li>'
        for m in result.chapters)
    # The captions again (with their word timestamps) for the offline page,
    # whose browser will not load the .vtt files beside it.
    data = {"cues": [{"start": _seconds(c.start_ms), "end": _seconds(c.end_ms), "text": vtt_payload(c)}
                     for c in cues],
            "chapters": [{"id": m.element_id, "start": _seconds(m.start_ms), "end": _seconds(m.end_ms),
                          "text": m.title} for m in result.chapters]}
    template = string.Template(resources.files(__package__).joinpath("player.html").read_text(encoding="utf-8"))
    lang = meta.language.split("-")[0]
    show = f'<a href="{esc(show_href)}">{esc(meta.show)}</a>' if show_href else esc(meta.show)
    return template.substitute(
        lang=esc(lang), lang_label=_LANGUAGE_NAMES.get(lang, lang), title=esc(meta.title), show=show,
        description=esc(meta.description), mp3=esc(result.path.name), vtt=esc(f"{stem}.vtt"),
        chapters_vtt=esc(f"{stem}.chapters.vtt"), chapter_items=chapter_items,
        transcript_items=_transcript_html(words),
        data=json.dumps(data, ensure_ascii=False).replace("</", "<\\/"))
