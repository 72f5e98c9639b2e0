"""Stage 3c: signal -> constant-bit-rate MP3 through ffmpeg, and back.

CBR with a Xing/Info frame, because a VBR or header-less MP3 makes players
and taggers disagree on the duration, and so on where chapters are.  ffmpeg
writes no tags of its own (mutagen writes them next).
"""

from __future__ import annotations

import contextlib
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
SAMPLES_PER_FRAME = 1152  # MPEG-1 Layer III, which 44.1 kHz is
_BITRATES_KBPS = {  # Layer III, by MPEG version bits: 3 = MPEG-1, else MPEG-2/2.5
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES_HZ = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def encoder_args(bitrate_kbps: int) -> list[str]:
    """The encoder settings, shared with the benchmark's baseline."""
    return ["-ar", str(OUTPUT_RATE_HZ), "-ac", "1", "-c:a", "libmp3lame", "-b:a", f"{bitrate_kbps}k",
            "-write_xing", "1", "-id3v2_version", "0", "-write_id3v1", "0", "-f", "mp3"]


def encode_mp3(chunks: Iterable[np.ndarray], rate_hz: int, dest: Path, *, bitrate_kbps: int) -> None:
    """Encode float32 mono *chunks* to *dest* (overwritten), streaming.

    The chunks are written to ffmpeg while it encodes, so the caller's
    levelling and the encoder run on two cores at once.
    """
    with PartsEncoder([None], rate_hz, [dest], bitrate_kbps=bitrate_kbps) as encoder:
        for chunk in chunks:
            encoder.write(chunk)


MAX_PARTS_PER_PROCESS = 8  # each part's branch sees every input frame: keep the graph small


class PartsEncoder:
    """Parts put end to end on one stream, each encoded as an MP3 of its own, by one ffmpeg process.

    Starting ffmpeg costs about 80 ms of CPU here (it links 215 libraries),
    a fifth of encoding a 20 s part; the seed's 8 parts and their join
    spent 0.7 s on it.  One process splits its input (``asplit``), cuts
    each part out by its sample count (``atrim``) and resamples and encodes
    each on its own: every MP3 is the bytes a process of its own would
    write (tested).  *lengths* are the parts' samples at *rate_hz* (``None``
    for one part of any length).  The files are complete once ``close``
    returns: ffmpeg finishes them (their Info frames) as it exits.
    """

    def __init__(self, lengths: list[int | None], rate_hz: int, dests: list[Path], *, bitrate_kbps: int):
        if len(lengths) != len(dests) or not dests or (len(dests) > 1 and None in lengths):
            raise ValueError("one length for each part, and no unknown length among several")
        argv = [tools.require("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                "-f", "f32le", "-ar", str(rate_hz), "-ac", "1", "-i", "pipe:0"]
        if len(dests) == 1:
            argv += [*encoder_args(bitrate_kbps), str(dests[0])]
        else:
            bounds = [0]
            for n in lengths:
                bounds.append(bounds[-1] + n)
            graph = f"[0:a]asplit={len(dests)}" + "".join(f"[in{k}]" for k in range(len(dests))) + ";" + ";".join(
                f"[in{k}]atrim=start_sample={a}:end_sample={b},asetpts=PTS-STARTPTS,aresample={OUTPUT_RATE_HZ}[out{k}]"
                for k, (a, b) in enumerate(zip(bounds, bounds[1:])))
            argv += ["-filter_complex", graph]
            for k, dest in enumerate(dests):
                argv += ["-map", f"[out{k}]", *encoder_args(bitrate_kbps), str(dest)]
        self._errors = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._errors)
        self._broken = False

    def write(self, chunk: np.ndarray) -> None:
        if self._broken:
            return
        try:
            self._proc.stdin.write(np.ascontiguousarray(chunk, dtype="<f4").tobytes())
        except BrokenPipeError:
            self._broken = True  # ffmpeg stopped reading: its exit code and message say why

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.close()
        code = self._proc.wait()
        self._errors.seek(0)
        tail = self._errors.read().decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        self._errors.close()
        if code != 0:
            raise EncodeError(f"ffmpeg failed encoding MP3: {tail[0]}")

    def kill(self) -> None:
        self._proc.kill()
        with contextlib.suppress(OSError):  # (a broken pipe: ffmpeg is gone)
            self._proc.stdin.close()
        self._proc.wait()
        self._errors.close()

    def __enter__(self) -> PartsEncoder:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.kill()


def count_frames(path: Path) -> int:
    """MPEG Layer III audio frames in *path*, not counting a Xing/Info frame.

    Walks the frame headers (the file must start with a frame: what
    encode_mp3 writes).
    """
    data = Path(path).read_bytes()
    pos = frames = 0
    while pos + 4 <= len(data):
        h = int.from_bytes(data[pos:pos + 4], "big")
        version, layer = (h >> 19) & 3, (h >> 17) & 3
        bitrate_index, rate_index = (h >> 12) & 15, (h >> 10) & 3
        if h >> 21 != 0x7FF or layer != 1 or version == 1 or bitrate_index in (0, 15) or rate_index == 3:
            raise EncodeError(f"{Path(path).name}: no MPEG audio frame at byte {pos}")
        kbps = _BITRATES_KBPS[3 if version == 3 else 2][bitrate_index]
        rate = _RATES_HZ[version][rate_index]
        size = (144 if version == 3 else 72) * kbps * 1000 // rate + ((h >> 9) & 1)
        side_info = (17 if version == 3 else 9) if (h >> 6) & 3 == 3 else (32 if version == 3 else 17)
        tag = data[pos + 4 + side_info:pos + 8 + side_info]
        if not (frames == 0 and pos == 0 and tag in (b"Xing", b"Info")):
            frames += 1
        pos += size
    return frames


def concat_mp3(parts: Iterable[Path], dest: Path) -> None:
    """Join MP3 files into *dest* without re-encoding, with one Info frame for the whole."""
    parts = list(parts)
    with tempfile.TemporaryDirectory(prefix="episode-join-") as tmp:
        listing = Path(tmp, "parts.txt")
        quoted = ("'" + str(Path(p).resolve()).replace("'", "'\\''") + "'" for p in parts)
        listing.write_text("".join(f"file {q}\n" for q in quoted), encoding="utf-8")
        tools.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
                   "-i", str(listing), "-c", "copy", "-write_xing", "1", "-id3v2_version", "0",
                   "-write_id3v1", "0", "-f", "mp3", str(dest)], what="joining the MP3 parts")


def decode_in_process(path: Path, piece_samples: int = OUTPUT_RATE_HZ * 10) -> Iterator[np.ndarray]:
    """Decode a mono file at its own rate with PyAV (FFmpeg's libraries), in pieces of *piece_samples*.

    For the many short files of a render: starting the ffmpeg program costs
    about 70 ms a time, more than decoding a turn.  The samples are the
    same as ``decode`` gives (the encoder delay is skipped as well; tested).

    The file is read by a filter graph (``amovie``, then ``asetnsamples``),
    not by ``container.decode``: that held the GIL frame by frame, and two
    mastering lanes decoding at once took 3.3 times as long as one (0.72 s
    against 0.22 s for 8 minutes); in a graph the decoding runs inside
    libavfilter, and each 10 s piece costs Python one call.
    """
    try:
        import av
    except ImportError:
        raise EncodeError("PyAV is missing: pip install av") from None
    if not Path(path).is_file():  # amovie's own message names no file
        raise EncodeError(f"cannot decode {Path(path).name}: no such file")
    try:
        graph = av.filter.Graph()
        graph.threads = 1  # one mono stream: a slice-thread pool per graph only competes with the lanes
        source = graph.add("amovie", filename=str(path))
        # mono float32, whatever the decoder's own layout: the first plane is then the signal
        convert = graph.add("aformat", sample_fmts="flt", channel_layouts="mono")
        pieces = graph.add("asetnsamples", nb_out_samples=str(piece_samples), pad="0")
        sink = graph.add("abuffersink")
        source.link_to(convert)
        convert.link_to(pieces)
        pieces.link_to(sink)
        graph.configure()
        while True:
            try:
                frame = graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            yield np.frombuffer(frame.planes[0], dtype=np.float32, count=frame.samples)
    except av.FFmpegError as exc:
        raise EncodeError(f"cannot decode {Path(path).name}: {exc}") from None


def decode(path: Path, rate_hz: int = OUTPUT_RATE_HZ) -> np.ndarray:
    """Decode any audio file to float32 mono at *rate_hz*."""
    proc = tools.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
                      "-f", "f32le", "-ac", "1", "-ar", str(rate_hz), "pipe:1"],
                     what=f"decoding {Path(path).name}")
    return np.frombuffer(proc.stdout, dtype="<f4")
