"""Stage 4: OUT.opus, the episode in Ogg Opus, an alternate enclosure for players that take it.

libopus from the render's master (see ``encoders``), checked decoded
against the MP3's loudness targets.  Tags are Vorbis comments, written with
mutagen: chapters in the convention players read (``CHAPTER000=00:00:00.000``,
``CHAPTER000NAME=Title``; milliseconds always in three digits, as VLC parses
them) and the cover as a FLAC picture block (``METADATA_BLOCK_PICTURE``).
Apple Podcasts takes only MP3 and AAC enclosures, so the feed lists this one
as a ``podcast:alternateEnclosure`` and keeps the MP3 as its enclosure.
Muxed bit-exact (the Ogg stream's serial number is otherwise random), so
that the same master gives the same file.
"""

from __future__ import annotations

import base64
import shutil
from dataclasses import replace
from pathlib import Path

from mutagen import MutagenError
from mutagen.flac import Picture
from mutagen.id3 import PictureType
from mutagen.oggopus import OggOpus

from ..errors import TagError
from ..files import replacing
from .encoders import Codec, EncodeStore, Encoded, encoded_master
# the Vorbis-comment chapter convention writes a start as Podlove Simple Chapters does: HH:MM:SS.mmm
from .feed import normal_play_time
from .tag import EpisodeTags

MIME = "audio/ogg; codecs=opus"


# libopus's complexity 7 and above cost 3.6x the time of 5 on the seed (5.5 s against 1.5 s for 6 min,
# here) for speech that judges cannot tell apart: DNSMOS P.808 4.27 at 10 against 4.29 at 5,
# Distill-MOS 4.66 against 4.63 (the master: 4.31, 4.68).  At 5 plain VBR overshoots the bitrate
# by a fifth; constrained VBR keeps to it (2.22 MB against 2.20 at 10).
OPUS = Codec("opus", "libopus", ("-compression_level", "5", "-vbr", "constrained"), "opus", ".opus", "Opus file")


def vorbis_comments(tags: EpisodeTags) -> list[tuple[str, str]]:
    """The file's comments, in order: the episode's, then CHAPTERnnn and CHAPTERnnnNAME per chapter."""
    out = [(k, v) for k, v in (("TITLE", tags.title), ("ARTIST", tags.artist), ("ALBUM", tags.album),
                                ("DATE", tags.date), ("GENRE", "Podcast"), ("LANGUAGE", tags.language),
                                ("DESCRIPTION", tags.description), ("LYRICS", tags.transcript)) if v]
    for n, m in enumerate(tags.chapters):
        out += [(f"CHAPTER{n:03d}", normal_play_time(m.start_ms)), (f"CHAPTER{n:03d}NAME", m.title)]
    if tags.cover is not None:
        pic = Picture()
        pic.type, pic.mime, pic.desc = PictureType.COVER_FRONT, tags.cover.mime, "Cover"
        pic.width = pic.height = tags.cover.side_px
        pic.depth, pic.data = 24, tags.cover.data
        out.append(("METADATA_BLOCK_PICTURE", base64.b64encode(pic.write()).decode("ascii")))
    return out


def write_opus(master: Path, dest: Path, tags: EpisodeTags, *, bitrate_kbps: int, target_lufs: float,
               true_peak_dbtp: float, gain_db: float = 0.0, store: EncodeStore | None = None,
               master_digest: str = "") -> Encoded:
    """Encode the master WAV, *gain_db* louder, to *dest* (replaced atomically), with tags, chapters and cover.

    The Opus stream is encoded untagged (or taken from *store*, by the
    master's digest and the settings), then copied and tagged.
    """
    dest, store = Path(dest), store or EncodeStore(None)
    with encoded_master(master, OPUS, store, bitrate_kbps=bitrate_kbps, target_lufs=target_lufs,
                        true_peak_dbtp=true_peak_dbtp, gain_db=gain_db, master_digest=master_digest) as made, \
            replacing(dest, ".part.opus") as part:
        shutil.copyfile(made.path, part)
        try:
            audio = OggOpus(str(part))
            audio.tags.clear()  # ffmpeg's encoder tag
            for key, value in vorbis_comments(tags):
                audio.tags.append((key, value))
            audio.save()
        except MutagenError as exc:
            raise TagError(f"cannot tag {dest.name}: {exc}") from None
    return replace(made, path=dest)
