"""Stage 4: ID3 tags, the transcript and chapters (CHAP + CTOC) with mutagen.

Follows the ID3v2 Chapter Frame Addendum 1.0: one CHAP per chapter with a
TIT2 sub-frame and byte offsets 0xFFFFFFFF ("use the times"), and one
top-level, ordered CTOC listing them, with its own TIT2 (Apple hides
chapters without it).  v2.3 by default: v2.4 with long titles broke Apple
Podcasts' chapters.  No extended header (AntennaPod once choked on it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mutagen import MutagenError
from mutagen.id3 import (
    APIC,
    CHAP,
    COMM,
    CTOC,
    ID3,
    TALB,
    TCON,
    TDRC,
    TIT2,
    TLAN,
    TPE1,
    TXXX,
    USLT,
    CTOCFlags,
    Encoding,
    ID3NoHeaderError,
    PictureType,
)
from mutagen.mp3 import MP3

from .. import tools
from ..art import Artwork
from ..assemble import ChapterMark
from ..errors import InputError, TagError
from ..manifest import Metadata
from ..precheck import chapter_groups, check_chapter_count

log = logging.getLogger(__name__)

NO_OFFSET = 0xFFFFFFFF
TOC_ID = "toc"
TIMELINE_DESC = "EPISODE_TIMELINE"  # TXXX: turn start times, for `episode verify`


@dataclass(frozen=True)
class EpisodeTags:
    title: str
    artist: str
    album: str
    date: str
    language: str
    description: str
    transcript: str
    chapters: tuple[ChapterMark, ...]
    timeline: dict | None = None  # {"turn_start_ms": [...], "chapter_turns": [...]}
    cover: Artwork | None = None  # the APIC front cover


def transcript_lines(turns: Sequence[tuple[str, str]]) -> str:
    """``Speaker: text`` lines, one per turn, as USLT carries them."""
    return "\n".join(f"{name}: {text}" for name, text in turns)


def check_chapters(chapters: Sequence[ChapterMark], duration_ms: int | None = None) -> None:
    """Refuse chapters that players would mis-show."""
    check_chapter_count(len(chapters))
    for prev, cur in zip(chapters, chapters[1:]):
        if cur.start_ms < prev.start_ms:
            raise TagError(f"chapters out of order: {cur.title!r} starts before {prev.title!r}")
        if cur.start_ms < prev.end_ms:
            raise TagError(f"chapters overlap: {prev.title!r} ends after {cur.title!r} starts")
    for ch in chapters:
        if duration_ms is not None and ch.start_ms >= duration_ms:
            raise TagError(f"chapter {ch.title!r} starts at {ch.start_ms} ms, past the end ({duration_ms} ms)")
        if ch.end_ms < ch.start_ms:
            raise TagError(f"chapter {ch.title!r} ends before it starts")


def mp3_duration_ms(path: Path) -> int:
    try:
        return round(MP3(str(path)).info.length * 1000)
    except MutagenError as exc:
        raise InputError(f"{path} is not a readable MP3: {exc}") from None


def _add_chapters(tags: ID3, chapters: Sequence[ChapterMark], toc_title: str, enc: Encoding) -> None:
    for ch in sorted(chapters, key=lambda c: c.start_ms):
        tags.add(CHAP(element_id=ch.element_id, start_time=ch.start_ms, end_time=ch.end_ms,
                      start_offset=NO_OFFSET, end_offset=NO_OFFSET,
                      sub_frames=[TIT2(encoding=enc, text=[ch.title])]))
    ids = [c.element_id for c in chapters]
    groups = chapter_groups(len(ids))
    if len(groups) > 1:  # more than one CTOC lists: the top-level one lists CTOCs of at most 255 each
        for n, group in enumerate(groups, start=1):
            tags.add(CTOC(element_id=f"{TOC_ID}{n}", flags=CTOCFlags.ORDERED,
                          child_element_ids=[ids[i] for i in group],
                          sub_frames=[TIT2(encoding=enc, text=[f"Chapters {group.start + 1}-{group.stop}"])]))
        ids = [f"{TOC_ID}{n}" for n in range(1, len(groups) + 1)]
    tags.add(CTOC(element_id=TOC_ID, flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED, child_element_ids=ids,
                  sub_frames=[TIT2(encoding=enc, text=[toc_title])]))


def write_tags(path: Path, tags_in: EpisodeTags, *, id3_version: int = 3) -> None:
    """Replace *path*'s ID3 tag with the episode's tags and chapters."""
    if id3_version not in (3, 4):
        raise TagError(f"ID3v2 version must be 3 or 4, not {id3_version}")
    check_chapters(tags_in.chapters)
    # v2.3 has no UTF-8; mutagen would convert, but say what we mean.
    enc = Encoding.UTF16 if id3_version == 3 else Encoding.UTF8
    tags = ID3()
    tags.add(TIT2(encoding=enc, text=[tags_in.title]))
    tags.add(TPE1(encoding=enc, text=[tags_in.artist]))
    tags.add(TALB(encoding=enc, text=[tags_in.album]))
    tags.add(TDRC(encoding=enc, text=[tags_in.date]))
    tags.add(TCON(encoding=enc, text=["Podcast"]))
    tags.add(TLAN(encoding=enc, text=[tags_in.language]))
    if tags_in.description:
        tags.add(COMM(encoding=enc, lang=tags_in.language, desc="", text=[tags_in.description]))
    tags.add(USLT(encoding=enc, lang=tags_in.language, desc="transcript", text=tags_in.transcript))
    if tags_in.timeline:
        tags.add(TXXX(encoding=Encoding.LATIN1, desc=TIMELINE_DESC,
                      text=[json.dumps(tags_in.timeline, separators=(",", ":"))]))
    if tags_in.cover is not None:
        # Latin-1 description: every reader takes it, in v2.3 and v2.4 alike.
        tags.add(APIC(encoding=Encoding.LATIN1, mime=tags_in.cover.mime, type=PictureType.COVER_FRONT,
                      desc="Cover", data=tags_in.cover.data))
    if tags_in.chapters:
        _add_chapters(tags, tags_in.chapters, tags_in.title, enc)
    if id3_version == 3:
        _to_v23(tags)
    try:
        tags.save(str(path), v2_version=id3_version, v23_sep="/", padding=lambda info: 1024)
    except MutagenError as exc:
        raise TagError(f"cannot write tags to {path}: {exc}") from None
    _order_chap_frames(Path(path))


def _to_v23(tags: ID3) -> None:
    """v2.4 frames to v2.3 (mutagen leaves this to the caller), without TDAT.

    TDAT is "DDMM" by the v2.3 standard, but ExifTool reads it as MMDD
    (12 January became 1 December): with TYER alone every reader agrees.
    """
    tags.update_to_v23()
    tags.delall("TDAT")


def _order_chap_frames(path: Path) -> None:
    """Put CHAP frames in ascending start order in the file.

    mutagen sorts frames by size on save, so CHAP frames come out in title
    length order, and some readers (ffprobe among them) list chapters in
    file order.  The tag's frames are permuted in place: same bytes, same
    length, CHAP frames moved into start order among their own slots.
    """
    with open(path, "r+b") as fh:
        header = fh.read(10)
        if header[:3] != b"ID3":
            raise TagError(f"{path}: no ID3 tag after writing")
        version, flags = header[3], header[5]
        if flags & 0xC0:  # unsynchronised or extended header: we never write those
            raise TagError(f"{path}: unexpected ID3 header flags 0x{flags:02x}")
        size = _syncsafe(header[6:10])
        body = fh.read(size)
        frames: list[bytes] = []
        pos = 0
        while pos + 10 <= len(body) and body[pos] != 0:
            raw = body[pos + 4:pos + 8]
            frame_size = _syncsafe(raw) if version == 4 else int.from_bytes(raw, "big")
            frames.append(body[pos:pos + 10 + frame_size])
            pos += 10 + frame_size
        chaps = [f for f in frames if f[:4] == b"CHAP"]

        def start_time(frame: bytes) -> int:
            end_of_id = frame.index(b"\x00", 10)
            return int.from_bytes(frame[end_of_id + 1:end_of_id + 5], "big")
        ordered = iter(sorted(chaps, key=start_time))
        frames = [next(ordered) if f[:4] == b"CHAP" else f for f in frames]
        fh.seek(10)
        fh.write(b"".join(frames))


def _syncsafe(raw: bytes) -> int:
    return (raw[0] << 21) | (raw[1] << 14) | (raw[2] << 7) | raw[3]


def replace_chapters(path: Path, chapters: Sequence[ChapterMark], *, toc_title: str,
                     id3_version: int = 3) -> None:
    """Swap *path*'s CHAP/CTOC frames for *chapters*, keeping every other frame."""
    check_chapters(chapters)
    tags = read_tags(path) or ID3()
    tags.delall("CHAP")
    tags.delall("CTOC")
    if chapters:
        enc = Encoding.UTF16 if id3_version == 3 else Encoding.UTF8
        _add_chapters(tags, chapters, toc_title, enc)
    for frame in tags.getall("TXXX"):
        if frame.desc == TIMELINE_DESC:  # its chapter-to-turn map no longer holds
            try:
                timeline = json.loads(frame.text[0])
                timeline.pop("chapter_turns", None)
                frame.text = [json.dumps(timeline, separators=(",", ":"))]
            except (ValueError, IndexError, AttributeError):
                tags.delall(f"TXXX:{TIMELINE_DESC}")
    if id3_version == 3:
        _to_v23(tags)
    try:
        tags.save(str(path), v2_version=id3_version, v23_sep="/")
    except MutagenError as exc:
        raise TagError(f"cannot write tags to {path}: {exc}") from None
    _order_chap_frames(Path(path))


def episode_tags(title: str, metadata: Metadata, transcript: str,
                 chapters: Sequence[ChapterMark], timeline: dict | None = None,
                 cover: Artwork | None = None) -> EpisodeTags:
    return EpisodeTags(title=title, artist=metadata.author or metadata.show, album=metadata.show,
                       date=metadata.date, language=metadata.language3,
                       description=metadata.description, transcript=transcript,
                       chapters=tuple(chapters), timeline=timeline, cover=cover)


def read_tags(path: Path) -> ID3 | None:
    try:
        return ID3(str(path))
    except ID3NoHeaderError:
        return None
    except FileNotFoundError:
        raise InputError(f"file not found: {path}") from None
    except MutagenError as exc:
        raise InputError(f"{path}: cannot read ID3 tags: {exc}") from None


def read_chapters(path: Path) -> tuple[ChapterMark, ...]:
    """Chapters in table-of-contents order (else by start time)."""
    tags = read_tags(path)
    if tags is None:
        return ()
    chaps = {f.element_id: f for f in tags.getall("CHAP")}
    tocs = {f.element_id: f for f in tags.getall("CTOC")}
    order = list(chaps)
    top = next((toc for toc in tocs.values() if toc.flags & CTOCFlags.TOP_LEVEL), None)
    if top is not None:
        order = _toc_order(top, chaps, tocs, set())
    else:
        order.sort(key=lambda cid: chaps[cid].start_time)
    out = []
    for n, cid in enumerate(order):
        frame = chaps[cid]
        title_frames = [f for f in frame.sub_frames.values() if f.FrameID == "TIT2"]
        title = str(title_frames[0].text[0]) if title_frames else cid
        out.append(ChapterMark(index=n, element_id=cid, title=title,
                               start_ms=frame.start_time, end_ms=frame.end_time))
    return tuple(out)


def _toc_order(toc: CTOC, chaps: dict, tocs: dict, seen: set[str]) -> list[str]:
    """The chapter ids a table of contents lists, its nested tables' in their place (a loop is read once)."""
    seen.add(toc.element_id)
    order = []
    for cid in toc.child_element_ids:
        if cid in chaps:
            order.append(cid)
        elif cid in tocs and cid not in seen:
            order += _toc_order(tocs[cid], chaps, tocs, seen)
    return order


def read_transcript(path: Path) -> str | None:
    """The USLT transcript the episode carries, if any."""
    tags = read_tags(path)
    if tags is None:
        return None
    frames = tags.getall("USLT")
    return str(frames[0].text) if frames else None


def read_timeline(path: Path) -> dict | None:
    """The render's timeline, if this file was made by `episode render`."""
    tags = read_tags(path)
    if tags is None:
        return None
    for frame in tags.getall("TXXX"):
        if frame.desc == TIMELINE_DESC:
            try:
                return json.loads(frame.text[0])
            except (ValueError, IndexError):
                log.warning("%s: unreadable %s tag ignored", path, TIMELINE_DESC)
    return None


def ffprobe_chapters(path: Path) -> list[dict]:
    """Chapters as ffprobe (an independent reader) sees them: start/end in ms, title."""
    proc = tools.run(["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(path)],
                     what="reading chapters")
    chapters = json.loads(proc.stdout or b"{}").get("chapters", [])
    return [{"start_ms": round(float(c["start_time"]) * 1000), "end_ms": round(float(c["end_time"]) * 1000),
             "title": c.get("tags", {}).get("title", "")} for c in chapters]
