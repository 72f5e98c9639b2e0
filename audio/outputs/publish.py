"""Stage 6: what listeners and podcast hosts get beside the MP3.

Captions (WebVTT with word timestamps, SRT), Podcasting 2.0 JSON chapters,
transcript and word-by-word transcript, an RSS feed and an accessible HTML
player page that highlights each word as it is spoken, all timed from the
real render.
Each file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from ..art import Artwork
from ..errors import OutputError
from ..files import write_atomic
from ..show import SHOW_PAGE, Show, show_from_episode
from .captions import Cue, build_cues, chapters_vtt, to_srt, to_vtt
from .feed import FeedItem, build_feed
from .player import player_html
from .wordtiming import TimedWord, timed_words

log = logging.getLogger(__name__)

FORMATS = ("vtt", "srt", "chapters", "transcript", "words", "feed", "player")
CHAPTERS_VERSION = "1.2.0"
TRANSCRIPT_VERSION = "1.0.0"


def _seconds(ms: int) -> float:
    return round(ms / 1000, 3)


def chapters_json(marks) -> dict:
    return {"version": CHAPTERS_VERSION,
            "chapters": [{"startTime": _seconds(m.start_ms), "endTime": _seconds(m.end_ms), "title": m.title,
                          **({} if m.toc else {"toc": False})} for m in marks]}


def transcript_json(cues: Iterable[Cue]) -> dict:
    return {"version": TRANSCRIPT_VERSION,
            "segments": [{"speaker": c.speaker, "startTime": _seconds(c.start_ms), "endTime": _seconds(c.end_ms),
                          "body": c.text} for c in cues]}


def words_json(words: Iterable[TimedWord]) -> dict:
    """The same transcript with one segment per written word (Apple and Podcasting 2.0 read-along)."""
    return {"version": TRANSCRIPT_VERSION,
            "segments": [{"speaker": w.speaker, "startTime": _seconds(w.start_ms), "endTime": _seconds(w.end_ms),
                          "body": w.text} for w in words]}


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
                    chapters_name=f"{stem}.chapters.json" if "chapters" in formats else "",
                    chapters=tuple((c.start_ms, c.title) for c in result.chapters))


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
