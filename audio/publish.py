"""Stage 6: what listeners and podcast hosts get beside the MP3.

Captions (WebVTT with word timestamps, SRT), Podcasting 2.0 JSON chapters,
transcript and word-by-word transcript, an RSS feed and an accessible HTML
player page that highlights each word as it is spoken, all timed from the
real render.
Each file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import html
import json
import logging
import os
import string
import tempfile
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

from .art import Artwork
from .captions import Cue, build_cues, chapters_vtt, timestamp, to_srt, to_vtt, vtt_payload
from .errors import OutputError
from .feed import FeedItem, build_feed
from .show import SHOW_PAGE, Show, show_from_episode
from .wordtiming import TimedWord, timed_words

log = logging.getLogger(__name__)

FORMATS = ("vtt", "srt", "chapters", "transcript", "words", "feed", "player")
CHAPTERS_VERSION = "1.2.0"
TRANSCRIPT_VERSION = "1.0.0"
_LANGUAGE_NAMES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish"}


def write_atomic(dest: Path, data: bytes | str) -> Path:
    blob = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    except OSError as exc:
        raise OutputError(f"cannot write to {dest.parent}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):  # a full disk, a folder in the way
            raise OutputError(f"cannot write {dest}: {exc.strerror or exc}") from None
        raise
    return dest


def _seconds(ms: int) -> float:
    return round(ms / 1000, 3)


def chapters_json(marks) -> dict:
    return {"version": CHAPTERS_VERSION,
            "chapters": [{"startTime": _seconds(m.start_ms), "endTime": _seconds(m.end_ms), "title": m.title}
                         for m in marks]}


def transcript_json(cues: Iterable[Cue]) -> dict:
    return {"version": TRANSCRIPT_VERSION,
            "segments": [{"speaker": c.speaker, "startTime": _seconds(c.start_ms), "endTime": _seconds(c.end_ms),
                          "body": c.text} for c in cues]}


def words_json(words: Iterable[TimedWord]) -> dict:
    """The same transcript with one segment per written word (Apple and Podcasting 2.0 read-along)."""
    return {"version": TRANSCRIPT_VERSION,
            "segments": [{"speaker": w.speaker, "startTime": _seconds(w.start_ms), "endTime": _seconds(w.end_ms),
                          "body": w.text} for w in words]}


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
    template = string.Template(resources.files("audio").joinpath("player.html").read_text(encoding="utf-8"))
    lang = meta.language.split("-")[0]
    show = f'<a href="{esc(show_href)}">{esc(meta.show)}</a>' if show_href else esc(meta.show)
    return template.substitute(
        lang=esc(lang), lang_label=_LANGUAGE_NAMES.get(lang, lang), title=esc(meta.title), show=show,
        description=esc(meta.description), mp3=esc(result.path.name), vtt=esc(f"{stem}.vtt"),
        chapters_vtt=esc(f"{stem}.chapters.vtt"), chapter_items=chapter_items,
        transcript_items=_transcript_html(words),
        data=json.dumps(data, ensure_ascii=False).replace("</", "<\\/"))


def feed_item(result, formats: Iterable[str] = FORMATS, *, page_name: str = SHOW_PAGE,
              image_name: str = "") -> FeedItem:
    """The feed's item for a finished render with the sidecars *formats* beside it."""
    formats = set(formats)
    meta, stem = result.episode.metadata, result.path.stem
    return FeedItem(slug=stem, title=meta.title, description=meta.description, date=meta.date,
                    author=meta.author, language=meta.language, mp3_name=result.path.name,
                    mp3_bytes=result.path.stat().st_size, duration_ms=result.duration_ms, number=meta.number,
                    image_name=image_name, page_name=page_name if "player" in formats else "",
                    vtt_name=f"{stem}.vtt" if "vtt" in formats else "",
                    srt_name=f"{stem}.srt" if "srt" in formats else "",
                    transcript_json_name=f"{stem}.transcript.json" if "transcript" in formats else "",
                    words_json_name=f"{stem}.words.json" if "words" in formats else "",
                    chapters_name=f"{stem}.chapters.json" if "chapters" in formats else "")


def publish(result, *, formats: Iterable[str] = FORMATS, player_name: str = SHOW_PAGE,
            show: Show | None = None, show_href: str = "", cover: Artwork | None = None) -> list[Path]:
    """Write the sidecar files for a finished render; return their paths.

    The player page is *player_name* (a catalogue names it after the
    episode, its show page taking index.html) and links back to *show_href*.
    The one-item feed describes *show* (default: the one the episode's
    manifest implies), with *cover* written beside as its image.
    """
    formats = set(formats)
    unknown = formats - set(FORMATS)
    if unknown:
        raise OutputError(f"unknown sidecar format {sorted(unknown)[0]!r} (known: {', '.join(FORMATS)})")
    folder, stem = result.path.parent, result.path.stem
    names = {s.id: s.name for s in result.episode.manifest.speakers}
    cues = build_cues(result.sentences, names)
    words = timed_words(result.sentences, names)
    written: list[Path] = []

    def put(name: str, data: bytes | str) -> None:
        written.append(write_atomic(folder / name, data))

    if "vtt" in formats or "player" in formats:
        put(f"{stem}.vtt", to_vtt(cues))
    if "srt" in formats:
        put(f"{stem}.srt", to_srt(cues))
    if "chapters" in formats:
        put(f"{stem}.chapters.json", json.dumps(chapters_json(result.chapters), indent=2, ensure_ascii=False) + "\n")
    if "transcript" in formats:
        put(f"{stem}.transcript.json", json.dumps(transcript_json(cues), indent=2, ensure_ascii=False) + "\n")
    if "words" in formats:
        # one segment per line: an hour is about 9,000 of them
        segments = ",\n".join(json.dumps(seg, ensure_ascii=False) for seg in words_json(words)["segments"])
        put(f"{stem}.words.json", f'{{"version": "{TRANSCRIPT_VERSION}", "segments": [\n{segments}\n]}}\n')
    if "player" in formats:
        put(f"{stem}.chapters.vtt", chapters_vtt(result.chapters))
        put(player_name, player_html(result, cues, words, show_href))
    if "feed" in formats:
        show = show or show_from_episode(result.episode.metadata)
        cover_name = f"{stem}.{cover.extension}" if cover else ""
        if cover:
            put(cover_name, cover.data)
        put("feed.xml", build_feed(show, [feed_item(result, formats, page_name=player_name)], cover_name=cover_name))
    log.info("wrote %d sidecar files beside %s", len(written), result.path)
    return written
