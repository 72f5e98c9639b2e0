"""Chapters into and out of any MP3, without touching the audio.

Reads the two formats producers already have: mp3chaps' text
(``HH:MM:SS.mmm Title`` a line) and Podcasting 2.0 JSON chapters.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from ..assemble import ChapterMark
from ..errors import InputError, TagError
from .tag import check_chapters, mp3_duration_ms, read_tags, replace_chapters

_LINE = re.compile(r"^\s*(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d{1,3})?)\s+(.+?)\s*$")


def _ms(hours: str | None, minutes: str, seconds: str) -> int:
    return round((int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)) * 1000)


def parse_chapter_text(text: str, source: str = "chapters") -> list[tuple[int, int | None, str]]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise InputError(f"{source} line {n}: expected 'HH:MM:SS.mmm Title', got {line.strip()[:40]!r}")
        out.append((_ms(*match.group(1, 2, 3)), None, match.group(4)))
    return out


def parse_chapter_json(text: str, source: str = "chapters") -> list[tuple[int, int | None, str]]:
    try:
        data = json.loads(text)
        chapters = data["chapters"]
        return [(round(float(c["startTime"]) * 1000),
                 round(float(c["endTime"]) * 1000) if c.get("endTime") is not None else None,
                 str(c.get("title", f"Chapter {n + 1}"))) for n, c in enumerate(chapters)]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{source}: not Podcasting 2.0 JSON chapters ({exc})") from None


def load_chapter_file(path: Path) -> list[tuple[int, int | None, str]]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"chapters file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 (byte offset {exc.start})") from None
    entries = parse_chapter_json(text, str(path)) if text.lstrip().startswith("{") else parse_chapter_text(text, str(path))
    if not entries:
        raise InputError(f"{path}: no chapters in it")
    return entries


def to_marks(entries: list[tuple[int, int | None, str]], duration_ms: int) -> list[ChapterMark]:
    """Fill in missing ends (the next start; the last ends with the audio), then check."""
    for prev, cur in zip(entries, entries[1:]):
        if cur[0] < prev[0]:
            raise TagError(f"chapters out of order: {cur[2]!r} starts before {prev[2]!r}")
    marks = []
    for n, (start, end, title) in enumerate(entries):
        following = entries[n + 1][0] if n + 1 < len(entries) else duration_ms
        marks.append(ChapterMark(index=n, element_id=f"chp{n}", title=title, start_ms=start,
                                 end_ms=end if end is not None else following))
    check_chapters(marks, duration_ms)
    if marks[-1].end_ms > duration_ms:
        raise TagError(f"chapter {marks[-1].title!r} ends at {marks[-1].end_ms} ms, past the end ({duration_ms} ms)")
    return marks


def _rewrite_atomically(path: Path, edit) -> None:
    """Edit a copy beside *path*, then rename it over *path*."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        shutil.copy2(path, tmp)
        edit(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def set_chapters(path: Path, chapter_file: Path) -> list[ChapterMark]:
    """Replace *path*'s chapters with those in *chapter_file*; keep every other tag."""
    path = Path(path)
    duration = mp3_duration_ms(path)
    marks = to_marks(load_chapter_file(chapter_file), duration)
    existing = read_tags(path)
    version = existing.version[1] if existing is not None and existing.version[1] in (3, 4) else 3
    title = str(existing["TIT2"].text[0]) if existing is not None and "TIT2" in existing else "Chapters"
    _rewrite_atomically(path, lambda p: replace_chapters(p, marks, toc_title=title, id3_version=version))
    return marks


def remove_chapters(path: Path) -> int:
    """Remove all chapters; return how many there were."""
    path = Path(path)
    mp3_duration_ms(path)
    existing = read_tags(path)
    count = len(existing.getall("CHAP")) if existing is not None else 0
    if count or (existing is not None and existing.getall("CTOC")):
        version = existing.version[1] if existing.version[1] in (3, 4) else 3
        _rewrite_atomically(path, lambda p: replace_chapters(p, [], toc_title="", id3_version=version))
    return count
