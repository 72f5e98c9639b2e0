from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest

from audio.loudness import find_gain, integrated_lufs, level_chunks, limit, true_peak_dbtp


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_integrated_lufs_matches_pyloudnorm(rate):
    rng = np.random.default_rng(1)
    t = np.arange(rate * 7) / rate
    x = (0.2 * np.sin(2 * np.pi * 440 * t) * (t % 2 < 1.3) + 0.02 * rng.standard_normal(len(t))).astype(np.float32)
    assert integrated_lufs(x, rate) == pytest.approx(pyloudnorm.Meter(rate).integrated_loudness(x.astype(np.float64)), abs=0.02)


def test_true_peak_sees_intersample_peaks():
    rate = 48000
    n = np.arange(4800)
    # a quarter-rate sine sampled at its zero crossings +45 degrees: samples at 0.707, peak 1.0
    x = (np.sin(2 * np.pi * n / 4 + np.pi / 4)).astype(np.float32)
    sample_peak_db = 20 * np.log10(np.abs(x).max())
    assert sample_peak_db == pytest.approx(-3.01, abs=0.05)
    assert true_peak_dbtp(x, rate) == pytest.approx(0.0, abs=0.3)


def test_limiter_holds_the_ceiling():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(22050) * 0.5).astype(np.float32)
    out = limit(x, 22050, -6.0)
    assert np.abs(x).max() > 10 ** (-6 / 20)
    assert 20 * np.log10(np.abs(out).max()) <= -6.0 + 1e-4


def test_limiter_gives_the_dense_filters_bits_sparse_or_not():
    """Sparse where few samples are over, dense where many are: the same samples out, sidechain too."""
    import audio.loudness as loudness
    from audio.filters import running_mean, running_min

    def dense(samples, rate, ceiling_db, sidechain=None):
        ceiling = 10 ** (ceiling_db / 20)
        key = samples if sidechain is None else sidechain
        magnitude = np.abs(key)
        needed = np.ones_like(key)
        needed[magnitude > ceiling] = ceiling / magnitude[magnitude > ceiling]
        width = loudness._limiter_width(rate)
        out = samples * running_mean(running_min(needed, 2 * width + 1), width)
        if sidechain is None:
            np.clip(out, -ceiling, ceiling, out=out)
        return out.astype(np.float32)

    rng = np.random.default_rng(9)
    speech = (rng.standard_normal(22050 * 4) * 0.08 * (1 + np.sin(np.arange(22050 * 4) / 900))).astype(np.float32)
    speech[::997] *= 9  # glottal-pulse-like peaks
    for gain_db in [0.0, 6.0, 12.0, 24.0]:  # from a few samples over to most of them
        x = speech * np.float32(10 ** (gain_db / 20))
        for ceiling_db in [-2.5, -6.0]:
            assert np.array_equal(limit(x, 22050, ceiling_db), dense(x, 22050, ceiling_db)), gain_db
            music = (x + 0.3 * np.sin(np.arange(len(x)) / 7)).astype(np.float32)
            assert np.array_equal(limit(x, 22050, ceiling_db, music), dense(x, 22050, ceiling_db, music))


def test_find_gain_reaches_target_through_the_limiter():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(22050 * 10) * 0.01).astype(np.float32)
    report = find_gain(x, 22050, target_lufs=-16.0, ceiling_db=-2.0)
    out = np.concatenate(list(level_chunks(x, 22050, gain_db=report.gain_db, ceiling_db=-2.0)))
    assert abs(integrated_lufs(out, 22050) + 16.0) <= 0.1
    assert report.gain_db > 10


def test_find_gain_keeps_the_levelled_signal_it_measured():
    rng = np.random.default_rng(6)
    x = (rng.standard_normal(22050 * 40) * 0.01).astype(np.float32)
    found = find_gain(x, 22050, target_lufs=-16.0, ceiling_db=-2.0, keep_max_s=60)
    again = list(level_chunks(x, 22050, gain_db=found.gain_db, ceiling_db=-2.0))
    assert found.chunks is not None and len(found.chunks) == len(again) == 2
    assert all(np.array_equal(a, b) for a, b in zip(found.chunks, again))
    assert integrated_lufs(np.concatenate(found.chunks), 22050) == pytest.approx(found.integrated_lufs, abs=1e-6)
    assert find_gain(x, 22050, target_lufs=-16.0, ceiling_db=-2.0, keep_max_s=39).chunks is None


def test_find_gain_that_cannot_reach_the_target_returns_the_gain_it_measured():
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(22050 * 5) * 0.01).astype(np.float32)
    # a -30 dBFS ceiling holds white noise far below -5 LUFS, whatever the gain
    found = find_gain(x, 22050, target_lufs=-5.0, ceiling_db=-30.0, keep_max_s=10)
    assert found.integrated_lufs < -10
    out = np.concatenate(list(level_chunks(x, 22050, gain_db=found.gain_db, ceiling_db=-30.0)))
    assert integrated_lufs(out, 22050) == pytest.approx(found.integrated_lufs, abs=1e-6)
    assert all(np.array_equal(a, b) for a, b in
               zip(found.chunks, level_chunks(x, 22050, gain_db=found.gain_db, ceiling_db=-30.0)))


def test_levelling_in_chunks_equals_levelling_at_once():
    import audio.loudness as loudness

    rng = np.random.default_rng(4)
    x = (rng.standard_normal(22050 * 70) * 0.3).astype(np.float32)
    chunks = list(level_chunks(x, 22050, gain_db=3.0, ceiling_db=-3.0))
    assert len(chunks) == 3  # 30 s chunks
    whole = loudness.limit(x * np.float32(10 ** (3 / 20)), 22050, -3.0)
    from scipy.signal import butter, sosfilt
    whole = sosfilt(butter(8, loudness.BAND_LIMIT_HZ, fs=22050, output="sos"), whole)
    assert np.allclose(np.concatenate(chunks), whole, atol=1e-5)


def test_true_peak_interpolates_only_where_it_can_matter_and_misses_nothing():
    from audio.loudness import _peak_of, _true_peak_phases

    def everywhere(piece):
        peak = float(np.abs(piece).max())
        for phase in _true_peak_phases():
            peak = max(peak, float(np.abs(np.convolve(piece, phase, mode="same")).max()))
        return peak

    rng = np.random.default_rng(5)
    n = np.arange(9000)
    pieces = [rng.normal(0, 0.2, 9000).astype(np.float32),  # white noise: no band limit at all
              (0.5 * np.sin(2 * np.pi * 0.25 * n + np.pi / 4)).astype(np.float32),  # peaks between samples
              (np.sign(np.sin(2 * np.pi * n / 180)) * 0.3).astype(np.float32)]  # a square wave's overshoot
    for piece in pieces:
        assert _peak_of(piece) == pytest.approx(everywhere(piece), rel=1e-6)
    assert _peak_of(pieces[1]) > 1.3 * float(np.abs(pieces[1]).max())  # the inter-sample peak is seen
