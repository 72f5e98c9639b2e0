"""Assembly: trimmed clips and pauses in one signal, built once."""

from __future__ import annotations

import tracemalloc
import wave

import numpy as np
import pytest

from audio.assemble import LEAD_IN_MS, TAIL_MS, TRIM_MARGIN_MS, assemble
from audio.errors import SynthesisError
from audio.manifest import Pauses
from audio.parse import Chapter, Turn

RATE = 22050


def _clip(path, speech_s: float, silence_s: float = 0.2, freq: float = 220.0):
    """A WAV like the engine's: silence, a tone, silence (a square wave: every tone sample is loud)."""
    t = np.arange(int(speech_s * RATE)) / RATE
    tone = np.where(np.sin(2 * np.pi * freq * t + 0.1) >= 0, 8000, -8000).astype("<i2")
    pad = np.zeros(int(silence_s * RATE), dtype="<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.concatenate([pad, tone, pad]).tobytes())
    return path


def _episode(tmp_path, speech_s: list[list[float]]):
    turns = [Turn(k, "a" if k % 2 == 0 else "b", tuple(f"Sentence {k}.{n}." for n in range(len(s))), k + 1)
             for k, s in enumerate(speech_s)]
    clips = [_clip(tmp_path / f"{k}-{n}.wav", sec, freq=200 + 40 * n)
             for k, s in enumerate(speech_s) for n, sec in enumerate(s)]
    return turns, [Chapter(0, "Intro", 0), Chapter(1, "Two", 1)], clips


def test_clips_are_trimmed_and_placed_with_their_pauses(tmp_path):
    pauses = Pauses(sentence_pause_ms=100, turn_pause_ms=400, chapter_pause_ms=900)
    turns, chapters, clips = _episode(tmp_path, [[0.5, 0.3], [0.4], [0.6]])
    a = assemble(turns, chapters, clips, pauses)
    margin = RATE * TRIM_MARGIN_MS // 1000
    kept = [int(s * RATE) + 2 * margin for s in (0.5, 0.3, 0.4, 0.6)]
    gaps = [LEAD_IN_MS, 100, 900, 400]  # turn 1 opens chapter 2: the chapter pause
    starts, cursor = [], 0
    for gap, n in zip(gaps, kept):
        starts.append(cursor + RATE * gap // 1000)
        cursor = starts[-1] + n
    assert len(a.samples) == cursor + RATE * TAIL_MS // 1000
    assert [s.start_ms for s in a.sentences] == [p * 1000 // RATE for p in starts]
    assert a.turn_starts == (0, starts[1] + kept[1], starts[2] + kept[2])
    for start, n in zip(starts, kept):
        assert np.abs(a.samples[start + margin:start + n - margin]).max() > 7000  # the tone, in place
        assert not a.samples[start - RATE * 100 // 1000:start].any()  # silence before it
    assert not a.samples[cursor:].any()


def test_the_signal_is_built_once_not_joined_from_copies(tmp_path):
    turns, chapters, clips = _episode(tmp_path, [[2.0] * 10, [2.0] * 10])
    tracemalloc.start()
    try:
        a = assemble(turns, chapters, clips, Pauses())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # joining a list of pieces holds every clip and the joined signal: twice the episode
    assert peak < 1.5 * a.samples.nbytes, (peak, a.samples.nbytes)


def test_a_missing_clip_is_a_clear_error(tmp_path):
    turns, chapters, clips = _episode(tmp_path, [[0.3], [0.3]])
    with pytest.raises(SynthesisError, match="expected 2 clips, got 1"):
        assemble(turns, chapters, clips[:1], Pauses())
    clips[1].write_bytes(b"not a wav")
    with pytest.raises(SynthesisError, match=r"clip 1-0\.wav cannot be read"):
        assemble(turns, chapters, clips, Pauses())
