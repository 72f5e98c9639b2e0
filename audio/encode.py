"""Stage 3c: signal -> constant-bit-rate MP3 through ffmpeg, and back.

CBR with a Xing/Info frame, because a VBR or header-less MP3 makes players
and taggers disagree on the duration, and so on where chapters are.  ffmpeg
writes no tags of its own (mutagen writes them next).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from . import tools

log = logging.getLogger(__name__)

OUTPUT_RATE_HZ = 44100


def encoder_args(bitrate_kbps: int) -> list[str]:
    """The encoder settings, shared with the benchmark's baseline."""
    return ["-ar", str(OUTPUT_RATE_HZ), "-ac", "1", "-c:a", "libmp3lame", "-b:a", f"{bitrate_kbps}k",
            "-write_xing", "1", "-id3v2_version", "0", "-write_id3v1", "0", "-f", "mp3"]


def encode_mp3(samples: np.ndarray, rate_hz: int, dest: Path, *, bitrate_kbps: int) -> None:
    """Encode float32 mono *samples* to *dest* (overwritten)."""
    pcm = np.ascontiguousarray(samples, dtype="<f4").tobytes()
    tools.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
               "-f", "f32le", "-ar", str(rate_hz), "-ac", "1", "-i", "pipe:0",
               *encoder_args(bitrate_kbps), str(dest)],
              input_bytes=pcm, what="encoding MP3")


def decode(path: Path, rate_hz: int = OUTPUT_RATE_HZ) -> np.ndarray:
    """Decode any audio file to float32 mono at *rate_hz*."""
    proc = tools.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
                      "-f", "f32le", "-ac", "1", "-ar", str(rate_hz), "pipe:1"],
                     what=f"decoding {Path(path).name}")
    return np.frombuffer(proc.stdout, dtype="<f4")
