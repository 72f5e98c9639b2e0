"""The few filters levelling and metering need: numpy, and FFmpeg's biquad through PyAV.

scipy.signal (which pyloudnorm imports) and scipy.ndimage took about 1 s of
CPU to import in every render; a warm re-render after a one-answer edit
spent half its time on it (2.06 s, now 1.61 s).  What the render used from
them is small, so it is here instead, and the tests check each piece against
scipy and pyloudnorm: the K-weighting and Butterworth designs, a
Hamming-windowed FIR, running minimum and mean, and second-order sections
run by libavfilter's ``biquad`` in double precision (it releases the GIL,
as scipy's ``sosfilt`` did, so mastering threads still use every core).
"""

from __future__ import annotations

import math

import numpy as np

from .errors import EncodeError

FRAME_SAMPLES = 16384  # frames pushed through a Biquads graph; even (see Biquads.__call__)
# Added to every sample a Biquads graph is given, so that no section's state
# decays into subnormal numbers in silence (see Biquads.__call__): half the
# smallest float64 that changes a sample of 1e-184 or more, and a period of
# two samples, so that it has a DC part for low-passes and a Nyquist part
# for high-passes, and neither kind can filter it away.
_KEEP_NORMAL = np.tile(np.array([2e-200, 0.0]), FRAME_SAMPLES // 2)


def _rbj(kind: str, gain_db: float, q: float, freq_hz: float, rate_hz: int) -> list[float]:
    """One biquad from the Audio EQ Cookbook (R. Bristow-Johnson), as b0 b1 b2 a0 a1 a2 with a0 = 1."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * freq_hz / rate_hz
    cos, alpha = math.cos(w0), math.sin(w0) / (2 * q)
    if kind == "high_shelf":
        root = 2 * math.sqrt(a) * alpha
        b = [a * ((a + 1) + (a - 1) * cos + root), -2 * a * ((a - 1) + (a + 1) * cos),
             a * ((a + 1) + (a - 1) * cos - root)]
        den = [(a + 1) - (a - 1) * cos + root, 2 * ((a - 1) - (a + 1) * cos), (a + 1) - (a - 1) * cos - root]
    elif kind == "high_pass":
        b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
        den = [1 + alpha, -2 * cos, 1 - alpha]
    elif kind == "low_pass":
        b = [(1 - cos) / 2, 1 - cos, (1 - cos) / 2]
        den = [1 + alpha, -2 * cos, 1 - alpha]
    else:
        raise ValueError(f"unknown biquad kind {kind!r}")
    return [v / den[0] for v in (*b, *den)]


def k_weighting_sos(rate_hz: int) -> np.ndarray:
    """BS.1770's K-weighting as pyloudnorm designs it: a +4 dB shelf at 1500 Hz, a 38 Hz high-pass."""
    return np.array([_rbj("high_shelf", 4.0, 1 / math.sqrt(2), 1500.0, rate_hz),
                     _rbj("high_pass", 0.0, 0.5, 38.0, rate_hz)])


def butterworth_lowpass_sos(order: int, cutoff_hz: float, rate_hz: int) -> np.ndarray:
    """An even-order Butterworth low-pass as second-order sections.

    Each section is the cookbook low-pass with one pole pair's Q: the
    bilinear transform prewarped at the cutoff, as ``scipy.signal.butter``
    makes it (the same response; the gain is spread over the sections).
    """
    if order % 2 or order <= 0:
        raise ValueError("the Butterworth order must be even and positive")
    return np.array([_rbj("low_pass", 0.0, 1 / (2 * math.cos((2 * k - 1) * math.pi / (2 * order))), cutoff_hz,
                          rate_hz) for k in range(1, order // 2 + 1)])


def lowpass_fir(taps: int, cutoff: float) -> np.ndarray:
    """A Hamming-windowed sinc low-pass, unity gain at DC (``firwin(taps, cutoff)``; *cutoff* of Nyquist)."""
    m = np.arange(taps) - (taps - 1) / 2
    h = cutoff * np.sinc(cutoff * m) * np.hamming(taps)
    return h / h.sum()


def running_min(x: np.ndarray, size: int) -> np.ndarray:
    """The minimum over a centred window of odd *size*, edges mirrored (``minimum_filter1d``).

    van Herk / Gil-Werman: the minimum of any window is the smaller of a
    suffix minimum in one block of *size* and a prefix minimum in the next.
    """
    if size % 2 == 0:
        raise ValueError("the window size must be odd")
    r, n = size // 2, len(x)
    if n == 0:
        return x.copy()
    padded = np.pad(x, (r, r), mode="symmetric")
    blocks = -(-len(padded) // size)
    fill = np.full(blocks * size - len(padded), np.inf, dtype=padded.dtype)
    grid = np.concatenate([padded, fill]).reshape(blocks, size)
    prefix = np.minimum.accumulate(grid, axis=1).ravel()
    suffix = np.minimum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.minimum(suffix[:n], prefix[size - 1:size - 1 + n])


def running_mean(x: np.ndarray, size: int) -> np.ndarray:
    """The mean over a centred window of odd *size*, edges mirrored (``uniform_filter1d``), in float32."""
    if size % 2 == 0:
        raise ValueError("the window size must be odd")
    r = size // 2
    sums = np.concatenate([[0.0], np.cumsum(np.pad(x, (r, r), mode="symmetric"), dtype=np.float64)])
    return ((sums[size:] - sums[:-size]) / size).astype(np.float32)


class Biquads:
    """Second-order sections (rows of b0 b1 b2 a0 a1 a2) applied to a stream, state kept between calls.

    libavfilter's ``biquad`` in double precision: it agrees with scipy's
    ``sosfilt`` in float64 to within float32 rounding (tested).
    """

    def __init__(self, sos: np.ndarray, rate_hz: int):
        try:
            import av  # a dependency already: the decoder
        except ImportError:
            raise EncodeError("PyAV is missing: pip install av") from None

        self._av = av
        self.rate_hz = rate_hz
        self._graph = av.filter.Graph()
        # One channel gives slice threads nothing to share; a pool of them per
        # graph only competes with the mastering threads (measured: +12% CPU).
        self._graph.threads = 1
        node = self._graph.add_abuffer(format="dbl", sample_rate=rate_hz, layout="mono", time_base=f"1/{rate_hz}")
        for row in np.asarray(sos, dtype=np.float64):
            b0, b1, b2, a0, a1, a2 = (float(v) for v in row)
            section = self._graph.add("biquad", f"b0={b0!r}:b1={b1!r}:b2={b2!r}:a0={a0!r}:a1={a1!r}:a2={a2!r}"
                                                ":precision=f64")
            node.link_to(section)
            node = section
        node.link_to(self._graph.add("abuffersink"))
        self._graph.configure()
        self._pts = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Filter the next *x* of the stream; float64 out, as many samples as went in.

        The samples go in as frames of ``FRAME_SAMPLES``: each section runs
        over a whole frame before the next one starts, and a frame that
        fits in the core's cache is twice as fast through four sections as
        a 30 s chunk (measured here: the band limit 8.0 ms for 30 s at
        24 kHz against 16.5).  The state carries over from frame to frame,
        and libavfilter filters two samples at a time and an odd last one
        apart (in another order of additions), so the frames are of an even
        length but the last: every sample comes out as it did when a call
        was one frame (tested).
        """
        x = np.asarray(x)
        y = np.empty(x.size, dtype=np.float64)
        if x.size == 0:
            return y
        done = 0
        for start in range(0, x.size, FRAME_SAMPLES):
            end = min(start + FRAME_SAMPLES, x.size)
            piece = np.add(x[start:end], _KEEP_NORMAL[:end - start], dtype=np.float64)
            frame = self._av.AudioFrame.from_ndarray(piece[None, :], format="dbl", layout="mono")
            frame.sample_rate, frame.pts = self.rate_hz, self._pts
            self._pts += piece.size
            self._graph.push(frame)
            while True:
                try:
                    got = self._graph.pull()
                except (self._av.BlockingIOError, self._av.EOFError):
                    break
                if done + got.samples > x.size:
                    raise EncodeError(f"the biquad filter returned more than {x.size} samples")
                y[done:done + got.samples] = np.frombuffer(got.planes[0], dtype=np.float64, count=got.samples)
                done += got.samples
        if done != x.size:  # biquad passes each frame straight through; anything else is a bug
            raise EncodeError(f"the biquad filter returned {done} samples for {x.size}")
        return y


def sparse_min_then_mean(n: int, at: np.ndarray, values: np.ndarray, min_size: int, mean_size: int) -> np.ndarray | None:
    """``running_mean(running_min(x, min_size), mean_size)`` for an *x* of ones but ``x[at] = values``.

    The limiter's gain curve (``loudness.limit``): after levelling, 0.2% of
    the samples are over the ceiling, and the gain differs from 1 only near
    them, so the filters run only there, by scatter, instead of over every
    sample (the limiter took 25 ms per 30 s chunk, most of a gain trial).

    Bit for bit what the dense filters give: the minimum is exact however it
    is taken, and ``running_mean``'s float64 window sums of float32 values
    in (0, 1] are exact too, wherever its cumulative sum began, as long as
    no value is so small that its bits fall below a float64 sum of *n*
    terms.  When that could happen (a gain reduction of about 60 dB), or
    the array is too short for one mirror at each edge, this returns None
    and the caller runs the dense filters.
    """
    r_min, r_mean = min_size // 2, mean_size // 2
    values = np.asarray(values, dtype=np.float32)
    if n <= 2 * (r_min + r_mean) + 2 or values.size == 0:
        return None
    smallest = float(values.min())
    # sums reach n + mean_size: their top bit is 2**bits, their bottom 2**(bits - 52)
    bits = (n + mean_size).bit_length()
    if smallest <= 0 or math.floor(math.log2(smallest)) - 23 < bits - 52:
        return None
    lows = np.ones(n, dtype=np.float32)
    src, val = _mirrored(at, values, n, r_min)
    for d in range(-r_min, r_min + 1):
        t = src + d
        keep = (t >= 0) & (t < n)
        np.minimum.at(lows, t[keep], val[keep])
    low = np.flatnonzero(lows < 1)
    src, short = _mirrored(low, 1.0 - lows[low].astype(np.float64), n, r_mean)  # exact: see above
    shortfall = np.zeros(n, dtype=np.float64)
    for d in range(-r_mean, r_mean + 1):
        t = src + d
        keep = (t >= 0) & (t < n)
        np.add.at(shortfall, t[keep], short[keep])
    gain = np.ones(n, dtype=np.float32)
    hit = np.flatnonzero(shortfall)
    gain[hit] = ((mean_size - shortfall[hit]) / mean_size).astype(np.float32)
    return gain


def _mirrored(at: np.ndarray, values: np.ndarray, n: int, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions *at* with their mirror images across each edge (``np.pad``'s "symmetric") within *r*."""
    left, right = at < r, at >= n - r
    return (np.concatenate([at, -at[left] - 1, 2 * n - at[right] - 1]),
            np.concatenate([values, values[left], values[right]]))
