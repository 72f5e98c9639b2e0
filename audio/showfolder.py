"""A show's folder on disk, as audio.batch keeps it: what an episode's files depend on, one
batch at a time, no temporary file left by a killed run, and files rewritten only when changed.

``DIR/.episode-batch/`` holds the lock, each finished episode's state and
the work folders of the episodes being rendered.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .art import Artwork
from .episode import Episode
from .errors import OutputError
from .files import write_atomic
from .show import Show
from .sound.settings import fingerprint
from .speak import engines_fingerprint

STATE_DIR = ".episode-batch"
BATCH_FORMAT = 1  # bump when what a render writes changes: every episode is rendered again
RESERVED = {"index", "feed", "cover"}  # slugs whose files would be the show's own


@dataclass(frozen=True)
class Source:
    """One episode of a catalogue: its transcript, its manifest beside it, and the name its files take."""

    transcript: Path
    manifest: Path | None
    slug: str


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def episode_key(source: Source, episode: Episode, show: Show, cover: Artwork, id3_version: int,
                formats: tuple[str, ...] = ()) -> str:
    """What the episode's files depend on, as one hash (*formats*: the files written beside its MP3)."""
    manifest = source.manifest.read_bytes() if source.manifest else b""
    return _digest(json.dumps({
        "format": BATCH_FORMAT, "slug": source.slug, "id3": id3_version, "files": list(formats),
        "transcript": _digest(source.transcript.read_bytes()), "manifest": _digest(manifest),
        "show": [show.title, show.author], "cover": cover.digest,
        "engines": engines_fingerprint([s.voice for s in episode.manifest.speakers]),
        # the music and its files (a show's [show.sound] is in no episode's manifest); none: the key as before
        **({"sound": fingerprint(episode.manifest.sound)} if episode.manifest.sound else {}),
    }).encode())


_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?:[a-z0-9_]{8}|[a-z0-9_]{8}\.part\.mp3)")


def sweep(out: Path, slugs: set[str]) -> None:
    """Remove the temporary files a killed run left (write_atomic's and the render's), ours only."""
    for path in out.iterdir():
        m = _TEMPORARY.fullmatch(path.name)
        if m and path.is_file() and (m["name"].split(".")[0] in slugs | RESERVED):
            path.unlink(missing_ok=True)


def write_if_changed(dest: Path, data: bytes) -> bool:
    """Write *dest* only when its bytes change, so an unchanged file keeps its mtime."""
    with contextlib.suppress(OSError):
        if dest.read_bytes() == data:
            return False
    write_atomic(dest, data)
    return True


@contextlib.contextmanager
def locked(folder: Path):
    """One batch at a time writes a show's folder."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fh = open(folder / "lock", "a+b")
    except OSError as exc:
        raise OutputError(f"cannot write to {folder.parent}: {exc.strerror}") from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(f"another batch is writing {folder.parent}") from None
        yield
