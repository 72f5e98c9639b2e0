"""Music files as the render's samples: decoded by FFmpeg (PyAV), mono, at the speech's rate.

Anything FFmpeg decodes is taken (WAV, FLAC, MP3, Ogg Vorbis and Opus,
M4A): its first audio stream is mixed down to mono by FFmpeg's own
rematrixing and then brought to the episode's rate with the band-limited
resampler clips of different engines are joined with
(:func:`audio.engines.clip.resampled`).  A file at another rate or with
other channels is converted, never refused.

:func:`probe` reads a file through once, keeping nothing, so that a render
refuses a missing, undecodable or silent file before any speech.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Probe:
    seconds: float
    rate_hz: int
    channels: int


def _frames(path: Path):
    """Decoded frames of *path*'s first audio stream as float32 mono at its own rate, and that rate.

    Its refusals name the file, not the use: the caller says which key of the table it is.
    """
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"{path} is not audio FFmpeg can decode ({_reason(exc)})") from None
    with container:
        if not container.streams.audio:
            raise InputError(f"{path} has no audio stream")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.rate
        channels = stream.codec_context.channels
        down = av.AudioResampler(format="flt", layout="mono", rate=rate)
        try:
            for frame in container.decode(stream):
                for out in down.resample(frame):
                    yield out.to_ndarray().reshape(-1), rate, channels
            for out in down.resample(None):
                yield out.to_ndarray().reshape(-1), rate, channels
        except (av.FFmpegError, ValueError) as exc:
            raise InputError(f"{path} is not audio FFmpeg can decode ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    return (getattr(exc, "strerror", None) or str(exc).split(":")[0] or type(exc).__name__).strip()


def probe(path: Path, where: str) -> Probe:
    """How long *path* lasts, decoded through to its end; refused if missing, undecodable, empty or silent.

    Cached per file version, whatever it is used for: a render probes in its check before speech
    and again to lay the sound out, and one file may be the intro and the outro.
    """
    if not Path(path).is_file():
        raise InputError(f"{where}: music file not found: {path}")
    stat = os.stat(path)
    try:
        return _probed(str(path), stat.st_mtime_ns, stat.st_size)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


@functools.lru_cache(maxsize=64)
def _probed(path: str, _mtime_ns: int, _size: int) -> Probe:
    samples, peak, rate, channels = 0, 0.0, 0, 0
    for chunk, rate, channels in _frames(Path(path)):
        samples += len(chunk)
        if len(chunk):
            peak = max(peak, float(np.abs(chunk).max()))
    if not samples:
        raise InputError(f"{path} is not audio FFmpeg can decode (nothing in it decodes)")
    if peak == 0.0:
        raise InputError(f"{path} is silent")
    return Probe(samples / rate, rate, channels)


def decode(path: Path, rate_hz: int) -> np.ndarray:
    """*path* as float32 mono at *rate_hz*.  The same file at the same rate is decoded once per process
    (:func:`probe` has refused what cannot be)."""
    stat = os.stat(path)
    return _decoded(str(path), stat.st_mtime_ns, stat.st_size, rate_hz)


@functools.lru_cache(maxsize=8)
def _decoded(path: str, _mtime_ns: int, _size: int, rate_hz: int) -> np.ndarray:
    from ..engines.clip import resampled

    chunks, native = [], rate_hz
    for chunk, native, _channels in _frames(Path(path)):
        chunks.append(chunk)
    mono = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    out = resampled(mono, native, rate_hz)
    out.setflags(write=False)  # shared between uses: an intro and an outro of one file
    log.info("music %s: %.1f s at %d Hz -> %d Hz", Path(path).name, len(mono) / native, native, rate_hz)
    return out
