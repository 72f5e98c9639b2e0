"""Stage 4: OUT.m4b, the episode as an audiobook: AAC in MP4 with chapters and cover art.

What audiobook players read (Apple Books, Audiobookshelf, VLC, AntennaPod).
FFmpeg's native AAC encoder, from the render's master, not the MP3 (see
``encoders``); checked on the decoded file against the MP3's loudness
targets.  Chapters go in both of MP4's chapter formats, which FFmpeg's MP4
muxer writes by default from an ffmetadata file: a QuickTime chapter text
track (Apple's players) and Nero's ``chpl`` atom (AntennaPod and some
audiobook apps read only that; VLC prefers it).  Nero's holds at most 255
chapters, so past that players reading only Nero lose the rest: the render
says so in one line.  The cover is the MP4's attached picture (``covr``).
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from ..errors import TagError
from ..files import replacing
from .encoders import Codec, EncodeStore, Encoded, encoded_master, ffmetadata, run_ffmpeg
from .tag import EpisodeTags, ffprobe_chapters

NERO_MAX_CHAPTERS = 255  # chpl's chapter count is one byte
MEDIA_TYPE_AUDIOBOOK = "2"  # iTunes' stik


# FFmpeg's AAC "twoloop" coder (its default) took 3.2x the time of "fast" on the seed (3.6 s against
# 1.1 s for 6 min, here) for no judged gain: DNSMOS P.808 4.30 against 4.31, Distill-MOS 4.62
# against 4.66 (the master: 4.31, 4.68).
AAC = Codec("m4b", "aac", ("-aac_coder", "fast"), "mp4", ".m4a", "M4B")


def chapter_warning(count: int) -> str | None:
    """The one line saying that Nero chapters stop at 255, or None."""
    if count <= NERO_MAX_CHAPTERS:
        return None
    return (f"{count} chapters: the M4B's Nero chapter list holds {NERO_MAX_CHAPTERS}, so players that read "
            f"only Nero chapters (AntennaPod, VLC) list the first {NERO_MAX_CHAPTERS}; the QuickTime chapter "
            "track has them all")


def mp4_tags(tags: EpisodeTags) -> dict[str, str]:
    """The MP4 tags (as FFmpeg names them: title is ©nam, artist ©ART, lyrics ©lyr, media_type stik...)."""
    return {"title": tags.title, "artist": tags.artist, "album_artist": tags.artist, "album": tags.album,
            "date": tags.date, "comment": tags.description, "description": tags.description,
            "genre": "Audiobook", "lyrics": tags.transcript, "media_type": MEDIA_TYPE_AUDIOBOOK}


def write_m4b(master: Path, dest: Path, tags: EpisodeTags, *, bitrate_kbps: int, target_lufs: float,
              true_peak_dbtp: float, gain_db: float = 0.0, store: EncodeStore | None = None,
              master_digest: str = "") -> Encoded:
    """Encode the master WAV, *gain_db* louder, to *dest* (replaced atomically), with tags, chapters and cover.

    The AAC is encoded on its own (or taken from *store*, by the master's
    digest and the settings), then muxed with the tags, chapters and cover
    without encoding again.
    """
    dest, store = Path(dest), store or EncodeStore(None)
    with encoded_master(master, AAC, store, bitrate_kbps=bitrate_kbps, target_lufs=target_lufs,
                        true_peak_dbtp=true_peak_dbtp, gain_db=gain_db, master_digest=master_digest) as made, \
            tempfile.TemporaryDirectory(prefix="episode-m4b-") as tmp, replacing(dest, ".part.m4b") as part:
        meta = Path(tmp, "metadata.txt")
        meta.write_text(ffmetadata(mp4_tags(tags), tags.chapters), encoding="utf-8")
        inputs = ["-i", str(made.path), "-i", str(meta)]
        maps = ["-map", "0:a", "-map_metadata", "1", "-map_chapters", "1"]
        picture: list[str] = []
        if tags.cover is not None:
            cover = Path(tmp, f"cover.{tags.cover.extension}")
            cover.write_bytes(tags.cover.data)
            inputs += ["-i", str(cover)]
            maps += ["-map", "2:v"]
            picture = ["-c:v", "copy", "-disposition:v:0", "attached_pic"]
        run_ffmpeg([*inputs, *maps, "-c:a", "copy", *picture, "-movflags", "+faststart",
                    "-fflags", "+bitexact", "-f", "ipod", str(part)],
                   "writing the M4B's tags and chapters")
        _check_chapters(part, tags)
    return replace(made, path=dest)


def _check_chapters(path: Path, tags: EpisodeTags) -> None:
    """ffprobe (an independent reader) must see the MP3's chapters, to the millisecond."""
    want = [(m.start_ms, m.end_ms, m.title) for m in tags.chapters]
    got = [(c["start_ms"], c["end_ms"], c["title"]) for c in ffprobe_chapters(path)]
    if got != want:
        diff = next(((g, w) for g, w in zip(got + [None] * len(want), want) if g != w), (got, want))
        raise TagError(f"ffprobe reads different chapters in the M4B than the MP3's: {diff[0]} for {diff[1]}")
