"""The render's own filters against scipy and pyloudnorm, which the render no longer imports."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import butter, firwin, sosfilt

from audio.filters import (FRAME_SAMPLES, Biquads, butterworth_lowpass_sos, k_weighting_sos, lowpass_fir, running_mean,
                           running_min, sparse_min_then_mean)


@pytest.mark.parametrize("rate", [16000, 22050, 44100, 48000])
def test_k_weighting_is_pyloudnorms(rate):
    filters = list(pyloudnorm.Meter(rate)._filters.values())
    theirs = np.array([np.concatenate([f.b, f.a]) / f.a[0] for f in filters])
    assert np.allclose(k_weighting_sos(rate), theirs, rtol=1e-12, atol=1e-14)
    assert all(f.passband_gain == 1.0 for f in filters)  # so no gain is left out


@pytest.mark.parametrize("rate", [22050, 44100])
def test_butterworth_has_scipys_response(rate):
    impulse = np.zeros(4096)
    impulse[0] = 1.0
    ours = sosfilt(butterworth_lowpass_sos(8, 8500.0, rate), impulse)
    theirs = sosfilt(butter(8, 8500.0, fs=rate, output="sos"), impulse)
    assert np.allclose(ours, theirs, atol=1e-12)
    with pytest.raises(ValueError):
        butterworth_lowpass_sos(3, 8500.0, rate)


def test_lowpass_fir_is_firwin():
    for taps, cutoff in [(48, 0.25), (31, 0.5), (12, 0.1)]:
        assert np.allclose(lowpass_fir(taps, cutoff), firwin(taps, cutoff), rtol=0, atol=1e-15)


def test_running_min_and_mean_are_ndimages():
    rng = np.random.default_rng(1)
    for n in [1, 5, 46, 47, 48, 1000, 30001]:
        x = rng.uniform(0.2, 1.0, n).astype(np.float32)
        for size in [3, 23, 47]:
            assert np.array_equal(running_min(x, size), minimum_filter1d(x, size)), (n, size)
            assert np.allclose(running_mean(x, size), uniform_filter1d(x, size), rtol=0, atol=1e-6), (n, size)
    with pytest.raises(ValueError):
        running_min(x, 4)


def test_biquads_match_sosfilt_across_calls():
    rate = 22050
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(rate * 3) * 0.3).astype(np.float32)
    for sos in [k_weighting_sos(rate), butterworth_lowpass_sos(8, 8500.0, rate)]:
        stream = Biquads(sos, rate)
        # uneven pieces, an empty one too: the state must carry over between calls
        pieces = [stream(p) for p in np.split(x, [1, 1000, 1000, 40000])]
        assert [len(p) for p in pieces] == [1, 999, 0, 39000, len(x) - 40000]
        got = np.concatenate(pieces)
        want = sosfilt(sos, x.astype(np.float64))
        assert np.abs(got - want).max() < 1e-9


def _one_frame_a_call(sos, rate):
    """libavfilter's biquads as they come: each call one frame, nothing added to the samples."""
    import av

    graph = av.filter.Graph()
    node = graph.add_abuffer(format="dbl", sample_rate=rate, layout="mono", time_base=f"1/{rate}")
    for row in sos:
        b0, b1, b2, a0, a1, a2 = (float(v) for v in row)
        section = graph.add("biquad", f"b0={b0!r}:b1={b1!r}:b2={b2!r}:a0={a0!r}:a1={a1!r}:a2={a2!r}:precision=f64")
        node.link_to(section)
        node = section
    node.link_to(graph.add("abuffersink"))
    graph.configure()
    pts = 0

    def call(x):
        nonlocal pts
        frame = av.AudioFrame.from_ndarray(x.astype(np.float64)[None, :], format="dbl", layout="mono")
        frame.sample_rate, frame.pts = rate, pts
        pts += len(x)
        graph.push(frame)
        return np.frombuffer(graph.pull().planes[0], dtype=np.float64, count=len(x))
    return call


def test_biquads_give_the_bits_of_one_frame_a_call():
    """Pushed in frames of FRAME_SAMPLES, each call's samples are what libavfilter gives the call as one frame.

    libavfilter's biquad works on two samples at a time and on an odd last
    one apart (a different order of additions), so a frame's length matters
    to its last sample: the frames are even but the last, as one frame was.
    """
    rate = 24000
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(3 * FRAME_SAMPLES + 123) * 0.3).astype(np.float32)
    cuts = [0, 7, FRAME_SAMPLES + 12, 3 * FRAME_SAMPLES + 1, len(x)]  # calls of odd and even lengths, over a frame
    for sos in [k_weighting_sos(rate), butterworth_lowpass_sos(8, 8500.0, rate)]:
        ours, theirs = Biquads(sos, rate), _one_frame_a_call(sos, rate)
        for a, b in zip(cuts, cuts[1:]):
            assert np.array_equal(ours(x[a:b]), theirs(x[a:b])), (a, b)


def test_biquads_stay_out_of_subnormals_in_silence_and_give_the_same_float32():
    """Speech then silence: plain libavfilter lingers in subnormal numbers (slow); ours does not,
    and its samples are the same as float32, and as loud (what the render keeps of them)."""
    rate = 22050
    rng = np.random.default_rng(4)
    burst = (rng.standard_normal(rate // 2) * 0.2).astype(np.float32)
    x = np.concatenate([burst, np.zeros(3 * rate, np.float32), burst, np.zeros(2 * rate, np.float32)])
    tiny = np.finfo(np.float64).tiny
    for sos in [k_weighting_sos(rate), butterworth_lowpass_sos(8, 8500.0, rate)]:
        plain = _one_frame_a_call(sos, rate)(x)
        ours = Biquads(sos, rate)(x)
        assert np.any((plain != 0) & (np.abs(plain) < tiny))  # what made silence slow (inside, too)
        assert not np.any((ours != 0) & (np.abs(ours) < tiny))
        assert np.array_equal(ours.astype(np.float32), plain.astype(np.float32))
        assert np.square(ours).sum() == np.square(plain).sum()
        assert np.abs(ours[-10:]).max() < 1e-150  # settled at the pattern, far under any float32


def _dense_min_then_mean(n, at, values, min_size, mean_size):
    x = np.ones(n, dtype=np.float32)
    x[at] = values
    return running_mean(running_min(x, min_size), mean_size)


def test_sparse_limiter_gain_is_the_dense_filters_bit_for_bit():
    rng = np.random.default_rng(8)
    for n in [60, 61, 200, 1001, 30000, 720_025]:
        for over in [1, 3, 40, max(1, n // 300), max(1, n // 60)]:
            at = np.unique(np.concatenate([rng.integers(0, n, over), [0, n - 1][:over]]))
            values = rng.uniform(0.05, 0.999, at.size).astype(np.float32)
            for min_size, mean_size in [(51, 25), (47, 23), (3, 3)]:
                got = sparse_min_then_mean(n, at, values, min_size, mean_size)
                if got is None:
                    assert n <= min_size + mean_size
                    continue
                assert np.array_equal(got, _dense_min_then_mean(n, at, values, min_size, mean_size)), (n, over)


def test_sparse_limiter_gain_declines_what_it_cannot_do_exactly():
    at = np.array([5, 500])
    assert sparse_min_then_mean(40, at[:1], np.float32([0.5]), 51, 25) is None  # shorter than a window each side
    assert sparse_min_then_mean(10_000, at, np.float32([0.5, 1e-5]), 51, 25) is None  # 100 dB under: sums round
    assert sparse_min_then_mean(10_000, at, np.float32([0.5, 0.01]), 51, 25) is not None


def test_biquads_without_pyav_say_what_to_install(monkeypatch):
    import sys

    from audio.errors import EncodeError

    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    with pytest.raises(EncodeError, match=r"^PyAV is missing: pip install av$"):
        Biquads(k_weighting_sos(22050), 22050)
