"""Stage 5 (quality): the pitch (F0) of a voice, by YIN on numpy.

Two voices are easy to tell apart when their pitch differs, so `episode
verify --quality` reports each speaker's median F0.  YIN (de Cheveigné and
Kawahara, 2002): per frame, the cumulative-mean-normalised difference
function; the first lag below a threshold, refined by a parabola, is the
period.  A frame is voiced when such a lag exists and the frame is not
much quieter than the speech around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PitchSettings:
    # Adult speech lies within 60-400 Hz: a man's voice seldom under 70 Hz,
    # a woman's seldom over 350 Hz.
    min_f0_hz: float = 60.0
    max_f0_hz: float = 400.0
    window_ms: float = 25.0  # longer than the longest period searched (16.7 ms at 60 Hz)
    hop_ms: float = 10.0
    # YIN's absolute threshold on the normalised difference: the paper's
    # 0.1-0.15; higher accepts breathier frames and more octave errors.
    threshold: float = 0.15
    # Frames this far below the loud frames (95th percentile of RMS) are
    # pauses and breaths, whatever YIN finds in them.
    quiet_below_db: float = 30.0


_CHUNK_FRAMES = 2048  # frames per FFT batch: bounds memory on an hour of audio


def f0_track_hz(samples: np.ndarray, rate_hz: int, settings: PitchSettings = PitchSettings()) -> np.ndarray:
    """F0 per frame (every ``hop_ms``) in Hz; NaN where the frame is unvoiced."""
    x = np.asarray(samples, dtype=np.float64)
    window = int(round(rate_hz * settings.window_ms / 1000))
    hop = max(1, int(round(rate_hz * settings.hop_ms / 1000)))
    min_lag = max(2, int(np.floor(rate_hz / settings.max_f0_hz)))
    max_lag = int(np.ceil(rate_hz / settings.min_f0_hz))
    span = window + max_lag + 1
    if len(x) < span:
        return np.full(0, np.nan)
    frames = np.lib.stride_tricks.sliding_window_view(x, span)[::hop]
    rms = np.sqrt(np.mean(np.square(frames[:, :window]), axis=1))
    loud = np.percentile(rms, 95) if len(rms) else 0.0
    floor = max(loud * 10 ** (-settings.quiet_below_db / 20), 1e-5)
    out = np.full(len(frames), np.nan)
    nfft = 1 << (span - 1).bit_length()
    lags = np.arange(max_lag + 2)
    for first in range(0, len(frames), _CHUNK_FRAMES):
        chunk = frames[first:first + _CHUNK_FRAMES]
        out[first:first + len(chunk)] = _yin(chunk, window, min_lag, max_lag, nfft, lags, rate_hz,
                                             settings.threshold)
    out[rms < floor] = np.nan
    return out


def _yin(frames: np.ndarray, window: int, min_lag: int, max_lag: int, nfft: int, lags: np.ndarray,
         rate_hz: int, threshold: float) -> np.ndarray:
    n_lags = max_lag + 2
    # r[tau] = sum_{j<W} x[j] x[j+tau], by FFT: no wrap-around, since j+tau < span <= nfft.
    head = np.fft.rfft(frames[:, :window], nfft)
    whole = np.fft.rfft(frames, nfft)
    r = np.fft.irfft(np.conj(head) * whole, nfft)[:, :n_lags]
    energy = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(np.square(frames), axis=1)], axis=1)
    e_lag = energy[:, lags + window] - energy[:, lags]  # sum_{j=tau}^{tau+W-1} x[j]^2
    d = np.maximum(e_lag[:, :1] + e_lag - 2 * r, 0.0)
    # Cumulative mean normalised difference: d'(0) = 1, d'(tau) = d(tau) * tau / sum_{k<=tau} d(k).
    cum = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        cmnd[:, 1:] = np.where(cum > 0, d[:, 1:] * lags[1:] / cum, 1.0)
    below = cmnd[:, min_lag:max_lag + 1] < threshold
    voiced = below.any(axis=1)
    first = min_lag + np.argmax(below, axis=1)
    # From the first lag under the threshold, down to the bottom of its dip:
    # the first lag after which the curve rises again.
    rising = cmnd[:, 1:] >= cmnd[:, :-1]  # rising[:, t]: cmnd[t + 1] >= cmnd[t]
    rising[:, max_lag] = True
    rising &= lags[None, :-1] >= first[:, None]
    tau = np.argmax(rising, axis=1)
    rows = np.arange(len(frames))
    a, b, c = cmnd[rows, tau - 1], cmnd[rows, tau], cmnd[rows, tau + 1]
    denom = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(denom > 0, 0.5 * (a - c) / denom, 0.0)  # the parabola's vertex
    f0 = rate_hz / (tau + np.clip(shift, -0.5, 0.5))
    f0[~voiced] = np.nan
    return f0


def median_f0_hz(samples: np.ndarray, rate_hz: int, settings: PitchSettings = PitchSettings()) -> float | None:
    """The median F0 over the voiced frames, or None when too few frames are voiced.

    Fewer than ten voiced frames (0.1 s of voice) says nothing about a speaker.
    """
    track = f0_track_hz(samples, rate_hz, settings)
    voiced = track[~np.isnan(track)]
    return float(np.median(voiced)) if len(voiced) >= 10 else None
