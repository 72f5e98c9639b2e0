"""The render's own filters against scipy and pyloudnorm, which the render no longer imports."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import butter, firwin, sosfilt

from audio.filters import Biquads, butterworth_lowpass_sos, k_weighting_sos, lowpass_fir, running_mean, running_min


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


def test_biquads_without_pyav_say_what_to_install(monkeypatch):
    import sys

    from audio.errors import EncodeError

    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    with pytest.raises(EncodeError, match=r"^PyAV is missing: pip install av$"):
        Biquads(k_weighting_sos(22050), 22050)
