"""Word-start refinement: Whisper's starts moved onto the sound onsets after pauses."""

from __future__ import annotations

import numpy as np

from audio.transcribe import HeardWord, pauses_ms, snap_to_onsets

RATE = 16000


def _bursts(*spans_ms: tuple[int, int], total_ms: int = 4000, noise_db: float = -70.0) -> np.ndarray:
    """Noise floor with 440 Hz tone bursts at the given (start, end) spans."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 10 ** (noise_db / 20), RATE * total_ms // 1000).astype(np.float32)
    t = np.arange(len(x)) / RATE
    for a, b in spans_ms:
        x[a * RATE // 1000:b * RATE // 1000] += 0.3 * np.sin(2 * np.pi * 440 * t[a * RATE // 1000:b * RATE // 1000])
    return x


def test_pauses_are_found_against_the_noise_floor():
    # a 60 ms gap inside a phrase is not a pause; 500 ms between phrases is
    x = _bursts((300, 1000), (1060, 1500), (2000, 2600))
    assert pauses_ms(x, RATE) == [(0, 300), (1500, 2000), (2600, 4000)]
    # the same with room tone 20 dB louder: still silence against its floor
    assert pauses_ms(_bursts((300, 1000), (1060, 1500), (2000, 2600), noise_db=-50), RATE)[1] == (1500, 2000)


def _word(text: str, start: int, end: int) -> HeardWord:
    return HeardWord(text, start, end, 0.9)


def test_late_and_early_starts_move_onto_the_onset():
    pauses = [(0, 300), (1500, 2000), (2600, 4000)]
    words = [_word("one", 600, 900), _word("two", 1100, 1450),  # late by 300 ms; inside the phrase
             _word("three", 1700, 2300)]  # early: Whisper put it in the pause
    snapped = snap_to_onsets(words, pauses, reach_ms=700)
    assert [w.start_ms for w in snapped] == [300, 1100, 2000]
    assert snapped[2].end_ms == 2300


def test_an_onset_takes_one_word_and_far_onsets_none():
    pauses = [(0, 300), (1500, 2000)]
    words = [_word("a", 320, 400), _word("b", 420, 600), _word("c", 2900, 3100)]
    snapped = snap_to_onsets(words, pauses, reach_ms=700)
    assert [w.start_ms for w in snapped] == [300, 420, 2900]  # c is 900 ms past the onset
    assert snap_to_onsets(words, pauses, reach_ms=0) == words
