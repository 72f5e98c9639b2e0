"""Stage 3b: loudness to a podcast target (ITU-R BS.1770, as pyloudnorm measures it).

Gain alone would push espeak-ng's sharp peaks over the true-peak ceiling,
so a look-ahead peak limiter holds the sample peak below the ceiling minus
a margin; the margin covers inter-sample peaks and the overshoot the MP3
encoder adds, and mastering re-measures the decoded MP3 to be sure.

Everything works on chunks (30 s) so that a long turn is never held as
float copies: the signal stays int16, levelled audio streams into the
encoder, and the decoded MP3 streams into the meter.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .filters import (Biquads, butterworth_lowpass_sos, k_weighting_sos, lowpass_fir, running_mean, running_min,
                      sparse_min_then_mean)

log = logging.getLogger(__name__)

TRUE_PEAK_OVERSAMPLING = 4  # BS.1770-4 Annex 2
_CANDIDATE_RATIO = 10 ** (-3 / 20)  # samples within 3 dB of the peak are interpolated around
# espeak-ng's glottal pulses put the waveform's peaks 16 dB over its
# loudness, so reaching -16 LUFS takes several dB of peak limiting.  A short
# window (1 ms) acts as a soft clipper; the low-pass after it removes the
# clipping products, which the MP3 encoder otherwise turns into +1.5 dB of
# overshoot (measured here: 1 ms + low-pass kept the decoded true peak
# within 0.1 dB of the limiter; 20 ms without it overshot by 2 dB).
LIMITER_WINDOW_MS = 1.0
BAND_LIMIT_HZ = 8500.0
_CHUNK_S = 30  # measured in chunks to bound memory
_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0
# BS.1770 gating blocks are 400 ms with 75 % overlap (pyloudnorm's defaults):
# energies are kept per 100 ms hop, and four hops make a block.
_HOPS_PER_BLOCK = 4
_GAIN_TRIALS = 6
# LU gained per dB of gain once the limiter works, for the second trial: the
# seed's turns gained 0.51-0.64 (0.7 overshot, so most turns took a third trial).
_FIRST_SLOPE_LU_PER_DB = 0.55


def _hop(rate_hz: int) -> int:
    return round(rate_hz * 0.1)


@dataclass(frozen=True)
class LoudnessReport:
    integrated_lufs: float
    true_peak_dbtp: float


def _as_float(piece: np.ndarray) -> np.ndarray:
    if piece.dtype == np.int16:
        return piece.astype(np.float32) / np.float32(32768)
    return np.asarray(piece, dtype=np.float32)


def chunks_of(samples: np.ndarray, rate_hz: int) -> Iterator[np.ndarray]:
    """*samples* (int16 or float) as float32 chunks of 30 s."""
    step = rate_hz * _CHUNK_S
    for start in range(0, len(samples), step):
        yield _as_float(samples[start:start + step])


@functools.cache
def _true_peak_phases() -> tuple[np.ndarray, ...]:
    # A 48-tap interpolation filter, 12 taps a phase, as BS.1770-4 Annex 2
    # describes; each phase yields one of the four oversampled points.
    taps = lowpass_fir(12 * TRUE_PEAK_OVERSAMPLING, 1 / TRUE_PEAK_OVERSAMPLING) * TRUE_PEAK_OVERSAMPLING
    return tuple(taps[p::TRUE_PEAK_OVERSAMPLING].astype(np.float32) for p in range(TRUE_PEAK_OVERSAMPLING))


def _peak_of(piece: np.ndarray) -> float:
    """The 4x-oversampled peak of *piece*, interpolated only where it can be.

    An inter-sample peak sits between samples near the piece's own sample
    peak: for band-limited audio it rises well under 3 dB over its
    neighbours.  So only the neighbourhoods of samples within 3 dB of the
    sample peak (about 2% of speech after limiting) are interpolated; the
    result equals interpolating everything (tested).
    """
    magnitude = np.abs(piece)
    peak = float(magnitude.max(initial=0.0))
    if peak == 0.0:
        return 0.0
    phases = np.stack(_true_peak_phases())  # (4, 12)
    taps = phases.shape[1]
    hot = np.flatnonzero(magnitude >= peak * _CANDIDATE_RATIO)
    at = np.unique(np.concatenate([hot - 1, hot, hot + 1]))
    at = at[(at >= 0) & (at < len(piece))]
    # np.convolve(piece, h, "same")[n] == sum_k h[k] * piece[n + (taps - 1) // 2 - k]
    index = at[:, None] + (taps - 1) // 2 - np.arange(taps)[None, :]
    valid = (index >= 0) & (index < len(piece))
    window = np.where(valid, np.asarray(piece, dtype=np.float32)[np.clip(index, 0, len(piece) - 1)], 0.0)
    return max(peak, float(np.abs(window @ phases.T).max(initial=0.0)))


class LoudnessMeter:
    """Integrated loudness (BS.1770-4, mono) and true peak, fed chunk by chunk.

    pyloudnorm's K-weighting filters and gating constants, with vectorised
    100 ms sub-block energies: pyloudnorm's ``integrated_loudness`` loops
    over blocks in Python and copies the whole signal to float64, which is
    slow and large for long episodes.  The tests check that both agree.
    """

    def __init__(self, rate_hz: int, *, true_peak: bool = True):
        self.rate_hz = rate_hz
        self.hop = _hop(rate_hz)
        self.k_weighting = Biquads(k_weighting_sos(rate_hz), rate_hz)
        self.energies: list[np.ndarray] = []
        self.carry = np.zeros(0)
        self.tail = np.zeros(0, dtype=np.float32)  # context for the interpolation filter
        # The true peak (4x oversampling, the costlier half) runs on another
        # thread while this one K-weights the next chunk; numpy releases the GIL.
        self._pool = ThreadPoolExecutor(max_workers=1) if true_peak else None
        self._peaks: list = []

    def add(self, chunk: np.ndarray) -> None:
        x = np.concatenate([self.carry, self.k_weighting(chunk)])
        whole = len(x) // self.hop * self.hop
        self.energies.append(np.square(x[:whole]).reshape(-1, self.hop).sum(axis=1))
        self.carry = x[whole:]
        if self._pool is not None:
            piece = np.concatenate([self.tail, np.asarray(chunk, dtype=np.float32)])
            self._peaks.append(self._pool.submit(_peak_of, piece))
            self.tail = piece[-24:]

    def energy_blocks(self) -> np.ndarray:
        """The K-weighted energy of each 100 ms hop so far (sums of squares)."""
        return np.concatenate(self.energies) if self.energies else np.zeros(0)

    def integrated_lufs(self) -> float:
        return integrated_from_energies(self.energy_blocks(), self.rate_hz)

    def true_peak_dbtp(self) -> float:
        peak = max((f.result() for f in self._peaks), default=0.0)
        if self._pool is not None:
            self._pool.shutdown()
        return 20 * float(np.log10(peak)) if peak > 0 else float("-inf")


def integrated_from_energies(energies: np.ndarray, rate_hz: int) -> float:
    """Gated integrated loudness from 100 ms K-weighted energies (see LoudnessMeter).

    Energies of several signals put end to end give the loudness of the
    signals joined, to within the one partial hop each leaves out.
    """
    hop, per_block = _hop(rate_hz), _HOPS_PER_BLOCK
    if len(energies) < per_block:
        return float("-inf")
    z = np.convolve(energies, np.ones(per_block), mode="valid") / (per_block * hop)
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10 * np.log10(z)
    gated = z[block_lufs >= _ABSOLUTE_GATE_LUFS]
    if gated.size == 0:
        return float("-inf")
    relative_gate = -0.691 + 10 * np.log10(gated.mean()) + _RELATIVE_GATE_LU
    gated = z[(block_lufs > relative_gate) & (block_lufs > _ABSOLUTE_GATE_LUFS)]
    return float(-0.691 + 10 * np.log10(gated.mean())) if gated.size else float("-inf")


def measure_chunks(chunks: Iterable[np.ndarray], rate_hz: int, *, true_peak: bool = True) -> LoudnessReport:
    meter = LoudnessMeter(rate_hz, true_peak=true_peak)
    for chunk in chunks:
        meter.add(chunk)
    return LoudnessReport(integrated_lufs=meter.integrated_lufs(),
                          true_peak_dbtp=meter.true_peak_dbtp() if true_peak else float("nan"))


def measure(samples: np.ndarray, rate_hz: int) -> LoudnessReport:
    """Integrated loudness and true peak of a whole signal."""
    return measure_chunks(chunks_of(samples, rate_hz), rate_hz)


def integrated_lufs(samples: np.ndarray, rate_hz: int) -> float:
    """Integrated loudness in LUFS (gated, BS.1770-4), mono."""
    return measure_chunks(chunks_of(samples, rate_hz), rate_hz, true_peak=False).integrated_lufs


def true_peak_dbtp(samples: np.ndarray, rate_hz: int) -> float:
    """True peak in dBTP: the peak of the 4x oversampled signal."""
    return measure(samples, rate_hz).true_peak_dbtp


def _limiter_width(rate_hz: int) -> int:
    return max(3, int(rate_hz * LIMITER_WINDOW_MS / 1000) | 1)


def limit(samples: np.ndarray, rate_hz: int, ceiling_db: float, sidechain: np.ndarray | None = None) -> np.ndarray:
    """Peak-limit *samples* so that no sample exceeds *ceiling_db* dBFS.

    The gain curve is the per-sample gain needed, spread by a minimum filter
    (look-ahead and hold) and then smoothed by a moving average no wider than
    that spread, so the smoothed gain never exceeds what any sample needs.
    With *sidechain*, the gain is the one *sidechain* needs, applied to
    *samples*: the speech of a mix, limited exactly as it is in the mix.
    """
    ceiling = 10 ** (ceiling_db / 20)
    key = samples if sidechain is None else sidechain
    magnitude = np.abs(key)
    over = magnitude > ceiling
    if not over.any():
        return samples
    at = np.flatnonzero(over)
    width = _limiter_width(rate_hz)
    gain = None
    if at.size * (2 * width + 1) <= len(key):  # sparse: cheaper while few samples are over (0.2% after levelling)
        gain = sparse_min_then_mean(len(key), at, ceiling / magnitude[at], 2 * width + 1, width)
    if gain is None:
        needed = np.ones_like(key)
        needed[over] = ceiling / magnitude[over]
        gain = running_mean(running_min(needed, 2 * width + 1), width)
    out = samples * gain
    if sidechain is None:
        np.clip(out, -ceiling, ceiling, out=out)  # guard the float rounding of the average
    return out.astype(np.float32, copy=False)


def level_chunks(samples: np.ndarray, rate_hz: int, *, gain_db: float,
                 ceiling_db: float, sidechain: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Gain, peak limiter, then low-pass below the MP3 encoder's own, chunk by chunk.

    Each chunk is limited with enough context either side that the result is
    the same as limiting the whole signal at once.  *sidechain* (as long as
    *samples*, gained already) sets the limiter's gain instead (``limit``).
    """
    gain = np.float32(10 ** (gain_db / 20))
    context = 2 * _limiter_width(rate_hz) + 2
    band_limit = Biquads(butterworth_lowpass_sos(8, BAND_LIMIT_HZ, rate_hz), rate_hz) \
        if BAND_LIMIT_HZ < rate_hz / 2 else None
    chunk = rate_hz * _CHUNK_S
    for start in range(0, len(samples), chunk):
        lo, hi = max(0, start - context), min(len(samples), start + chunk + context)
        key = None if sidechain is None else _as_float(sidechain[lo:hi])
        piece = limit(_as_float(samples[lo:hi]) * gain, rate_hz, ceiling_db, key)
        piece = piece[start - lo:start - lo + min(chunk, len(samples) - start)]
        if band_limit is not None:
            piece = band_limit(piece).astype(np.float32)
        yield piece


@dataclass(frozen=True)
class Levelled:
    """What :func:`find_gain` found, with the levelled signal of its last trial when kept."""

    gain_db: float
    integrated_lufs: float
    chunks: tuple[np.ndarray, ...] | None  # level_chunks(samples, gain_db=gain_db, ...), or None


def find_gain(samples: np.ndarray, rate_hz: int, *, target_lufs: float, ceiling_db: float,
              gain_db: float | None = None, keep_max_s: float = 0.0) -> Levelled:
    """The gain that levels *samples* to *target_lufs* with peaks limited to *ceiling_db*.

    Limiting takes back part of any gain (0.5-0.65 LU per dB on the seed), so the
    gain is found by the secant method until the result is within 0.1 LU of
    the target; *gain_db* is a starting guess.  The last trial's levelled
    signal is kept when *samples* last at most *keep_max_s* seconds, so that
    the caller can encode it without levelling again (limiting is the
    costliest step); longer signals keep nothing but numbers.
    """
    if gain_db is None:
        measured = integrated_lufs(samples, rate_hz)
        if not np.isfinite(measured):
            raise ValueError("the signal is silent: loudness cannot be measured")
        gain_db = target_lufs - measured
    keep = len(samples) <= keep_max_s * rate_hz
    previous: tuple[float, float] | None = None
    for trial in range(_GAIN_TRIALS):
        if trial:  # the next guess, from the slope so far
            slope = _FIRST_SLOPE_LU_PER_DB
            if previous is not None and abs(gain_db - previous[0]) > 1e-3:
                slope = min(1.0, max(0.2, (now - previous[1]) / (gain_db - previous[0])))
            previous = (gain_db, now)
            gain_db += (target_lufs - now) / slope
        chunks = level_chunks(samples, rate_hz, gain_db=gain_db, ceiling_db=ceiling_db)
        kept = tuple(chunks) if keep else None
        now = measure_chunks(kept if keep else chunks, rate_hz, true_peak=False).integrated_lufs
        log.debug("gain %.2f dB -> %.2f LUFS", gain_db, now)
        if abs(now - target_lufs) <= 0.1:
            break
    # the gain returned is always the one last measured (and kept)
    return Levelled(gain_db=gain_db, integrated_lufs=now, chunks=kept)
