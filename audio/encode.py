"""Stage 3c: signal -> constant-bit-rate MP3 through ffmpeg, and back.

CBR with a Xing/Info frame, because a VBR or header-less MP3 makes players
and taggers disagree on the duration, and so on where chapters are.  ffmpeg
writes no tags of its own (mutagen writes them next).
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from . import tools
from .errors import EncodeError

log = logging.getLogger(__name__)

OUTPUT_RATE_HZ = 44100


def encoder_args(bitrate_kbps: int) -> list[str]:
    """The encoder settings, shared with the benchmark's baseline."""
    return ["-ar", str(OUTPUT_RATE_HZ), "-ac", "1", "-c:a", "libmp3lame", "-b:a", f"{bitrate_kbps}k",
            "-write_xing", "1", "-id3v2_version", "0", "-write_id3v1", "0", "-f", "mp3"]


def encode_mp3(chunks: Iterable[np.ndarray], rate_hz: int, dest: Path, *, bitrate_kbps: int) -> None:
    """Encode float32 mono *chunks* to *dest* (overwritten), streaming.

    The chunks are written to ffmpeg while it encodes, so the caller's
    levelling and the encoder run on two cores at once.
    """
    argv = [tools.require("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "f32le", "-ar", str(rate_hz), "-ac", "1", "-i", "pipe:0",
            *encoder_args(bitrate_kbps), str(dest)]
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            for chunk in chunks:
                proc.stdin.write(np.ascontiguousarray(chunk, dtype="<f4").tobytes())
            proc.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg stopped reading: its exit code and message say why
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        code = proc.wait()
        if code != 0:
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise EncodeError(f"ffmpeg failed encoding MP3: {tail[0]}")


def decode_chunks(path: Path, rate_hz: int = OUTPUT_RATE_HZ, chunk_s: int = 30) -> Iterator[np.ndarray]:
    """Decode any audio file to float32 mono chunks while ffmpeg is still decoding."""
    argv = [tools.require("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
            "-f", "f32le", "-ac", "1", "-ar", str(rate_hz), "pipe:1"]
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors)
        try:
            while True:
                data = proc.stdout.read(4 * rate_hz * chunk_s)
                if not data:
                    break
                yield np.frombuffer(data[:len(data) // 4 * 4], dtype="<f4")
        finally:
            proc.stdout.close()
            code = proc.wait()
        if code != 0:
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise EncodeError(f"ffmpeg failed decoding {Path(path).name}: {tail[0]}")


def decode(path: Path, rate_hz: int = OUTPUT_RATE_HZ) -> np.ndarray:
    """Decode any audio file to float32 mono at *rate_hz*."""
    proc = tools.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
                      "-f", "f32le", "-ac", "1", "-ar", str(rate_hz), "pipe:1"],
                     what=f"decoding {Path(path).name}")
    return np.frombuffer(proc.stdout, dtype="<f4")
