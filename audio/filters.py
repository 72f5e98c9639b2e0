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
        """Filter the next *x* of the stream; float64 out, as many samples as went in."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.size == 0:
            return x
        frame = self._av.AudioFrame.from_ndarray(x[None, :], format="dbl", layout="mono")
        frame.sample_rate, frame.pts = self.rate_hz, self._pts
        self._pts += x.size
        self._graph.push(frame)
        out = []
        while True:
            try:
                got = self._graph.pull()
            except (self._av.BlockingIOError, self._av.EOFError):
                break
            out.append(np.frombuffer(got.planes[0], dtype=np.float64, count=got.samples))
        y = np.concatenate(out) if out else np.zeros(0)
        if y.size != x.size:  # biquad passes each frame straight through; anything else is a bug
            raise EncodeError(f"the biquad filter returned {y.size} samples for {x.size}")
        return y
