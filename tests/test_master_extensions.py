"""Mastering's extension points: a sound layer mixed before the limiter, and the master's PCM."""

from __future__ import annotations

import json

import numpy as np
import pyloudnorm
import pytest
from scipy.io import wavfile
from scipy.signal import resample_poly

from audio.encode import OUTPUT_RATE_HZ, SAMPLES_PER_FRAME, decode, encode_mp3
from audio.master import MasteringTargets, master_turns

RATE = 22050
TARGETS = MasteringTargets(-16.0, -1.0, 64)


def _speechlike(seconds: float, seed: int, rate: int = RATE, lead_s: float = 0.4) -> np.ndarray:
    """Syllable-long bursts of a buzz with noise after a silent lead, int16 (as in test_master)."""
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    t = np.arange(n) / rate
    envelope = (np.sin(2 * np.pi * 3.1 * t) > -0.2) * (t >= lead_s)
    buzz = np.sign(np.sin(2 * np.pi * 120 * t)) * 0.3 + rng.normal(0, 0.2, n)
    return (np.clip(buzz * envelope * 0.4, -1, 1) * 32767).astype(np.int16)


class Tone:
    """A sine under the speech from *from_sample* of the timeline on: the simplest sound layer."""

    def __init__(self, amplitude: float, hz: float = 440.0, from_sample: int = 0):
        self.amplitude, self.hz, self.from_sample = amplitude, hz, from_sample
        self.calls: list[tuple[int, int]] = []

    def key(self, start_sample: int, end_sample: int) -> str:
        if end_sample <= self.from_sample:
            return ""
        return f"tone {self.hz} Hz x{self.amplitude} from {max(start_sample, self.from_sample)} to {end_sample}"

    def mix(self, levelled: np.ndarray, start_sample: int, rate_hz: int) -> np.ndarray:
        self.calls.append((start_sample, len(levelled)))
        t = start_sample + np.arange(len(levelled))
        tone = self.amplitude * np.sin(2 * np.pi * self.hz * t / rate_hz) * (t >= self.from_sample)
        return (levelled + tone).astype(np.float32)


def _tone_amplitude(x: np.ndarray, rate: int, hz: float, start_s: float, end_s: float) -> float:
    """The amplitude of the *hz* component of *x* between two times (a least-squares fit of sin and cos)."""
    a, b = int(start_s * rate), int(end_s * rate)
    t = np.arange(a, b) / rate
    basis = np.stack([np.sin(2 * np.pi * hz * t), np.cos(2 * np.pi * hz * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, x[a:b].astype(np.float64), rcond=None)
    return float(np.hypot(*coef))


@pytest.fixture(scope="module")
def episode():
    a, b = _speechlike(4.0, 1), (_speechlike(6.0, 2) * 0.25).astype(np.int16)
    return np.concatenate([a, b]), [0, len(a)]


@pytest.fixture(scope="module")
def plain(tmp_path_factory, episode):
    """The episode mastered without a layer, one part per turn, with its cache."""
    samples, starts = episode
    folder = tmp_path_factory.mktemp("plain")
    result = master_turns(samples, RATE, starts, folder / "plain.mp3", TARGETS, cache_dir=folder / "cache",
                          min_part_s=0)
    return result, folder


@pytest.fixture(scope="module")
def toned(tmp_path_factory, episode):
    """The episode with a -20 dBFS tone under all of it: enough to move each turn's loudness 0.5 LU."""
    samples, starts = episode
    folder = tmp_path_factory.mktemp("toned")
    layer = Tone(0.1)
    result = master_turns(samples, RATE, starts, folder / "toned.mp3", TARGETS, cache_dir=folder / "cache",
                          min_part_s=0, layer=layer)
    return result, folder, layer


def test_the_mix_is_in_the_mp3_levelled_and_limited(episode, plain, toned):
    samples, starts = episode
    result, folder, layer = toned
    decoded = decode(folder / "toned.mp3", OUTPUT_RATE_HZ)
    without = decode(plain[1] / "plain.mp3", OUTPUT_RATE_HZ)
    # In each turn's silent lead the tone is heard at its own level: mixed after the gain, not levelled with it
    for k, start_ms in enumerate(result.offsets_ms):
        lead = (start_ms / 1000 + 0.05, start_ms / 1000 + 0.35)
        assert _tone_amplitude(decoded, OUTPUT_RATE_HZ, 440, *lead) == pytest.approx(0.1, rel=0.12), k
        assert _tone_amplitude(without, OUTPUT_RATE_HZ, 440, *lead) < 0.002
    # ... and the targets hold for the mix, measured by pyloudnorm and by 4x oversampling
    meter = pyloudnorm.Meter(OUTPUT_RATE_HZ)
    assert meter.integrated_loudness(decoded.astype(np.float64)) == pytest.approx(-16.0, abs=0.5)
    second = decoded[round(result.offsets_ms[1] * OUTPUT_RATE_HZ / 1000):]
    assert meter.integrated_loudness(second.astype(np.float64)) == pytest.approx(-16.0, abs=0.5)
    assert 20 * np.log10(np.abs(resample_poly(decoded, 4, 1)).max()) <= -1.0 + 0.05
    assert result.loudness.true_peak_dbtp <= -1.0
    # the tone adds loudness, so the speech under it got less gain than without it
    assert result.loudness.integrated_lufs == pytest.approx(-16.0, abs=0.5)
    quiet = np.abs(decoded[int(0.5 * OUTPUT_RATE_HZ):]).max()
    assert quiet <= 10 ** (-1.0 / 20)
    # the layer saw each turn whole, with its place on the timeline
    assert sorted(set(layer.calls)) == [(0, starts[1]), (starts[1], len(samples) - starts[1])]


def test_a_layer_that_adds_nothing_changes_nothing(tmp_path, episode, plain):
    samples, starts = episode
    silent = Tone(0.1, from_sample=len(samples))  # starts after the end: its key is "" everywhere
    result = master_turns(samples, RATE, starts, tmp_path / "silent.mp3", TARGETS, cache_dir=plain[1] / "cache",
                          min_part_s=0, layer=silent)
    assert (result.encoded, result.from_cache) == (0, 2)  # the same cache keys as without a layer
    assert (tmp_path / "silent.mp3").read_bytes() == (plain[1] / "plain.mp3").read_bytes()
    assert silent.calls == []


def test_the_layer_joins_the_cache_key_of_the_parts_it_covers(tmp_path, episode, plain):
    samples, starts = episode
    cache = plain[1] / "cache"
    second_only = Tone(0.05, from_sample=starts[1] + RATE)
    first = master_turns(samples, RATE, starts, tmp_path / "a.mp3", TARGETS, cache_dir=cache, min_part_s=0,
                         layer=second_only)
    assert (first.encoded, first.from_cache) == (1, 1)  # the first turn's part is the plain one
    again = master_turns(samples, RATE, starts, tmp_path / "b.mp3", TARGETS, cache_dir=cache, min_part_s=0,
                         layer=Tone(0.05, from_sample=starts[1] + RATE))
    assert (again.encoded, again.from_cache) == (0, 2)
    assert (tmp_path / "b.mp3").read_bytes() == (tmp_path / "a.mp3").read_bytes()
    louder = master_turns(samples, RATE, starts, tmp_path / "c.mp3", TARGETS, cache_dir=cache, min_part_s=0,
                          layer=Tone(0.07, from_sample=starts[1] + RATE))
    assert (louder.encoded, louder.from_cache) == (1, 1)
    heard = decode(tmp_path / "c.mp3", OUTPUT_RATE_HZ)
    at = louder.offsets_ms[1] / 1000
    assert _tone_amplitude(heard, OUTPUT_RATE_HZ, 440, at + 1.02, at + 1.3) > 0.06  # after the tone starts
    assert _tone_amplitude(heard, OUTPUT_RATE_HZ, 440, at + 0.05, at + 0.35) < 0.002  # before it


def _bursts(rate: int) -> tuple[np.ndarray, list[int], list[float]]:
    """Three turns of different lengths, each a tone burst at a known time after its start."""
    turns, starts, bursts = [], [], []
    for seconds, burst_s in ((1.3, 0.4), (0.9, 0.2), (2.1, 1.5)):
        x = np.zeros(int(rate * seconds), dtype=np.float32)
        a = int(rate * burst_s)
        x[a:a + rate // 5] = 0.3 * np.sin(2 * np.pi * 300 * np.arange(rate // 5) / rate)
        starts.append(sum(len(t) for t in turns))
        bursts.append(starts[-1] / rate + burst_s)
        turns.append((x * 32767).astype(np.int16))
    return np.concatenate(turns), starts, bursts


def _onsets_s(x: np.ndarray, rate: int, threshold: float) -> list[float]:
    loud = np.abs(x) > threshold
    rises = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
    return [s / rate for n, s in enumerate(rises) if n == 0 or s - rises[n - 1] > rate // 10]


@pytest.mark.parametrize("rate", [22050, 24000])  # 24 kHz: an MP3 frame is not a whole number of samples
def test_the_master_pcm_is_the_encoders_input_on_the_mp3s_timeline(tmp_path, rate):
    samples, starts, _ = _bursts(rate)
    cache = tmp_path / "cache"
    result = master_turns(samples, rate, starts, tmp_path / "ep.mp3", TARGETS, cache_dir=cache, min_part_s=0,
                          pcm=tmp_path / "master.wav")
    assert result.pcm == tmp_path / "master.wav"
    got_rate, pcm = wavfile.read(tmp_path / "master.wav")
    assert got_rate == rate and pcm.dtype == np.float32
    frames = result.part_frames
    assert sorted(frames) == sorted(json.loads(p.read_text())["frames"] for p in cache.glob("*.json"))
    assert len(pcm) == round(sum(frames) * SAMPLES_PER_FRAME * rate / OUTPUT_RATE_HZ)
    # every burst is where the decoded MP3 has it, to a millisecond
    heard = _onsets_s(decode(tmp_path / "ep.mp3", OUTPUT_RATE_HZ), OUTPUT_RATE_HZ, 0.1)
    placed = _onsets_s(pcm, rate, 0.1)
    assert len(heard) == len(placed) == 3
    assert all(abs(h - p) <= 0.001 for h, p in zip(heard, placed)), (heard, placed)
    # ... and each part's samples are exactly what its encoder had: encoded again, they give its MP3
    ends = [*starts[1:], len(samples)]
    for k in range(3):
        at = round(sum(frames[:k]) * SAMPLES_PER_FRAME * rate / OUTPUT_RATE_HZ)
        encode_mp3([pcm[at:at + ends[k] - starts[k]]], rate, tmp_path / f"again-{k}.mp3", bitrate_kbps=64)
        again = (tmp_path / f"again-{k}.mp3").read_bytes()
        assert any(p.read_bytes() == again for p in cache.glob("*.mp3")), k
    # from the cache, where the levelled samples were kept: the same file
    assert len(list(cache.glob("*.f32"))) == 3
    warm = master_turns(samples, rate, starts, tmp_path / "warm.mp3", TARGETS, cache_dir=cache, min_part_s=0,
                        pcm=tmp_path / "warm.wav")
    assert (warm.encoded, warm.from_cache) == (0, 3)
    assert (tmp_path / "warm.wav").read_bytes() == (tmp_path / "master.wav").read_bytes()


def test_the_master_pcm_holds_the_mix_from_the_cache_too(tmp_path, episode, toned):
    samples, starts = episode
    _, folder, _ = toned
    cold = master_turns(samples, RATE, starts, tmp_path / "cold.mp3", TARGETS, cache_dir=tmp_path / "cache",
                        min_part_s=0, layer=Tone(0.1), pcm=tmp_path / "cold.wav")
    warm = master_turns(samples, RATE, starts, tmp_path / "warm.mp3", TARGETS, cache_dir=folder / "cache",
                        min_part_s=0, layer=Tone(0.1), pcm=tmp_path / "warm.wav")
    assert (cold.encoded, warm.from_cache) == (2, 2)
    assert (tmp_path / "warm.wav").read_bytes() == (tmp_path / "cold.wav").read_bytes()
    _, pcm = wavfile.read(tmp_path / "warm.wav")
    assert _tone_amplitude(pcm, RATE, 440, 0.05, 0.35) == pytest.approx(0.1, rel=0.02)
    # the limiter saw the mix: speech peaks plus the tone stay under its ceiling (-1 dBTP - 1.5 dB)
    assert 20 * np.log10(np.abs(pcm).max()) <= -2.5 + 0.05


def test_a_cached_part_without_gains_is_made_again_for_the_pcm(tmp_path, episode):
    samples, starts = episode
    cache = tmp_path / "cache"
    master_turns(samples, RATE, starts, tmp_path / "a.mp3", TARGETS, cache_dir=cache, min_part_s=0)
    victim = sorted(cache.glob("*.json"))[0]
    info = json.loads(victim.read_text())
    del info["gains_db"], info["ceilings_db"]  # as parts cached before the gains were kept
    victim.write_text(json.dumps(info))
    mp3_only = master_turns(samples, RATE, starts, tmp_path / "b.mp3", TARGETS, cache_dir=cache, min_part_s=0)
    assert mp3_only.encoded == 0
    with_pcm = master_turns(samples, RATE, starts, tmp_path / "c.mp3", TARGETS, cache_dir=cache, min_part_s=0,
                            pcm=tmp_path / "c.wav")
    assert (with_pcm.encoded, with_pcm.from_cache) == (1, 1)
    assert (tmp_path / "c.mp3").read_bytes() == (tmp_path / "a.mp3").read_bytes()


def test_parts_cached_without_their_pcm_are_levelled_again_from_their_gains(tmp_path, episode, plain):
    samples, starts = episode
    fresh = master_turns(samples, RATE, starts, tmp_path / "fresh.mp3", TARGETS, cache_dir=tmp_path / "cache",
                         min_part_s=0, pcm=tmp_path / "fresh.wav")
    cache = plain[1] / "cache"  # made by a render that wanted only the MP3: no levelled samples kept
    assert fresh.encoded == 2 and not list(cache.glob("*.f32"))
    again = master_turns(samples, RATE, starts, tmp_path / "again.mp3", TARGETS, cache_dir=cache, min_part_s=0,
                         pcm=tmp_path / "again.wav")
    assert (again.encoded, again.from_cache) == (0, 2)
    assert (tmp_path / "again.wav").read_bytes() == (tmp_path / "fresh.wav").read_bytes()
    kept = sorted(cache.glob("*.f32"))
    assert len(kept) == 2  # ... and kept now, for the next render
    data = bytearray(kept[0].read_bytes())
    data[100] ^= 0x40
    kept[0].write_bytes(bytes(data))
    damaged = master_turns(samples, RATE, starts, tmp_path / "damaged.mp3", TARGETS, cache_dir=cache,
                           min_part_s=0, pcm=tmp_path / "damaged.wav")
    assert damaged.encoded == 0
    assert (tmp_path / "damaged.wav").read_bytes() == (tmp_path / "fresh.wav").read_bytes()
