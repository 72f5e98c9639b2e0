"""Stage 6: what listeners and podcast hosts get beside the MP3.

Captions (WebVTT with word timestamps, SRT), Podcasting 2.0 JSON chapters,
transcript and word-by-word transcript, an RSS feed and an accessible HTML
player page that highlights each word as it is spoken, all timed from the
real render; on request (EXTRAS) the read-aloud EPUB, the M4B audiobook and
the Opus file.  The M4B and Opus are encoded from the render's one master,
both at once and while the other files are written; the feed comes last, as
it lists the Opus file's size.
Each file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..art import Artwork
from ..errors import InputError, OutputError
from ..files import write_atomic
from ..show import SHOW_PAGE, Show, show_from_episode
from .captions import Cue, build_cues, chapters_vtt, to_srt, to_vtt
from .feed import FeedItem, build_feed
from .player import player_html
from .wordtiming import TimedWord, timed_words

log = logging.getLogger(__name__)

FORMATS = ("vtt", "srt", "chapters", "transcript", "words", "feed", "player")  # written unless skipped
EXTRAS = ("epub", "m4b", "opus")  # written on request (--epub, --m4b, --opus, --all)
ENCODED = ("m4b", "opus")  # from the master, which the render keeps for them (RenderOptions.encodes)
CHAPTERS_VERSION = "1.2.0"
TRANSCRIPT_VERSION = "1.0.0"


def chosen_formats(*, skip: Iterable[str] = (), no_sidecars: bool = False,
                   extras: Iterable[str] = ()) -> tuple[str, ...]:
    """What a render writes beside its MP3: the sidecars but *skip* (none with *no_sidecars*), and *extras*.

    Refused before anything is spoken: an unknown format, and the EPUB
    without the sidecars (it is one of them, published beside them).
    """
    skip, extras = list(skip), list(dict.fromkeys(extras))
    unknown = [f for f in skip if f not in FORMATS]
    if unknown:
        raise InputError(f"--skip takes one of {', '.join(FORMATS)}, not {unknown[0]!r}")
    if no_sidecars and "epub" in extras:
        raise InputError("--epub is a sidecar, written beside the others: it cannot go with --no-sidecars")
    sidecars = () if no_sidecars else tuple(f for f in FORMATS if f not in skip)
    return sidecars + tuple(f for f in EXTRAS if f in extras)


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
    opus = result.path.with_suffix(".opus")
    return FeedItem(slug=stem, title=meta.title, description=meta.description, date=meta.date,
                    author=meta.author, language=meta.language, mp3_name=result.path.name,
                    mp3_bytes=result.path.stat().st_size, duration_ms=result.duration_ms, number=meta.number,
                    image_name=image_name, page_name=page_name if "player" in formats else "",
                    vtt_name=f"{stem}.vtt" if "vtt" in formats else "",
                    srt_name=f"{stem}.srt" if "srt" in formats else "",
                    transcript_json_name=f"{stem}.transcript.json" if "transcript" in formats else "",
                    words_json_name=f"{stem}.words.json" if "words" in formats else "",
                    chapters_name=f"{stem}.chapters.json" if "chapters" in formats else "",
                    opus_name=opus.name if "opus" in formats else "",
                    opus_bytes=opus.stat().st_size if "opus" in formats else 0,
                    opus_kbps=result.episode.manifest.opus_bitrate_kbps if "opus" in formats else 0,
                    chapters=tuple((m.start_ms, m.title) for m in result.chapters))


def publish(result, *, formats: Iterable[str] = FORMATS, player_name: str = SHOW_PAGE,
            show: Show | None = None, show_href: str = "", cover: Artwork | None = None) -> list[Path]:
    """Write the sidecar files for a finished render; return their paths.

    The player page is *player_name* (a catalogue names it after the
    episode, its show page taking index.html) and links back to *show_href*.
    The one-item feed describes *show* (default: the one the episode's
    manifest implies), with *cover* written beside as its image.
    """
    formats = set(formats)
    unknown = formats - set(FORMATS + EXTRAS)
    if unknown:
        raise OutputError(f"unknown sidecar format {sorted(unknown)[0]!r} (known: {', '.join(FORMATS + EXTRAS)})")
    try:
        with ThreadPoolExecutor(max_workers=1 + len(ENCODED)) as pool:
            encoded = [fmt for fmt in ENCODED if fmt in formats]
            gain = pool.submit(_master_gain, result) if encoded else None
            encodes = [pool.submit(_encode, fmt, result, cover, gain) for fmt in encoded]
            written = _write_sidecars(result, formats, player_name, show, show_href, cover)
            written += [f.result() for f in encodes]
    finally:
        if result.master_pcm is not None:
            result.master_pcm.unlink(missing_ok=True)
    if "feed" in formats:  # last: it lists the Opus file's size
        show = show or show_from_episode(result.episode.metadata)
        cover_name = f"{result.path.stem}.{cover.extension}" if cover else ""
        if cover:
            written.append(write_atomic(result.path.parent / cover_name, cover.data))
        item = feed_item(result, formats, page_name=player_name)
        written.append(write_atomic(result.path.parent / "feed.xml",
                                    build_feed(show, [item], cover_name=cover_name)))
    log.info("wrote %d sidecar files beside %s", len(written), result.path)
    return written


def _master_gain(result) -> tuple[float, str]:
    """The gain every encode takes, and the master's digest (its encodes' cache key): computed once."""
    from ..files import file_digest
    from .encoders import EncodeStore, master_gain

    if result.master_pcm is None:
        raise OutputError("the render kept no master to encode from (RenderOptions.encodes)")
    man, store = result.episode.manifest, EncodeStore(result.encode_cache)
    digest = file_digest(result.master_pcm) if store.root else ""
    return master_gain(result.master_pcm, target_lufs=man.target_lufs, true_peak_dbtp=man.true_peak_dbtp,
                       store=store, digest=digest), digest


def _encode(fmt: str, result, cover: Artwork | None, gain: Future) -> Path:
    """The M4B or the Opus file beside the MP3, from the render's master (measured once, by *gain*)."""
    from .encoders import EncodeStore
    from .tag import episode_tags, transcript_lines

    episode, man = result.episode, result.episode.manifest
    tags = episode_tags(episode.metadata.title, episode.metadata, transcript_lines(episode.transcript_turns()),
                        result.chapters, None, cover)
    gain_db, digest = gain.result()
    targets = {"target_lufs": man.target_lufs, "true_peak_dbtp": man.true_peak_dbtp, "gain_db": gain_db,
               "store": EncodeStore(result.encode_cache), "master_digest": digest}
    if fmt == "m4b":
        from .m4b import write_m4b

        return write_m4b(result.master_pcm, result.path.with_suffix(".m4b"), tags,
                         bitrate_kbps=man.m4b_bitrate_kbps, **targets).path
    from .opus import write_opus

    return write_opus(result.master_pcm, result.path.with_suffix(".opus"), tags,
                      bitrate_kbps=man.opus_bitrate_kbps, **targets).path


def _write_sidecars(result, formats: set[str], player_name: str, show: Show | None, show_href: str,
                    cover: Artwork | None) -> list[Path]:
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
    if "epub" in formats:
        from .epub import write_epub

        show = show or show_from_episode(result.episode.metadata)
        written.append(write_epub(result, folder / f"{stem}.epub", identifier=f"urn:uuid:{show.item_guid(stem)}",
                                  cover=cover))
    return written
