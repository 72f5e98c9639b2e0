"""Stage 0: everything the transcript and manifest tell, checked before the first sentence is spoken.

Speech is the long part of a render (a 300-question quiz spoke and
mastered for 69 s before its chapters were refused); what can be known
without it is checked first: the tools, the voices, the title, the
chapters, the cover art and where the MP3 goes.  Nothing here starts an
engine.

More than 255 chapters, the most one ID3 table of contents (CTOC) lists,
are nested: a top-level CTOC whose children are CTOCs of at most 255
chapters each, as the ID3 chapter addendum allows.  Players read the CHAP
frames, which are all there either way.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from . import tools
from .errors import InputError, OutputError, TagError

if TYPE_CHECKING:
    from .episode import Episode
    from .render import RenderOptions

MAX_CTOC_CHILDREN = 255  # a CTOC's entry count is one byte
MAX_CHAPTERS = MAX_CTOC_CHILDREN * MAX_CTOC_CHILDREN  # one level of nesting


def chapter_tables(count: int) -> int:
    """How many nested tables of contents *count* chapters need under the top-level one (0: none)."""
    return 0 if count <= MAX_CTOC_CHILDREN else math.ceil(count / MAX_CTOC_CHILDREN)


def chapter_groups(count: int) -> list[range]:
    """Chapter indexes per nested table, as even as can be (300: 150 and 150, not 255 and 45)."""
    tables = chapter_tables(count)
    if not tables:
        return [range(count)]
    size, extra = divmod(count, tables)
    groups, start = [], 0
    for n in range(tables):
        end = start + size + (n < extra)
        groups.append(range(start, end))
        start = end
    return groups


def check_chapter_count(count: int) -> None:
    if count > MAX_CHAPTERS:
        raise TagError(f"{count} chapters: an MP3's tables of contents hold at most {MAX_CHAPTERS} "
                       f"({MAX_CTOC_CHILDREN} tables of {MAX_CTOC_CHILDREN})")


def chapter_warning(count: int) -> str | None:
    """The one line saying that chapters are nested, or None."""
    tables = chapter_tables(count)
    if not tables or count > MAX_CHAPTERS:
        return None
    return (f"{count} chapters are more than one ID3 table of contents lists ({MAX_CTOC_CHILDREN}): "
            f"they are nested in {tables} tables under the top-level one (every chapter is still a CHAP frame)")


def precheck(episode: Episode, dest: Path, options: RenderOptions) -> None:
    """Refuse, before any speech, what would fail after it."""
    dest = Path(dest)
    if dest.is_dir():
        raise OutputError(f"{dest} is a folder; give an .mp3 file name")
    _check_folder(dest.parent)
    tools.require("ffmpeg")
    tools.require("ffprobe")
    if options.encodes:
        from .outputs.encoders import check_encoders

        check_encoders(options.encodes)
    episode.check_voices()  # each engine checks what it needs: espeak-ng, its package, its model
    meta = episode.metadata
    if not meta.title.strip():
        raise InputError(f"{episode.source}: the episode has no title (give [episode] title)")
    if not any(t.sentences for t in episode.turns):
        raise InputError(f"{episode.source}: nothing to speak")
    check_chapter_count(len(episode.chapters))
    turns = len(episode.turns)
    for chapter in episode.chapters:
        if not 0 <= chapter.turn_index < turns:
            raise InputError(f"chapter {chapter.index + 1} ({chapter.title!r}) starts at turn {chapter.turn_index + 1} "
                             f"of {turns}")
    if meta.image and options.cover is None and not Path(meta.image).is_file():
        raise InputError(f"cover art not found: {meta.image}")
    if episode.manifest.sound is not None:  # every music file decoded through, every cue given its sound
        from .sound.plan import layout

        layout(episode)


def _check_folder(folder: Path) -> None:
    """*folder* exists and takes new files, or can be made: the nearest existing parent is a writable folder."""
    probe = Path(folder)
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OutputError(f"cannot write to {folder}: {probe} is a file, not a folder")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to {folder}: permission denied")
