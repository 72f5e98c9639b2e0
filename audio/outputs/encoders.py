"""What the M4B and Opus deliverables share: FFmpeg's encoders, chapters as FFmpeg takes them, the loudness check.

Both are encoded from the render's master (``master_turns(pcm=...)``: the
levelled samples laid out on the MP3's own timeline), never from the MP3,
so that they are one lossy generation from speech and keep the MP3's
chapter times.  The master is levelled for the MP3 encoder, which takes
about 0.45 LU away; AAC and Opus keep nearly all of it, so the master is
measured once and each encode given the gain that brings it to the target
(:func:`master_gain`).  Their loudness is then checked as the MP3's is, on
the decoded file, and a file that misses is encoded once more with the gain
corrected (quieter, when the encoder lifted its true peak past the ceiling).

Encoding is the costly part (seconds per codec for a few minutes of audio),
so the encoded audio is cached (:class:`EncodeStore`, beside the clip and
part caches) under the master's digest and the encoder's settings, with its
measurements; a render whose master did not change only adds the tags,
chapters and cover again, which takes a fraction of a second.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import tools
from ..errors import EncodeError, ToolMissingError
from ..files import file_digest, write_atomic

log = logging.getLogger(__name__)

# deliverable -> the FFmpeg encoder it needs (FFmpeg's native AAC; libopus, as FFmpeg's own Opus
# encoder is experimental)
ENCODERS = {"m4b": "aac", "opus": "libopus"}
PEAK_MARGIN_DB = 0.1  # below the ceiling, when a file is encoded again quieter
LOUDNESS_TOLERANCE_LU = 0.5  # as the MP3's (master.EPISODE_TOLERANCE_LU)
STORE_VERSION = 2  # bump when the loudness check changes (the encoders' settings are in each key)


@dataclass(frozen=True)
class Encoded:
    path: Path
    integrated_lufs: float  # measured on the decoded file
    true_peak_dbtp: float
    gain_db: float = 0.0  # applied to the master before encoding (0 unless the first encode peaked too high)


@functools.cache
def ffmpeg_encoders() -> frozenset[str]:
    """The audio encoders this FFmpeg has (``ffmpeg -encoders``)."""
    proc = tools.run(["ffmpeg", "-hide_banner", "-encoders"], what="listing its encoders")
    names = set()
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] == "A":
            names.add(parts[1])
    return frozenset(names)


def check_encoders(formats: Iterable[str]) -> None:
    """Refuse, before any speech, a deliverable whose encoder this FFmpeg lacks."""
    have = None
    for fmt in formats:
        encoder = ENCODERS.get(fmt)
        if encoder is None:
            continue
        have = ffmpeg_encoders() if have is None else have
        if encoder not in have:
            raise ToolMissingError(f"this ffmpeg ({tools.require('ffmpeg')}) has no {encoder} encoder, which "
                                   f"--{fmt} needs: install an ffmpeg built with it (Debian's ffmpeg has it)")


def _escape(value: str) -> str:
    """A value as FFmpeg's ffmetadata file takes it: '=', ';', '#', '\\' and line ends escaped."""
    out = str(value)
    for ch in ("\\", "=", ";", "#", "\n"):
        out = out.replace(ch, "\\" + ch)
    return out


def ffmetadata(tags: dict[str, str], chapters) -> str:
    """An ffmetadata file: global tags, then one [CHAPTER] per chapter in milliseconds."""
    lines = [";FFMETADATA1", *(f"{k}={_escape(v)}" for k, v in tags.items() if v)]
    for m in chapters:
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={m.start_ms}", f"END={m.end_ms}",
                  f"title={_escape(m.title)}"]
    return "\n".join(lines) + "\n"


def run_ffmpeg(argv: list[str], what: str) -> None:
    """Run ffmpeg; its last line of complaint becomes an EncodeError."""
    full = [tools.require("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *argv]
    with tempfile.TemporaryFile() as errors:
        code = subprocess.run(full, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                              check=False).returncode
        if code != 0:
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise EncodeError(f"ffmpeg failed {what}: {tail[0]}")


def decoded_loudness(path: Path, chunk_s: float = 10.0) -> tuple[float, float]:
    """Integrated loudness and true peak of *path* as a player decodes it (PyAV, streamed).

    The decoder's frames (20 to 43 ms) are gathered into chunks of *chunk_s*
    for the meter, whose cost is per call as much as per sample.
    """
    import av
    import numpy as np

    from ..loudness import measure_chunks

    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate
            size = int(rate * chunk_s)

            def chunks():
                pending, held = [], 0
                for frame in container.decode(stream):
                    pending.append(frame.to_ndarray().reshape(-1, frame.samples)[0].astype(np.float32, copy=False))
                    held += frame.samples
                    if held >= size:
                        yield np.concatenate(pending)
                        pending, held = [], 0
                if pending:
                    yield np.concatenate(pending)

            report = measure_chunks(chunks(), rate)
    except av.FFmpegError as exc:
        raise EncodeError(f"cannot decode {Path(path).name}: {exc}") from None
    return report.integrated_lufs, report.true_peak_dbtp


def _gain_to(target_lufs: float, true_peak_dbtp: float, lufs: float, peak: float) -> float:
    """The gain that brings *lufs* to the target, unless it would lift *peak* past the ceiling (less the margin)."""
    return min(target_lufs - lufs, true_peak_dbtp - PEAK_MARGIN_DB - peak)


def master_gain(master: Path, *, target_lufs: float, true_peak_dbtp: float,
                store: EncodeStore | None = None, digest: str = "") -> float:
    """The gain for encoders that keep the master's loudness (measured once, shared by every encode)."""
    key = store.key("master", digest) if store is not None and digest else ""
    known = store.info(key) if key else None
    if known is not None:
        lufs, peak = known["integrated_lufs"], known["true_peak_dbtp"]
    else:
        lufs, peak = decoded_loudness(master)
        if key:
            store.save_info(key, {"integrated_lufs": lufs, "true_peak_dbtp": peak})
    gain = _gain_to(target_lufs, true_peak_dbtp, lufs, peak)
    log.info("master: %.2f LUFS, %.2f dBTP: encoded with %+.2f dB", lufs, peak, gain)
    return gain


def encode_checked(encode: Callable[[float], None], part: Path, *, target_lufs: float,
                   true_peak_dbtp: float, what: str, gain_db: float = 0.0) -> Encoded:
    """``encode(gain_db)`` into *part*, measured decoded; encoded once more, the gain corrected, if it missed."""
    gain = gain_db
    for attempt in range(2):
        encode(gain)
        lufs, peak = decoded_loudness(part)
        log.info("%s: %.2f LUFS, %.2f dBTP (gain %+.2f dB)", what, lufs, peak, gain)
        if peak <= true_peak_dbtp and abs(lufs - target_lufs) <= LOUDNESS_TOLERANCE_LU:
            return Encoded(part, lufs, peak, gain)
        if attempt == 0:
            gain += _gain_to(target_lufs, true_peak_dbtp, lufs, peak)
    raise EncodeError(f"the {what} misses {target_lufs} LUFS and {true_peak_dbtp} dBTP once decoded "
                      f"({lufs:.2f} LUFS, {peak:.2f} dBTP)")


class EncodeStore:
    """Encoded audio on disk by what made it: ``KEY.SUFFIX`` and ``KEY.json`` (its digest and measurements).

    A store without a root (``--no-cache``) keeps nothing.  Concurrent
    renders write the same bytes under the same key: the last rename wins,
    and both are whole.
    """

    def __init__(self, root: Path | None):
        self.root = Path(root) if root is not None else None

    def key(self, *parts) -> str:
        return hashlib.sha256(json.dumps([STORE_VERSION, *parts]).encode()).hexdigest()

    def info(self, key: str) -> dict | None:
        if self.root is None:
            return None
        try:
            return json.loads((self.root / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def load(self, key: str, suffix: str) -> tuple[Path, dict] | None:
        info = self.info(key)
        if info is None:
            return None
        path = self.root / f"{key}{suffix}"
        try:
            if file_digest(path) != info.get("sha256"):
                raise ValueError("digest")
        except (OSError, ValueError):
            log.warning("encoded audio %s in the cache is damaged; encoding it again", key[:12])
            return None
        return path, info

    def save_info(self, key: str, info: dict) -> None:
        if self.root is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.root / f"{key}.json", json.dumps(info))

    def save(self, key: str, suffix: str, made: Path, info: dict) -> Path:
        """Keep *made* (moved into the store) with *info*; its path in the store."""
        if self.root is None:
            return made
        self.root.mkdir(parents=True, exist_ok=True)
        dest = self.root / f"{key}{suffix}"
        info = {**info, "sha256": file_digest(made)}
        os.replace(made, dest)
        self.save_info(key, info)
        return dest

    @contextlib.contextmanager
    def scratch(self, suffix: str) -> Iterator[Path]:
        """A file to encode into, in the store's folder (so that keeping it is a rename), removed after."""
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".making-", suffix=suffix, dir=self.root)
        os.close(fd)
        try:
            yield Path(name)
        finally:
            Path(name).unlink(missing_ok=True)


@contextlib.contextmanager
def cached_encode(store: EncodeStore, key: str, suffix: str, make: Callable[[Path], Encoded]) -> Iterator[Encoded]:
    """The encoded audio under *key*, from the store or made now by ``make(path)`` (and kept)."""
    hit = store.load(key, suffix)
    if hit is not None:
        path, info = hit
        log.info("encoded audio %s from the cache", key[:12])
        yield Encoded(path, info["integrated_lufs"], info["true_peak_dbtp"], info["gain_db"])
        return
    with store.scratch(suffix) as scratch:
        made = make(scratch)
        kept = store.save(key, suffix, scratch, {"integrated_lufs": made.integrated_lufs,
                                                  "true_peak_dbtp": made.true_peak_dbtp, "gain_db": made.gain_db})
        yield Encoded(kept, made.integrated_lufs, made.true_peak_dbtp, made.gain_db)


@dataclass(frozen=True)
class Codec:
    """How one deliverable's audio is encoded from the master (its tags are the deliverable's own)."""

    name: str  # the deliverable, and its encodes' key in the store: "m4b"
    encoder: str  # FFmpeg's: "aac"
    options: tuple[str, ...]  # the encoder's settings beyond the bitrate
    container: str  # FFmpeg's muxer for the untagged audio: "mp4"
    suffix: str  # of the untagged audio in the store: ".m4a"
    what: str  # in messages: "M4B"


@contextlib.contextmanager
def encoded_master(master: Path, codec: Codec, store: EncodeStore, *, bitrate_kbps: int, target_lufs: float,
                   true_peak_dbtp: float, gain_db: float = 0.0, master_digest: str = "") -> Iterator[Encoded]:
    """The master encoded by *codec*, untagged, *gain_db* louder and checked decoded; from *store* when kept.

    The key holds the master's digest and every setting, so that a render
    whose master did not change encodes nothing.
    """
    key = store.key(codec.name, codec.encoder, list(codec.options), master_digest
                    or (file_digest(master) if store.root else ""), bitrate_kbps, target_lufs, true_peak_dbtp,
                    round(gain_db, 2))

    def make(audio: Path) -> Encoded:
        def encode(gain: float) -> None:
            level = ["-af", f"volume={gain:.2f}dB"] if gain else []
            run_ffmpeg(["-i", str(master), "-map", "0:a", "-map_metadata", "-1", *level, "-c:a", codec.encoder,
                        "-b:a", f"{bitrate_kbps}k", *codec.options, "-fflags", "+bitexact", "-f", codec.container,
                        str(audio)], f"encoding the {codec.what}")

        return encode_checked(encode, audio, target_lufs=target_lufs, true_peak_dbtp=true_peak_dbtp,
                              gain_db=gain_db, what=codec.what)

    with cached_encode(store, key, codec.suffix, make) as made:
        yield made
