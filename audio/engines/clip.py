"""A clip: one spoken sentence as a 16-bit mono WAV with one cue point per word.

Every engine writes the same format, so the cache, the checks and the
assembly never need to know which engine spoke: the audio at the engine's
own rate, and a RIFF ``cue `` chunk whose points are (character offset of a
word in the text the engine read, sample where the word starts).  Audio
editors show the cue points as markers.
"""

from __future__ import annotations

import os
import re
import struct
import wave
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads in the workers and the later stages, not when a render starts
    import numpy as np

_WORD = re.compile(r"\S+")


def spoken_words(text: str) -> list[tuple[int, str]]:
    """(character offset, word) of each whitespace-separated word of *text*."""
    return [(m.start(), m.group(0)) for m in _WORD.finditer(text)]


def to_int16(samples: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.round(np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767.0).astype("<i2")


def cue_chunk(marks: Sequence[tuple[int, int]]) -> bytes:
    """A RIFF ``cue `` chunk: one point per (character offset, sample)."""
    body = struct.pack("<I", len(marks)) + b"".join(
        struct.pack("<II4sIII", char, sample, b"data", 0, 0, sample) for char, sample in marks)
    return b"cue " + struct.pack("<I", len(body)) + body


def append_cues(path: str | Path, marks: Sequence[tuple[int, int]]) -> None:
    """Append a cue chunk to a finished WAV file and fix its RIFF size."""
    with open(path, "r+b") as f:
        f.seek(0, os.SEEK_END)
        f.write(cue_chunk(marks))
        riff_size = f.tell() - 8
        f.seek(4)
        f.write(struct.pack("<I", riff_size))


def write_clip(path: str | Path, samples: np.ndarray, rate_hz: int, marks: Sequence[tuple[int, int]]) -> None:
    """Write *samples* (float in [-1, 1] or int16) as a clip with its word marks."""
    import numpy as np

    pcm = samples if samples.dtype == np.int16 else to_int16(samples)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(np.ascontiguousarray(pcm, dtype="<i2").tobytes())
    append_cues(path, marks)


def read_marks(path: str | Path) -> tuple[tuple[int, int], ...]:
    """The (character offset, sample) of each spoken word, from the clip's ``cue `` chunk.

    Empty when the clip has none; callers then time words by characters.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return ()
        while chunk := f.read(8):
            if len(chunk) < 8:
                return ()
            name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name != b"cue ":
                f.seek(size + (size & 1), os.SEEK_CUR)
                continue
            body = f.read(size)
            count = struct.unpack("<I", body[:4])[0] if len(body) >= 4 else 0
            if len(body) < 4 + 24 * count:
                return ()
            points = [struct.unpack_from("<II4sIII", body, 4 + 24 * n) for n in range(count)]
            return tuple((p[0], p[5]) for p in points)
    return ()


def _filtered(samples: np.ndarray, rate_hz: int, chain: Sequence[tuple[str, str]], out_rate_hz: int) -> np.ndarray:
    """Run float32 mono *samples* through an FFmpeg filter chain (PyAV), in one go."""
    import av
    import numpy as np

    graph = av.filter.Graph()
    graph.threads = 1  # a clip is short; the workers are already one per core
    node = graph.add_abuffer(format="flt", sample_rate=rate_hz, layout="mono", time_base=f"1/{rate_hz}")
    for name, args in chain:
        nxt = graph.add(name, args)
        node.link_to(nxt)
        node = nxt
    fmt = graph.add("aformat", f"sample_fmts=flt:sample_rates={out_rate_hz}:channel_layouts=mono")
    node.link_to(fmt)
    fmt.link_to(sink := graph.add("abuffersink"))
    graph.configure()
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32)[None, :], format="flt",
                                       layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = rate_hz, 0, Fraction(1, rate_hz)
    graph.push(frame)
    graph.push(None)  # end of stream: flush the filters' delay lines
    out = []
    while True:
        try:
            got = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            break
        out.append(got.to_ndarray()[0])
    del sink
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def resampled(samples: np.ndarray, rate_hz: int, out_rate_hz: int) -> np.ndarray:
    """Band-limited resampling (FFmpeg's swresample: a windowed-sinc filter), float32 out."""
    import numpy as np

    if rate_hz == out_rate_hz:
        return np.asarray(samples, dtype=np.float32)
    return _filtered(samples, rate_hz, [("aresample", str(out_rate_hz))], out_rate_hz)


def pitch_shifted(samples: np.ndarray, rate_hz: int, semitones: float) -> np.ndarray:
    """*samples* a number of semitones higher or lower, at the same length.

    Played faster (``asetrate``), resampled back, then stretched back to
    its length (``atempo``): a different-sounding voice from one model,
    which is how one neural voice can speak for two people distinctly.
    """
    import numpy as np

    if not semitones:
        return np.asarray(samples, dtype=np.float32)
    factor = 2.0 ** (semitones / 12.0)
    return _filtered(samples, rate_hz, [("asetrate", str(round(rate_hz * factor))), ("aresample", str(rate_hz)),
                                        ("atempo", f"{1.0 / factor:.6f}")], rate_hz)


def aligned_marks(text: str, word_symbols: Sequence[str], said: Sequence[tuple[str, int]]) -> list[tuple[int, int]]:
    """Word marks by aligning what each word should sound like with what was said.

    *word_symbols* holds, per whitespace-separated word of *text*, the
    symbols it is expected to become (its letters, or its phonemes said on
    its own); *said* is every symbol the engine spoke, with the sample it
    starts at.  The two sequences are aligned (difflib), and a word starts
    where its first aligned symbol was said: an engine that merges words
    ("have been" said as one group) or a normaliser that rewrites them
    ("3:30" said "three thirty") moves a mark a little, never loses one.  A
    word with nothing aligned (a dash) starts with the next word.
    """
    import difflib

    words = spoken_words(text)
    if not words or not said:
        return []
    expected, spans = "", []
    for symbols in word_symbols:
        spans.append((len(expected), len(expected) + len(symbols)))
        expected += symbols
    heard = "".join(symbol for symbol, _ in said)
    aligned: list[int | None] = [None] * len(expected)
    for tag, a0, a1, b0, b1 in difflib.SequenceMatcher(None, expected, heard, autojunk=False).get_opcodes():
        if tag in ("equal", "replace"):  # a replaced run is spread over what was said instead
            for i in range(a1 - a0):
                aligned[a0 + i] = b0 + i * (b1 - b0) // (a1 - a0)
    starts: list[int | None] = []
    for a, b in spans:
        q = next((aligned[i] for i in range(a, b) if aligned[i] is not None), None)
        starts.append(None if q is None else said[q][1])
    following = said[-1][1]
    for i in range(len(starts) - 1, -1, -1):  # unaligned words take the next start; marks never go back
        starts[i] = following = following if starts[i] is None else min(starts[i], following)
    return [(offset, start) for (offset, _), start in zip(words, starts, strict=True)]


class VoiceWorker:
    """The worker side of a neural engine: each voice loaded once, then every job spoken and written.

    An engine says how to load a voice (:meth:`load`) and how to say a
    sentence (:meth:`say`: its audio, rate and word marks); speaking a
    pitch variant and writing the clip are the same for every engine.
    """

    engine = ""
    # Said once when a voice is loaded, where an engine's first sentence is much
    # slower than the next (hibari: 0.3 s against 0.02 s), so that a worker
    # started ahead (worker.PRELOAD_ENV) has that behind it before any job.
    warm_up_text = ""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.voices: dict[str, object] = {}

    def load(self, voice_id: str):
        raise NotImplementedError

    def say(self, voice, text: str, speed: float) -> tuple[np.ndarray, int, list[tuple[int, int]]]:
        raise NotImplementedError

    def preload(self, voice_id: str) -> None:
        if voice_id not in self.voices:
            self.voices[voice_id] = self.load(voice_id)
            if self.warm_up_text:
                self.say(self.voices[voice_id], self.warm_up_text, 1.0)

    def speak(self, job: dict, scratch_dir: str) -> int:
        from ..errors import SynthesisError

        self.preload(job["voice"])
        voice = self.voices[job["voice"]]
        audio, rate_hz, marks = self.say(voice, job["text"], float(job.get("speed", 1.0)))
        if not audio.size:
            raise SynthesisError(f"{self.engine} produced no audio")
        pitch = float(job.get("pitch_st", 0.0))
        if pitch:
            shifted = pitch_shifted(audio, rate_hz, pitch)
            marks = [(c, s * len(shifted) // len(audio)) for c, s in marks]
            audio = shifted
        write_clip(job["path"], audio, rate_hz, marks)
        return 1
