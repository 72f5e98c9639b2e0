"""Mastering: each turn levelled as heard after encoding, parts joined with exact timing, the part cache."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pyloudnorm
import pytest

from audio.encode import OUTPUT_RATE_HZ, concat_mp3, count_frames, decode, encode_mp3
from audio.master import MasteringTargets, join_offsets, master_turns, parts_of

RATE = 22050


def _speechlike(seconds: float, seed: int, lead_s: float = 0.3) -> np.ndarray:
    """Noise in syllable-long bursts with a pitch-like buzz, after a silent lead: int16."""
    rng = np.random.default_rng(seed)
    n = int(RATE * seconds)
    t = np.arange(n) / RATE
    envelope = (np.sin(2 * np.pi * 3.1 * t) > -0.2) * (t >= lead_s)
    buzz = np.sign(np.sin(2 * np.pi * 120 * t)) * 0.3 + rng.normal(0, 0.2, n)
    return (np.clip(buzz * envelope * 0.4, -1, 1) * 32767).astype(np.int16)


def _burst_at(seconds: float, burst_s: float) -> np.ndarray:
    x = np.zeros(int(RATE * seconds), dtype=np.float32)
    a = int(RATE * burst_s)
    x[a:a + RATE // 10] = 0.5 * np.sin(2 * np.pi * 440 * np.arange(RATE // 10) / RATE)
    return x


def _onsets_ms(x: np.ndarray, rate: int) -> list[int]:
    loud = np.abs(x) > 0.05
    starts = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
    keep = [s for n, s in enumerate(starts) if n == 0 or s - starts[n - 1] > rate // 20]
    return [round(s * 1000 / rate) for s in keep]


def test_frames_are_counted_as_ffprobe_counts_them(tmp_path):
    mp3 = tmp_path / "a.mp3"
    encode_mp3([_burst_at(3.3, 1.0)], RATE, mp3, bitrate_kbps=64)
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "a:0", "-show_entries",
                            "stream=nb_read_frames", "-of", "json", str(mp3)], capture_output=True, check=True)
    assert count_frames(mp3) == int(json.loads(probe.stdout)["streams"][0]["nb_read_frames"])


def test_joined_parts_are_heard_where_join_offsets_says(tmp_path):
    parts = [(_burst_at(0.7, 0.2), 200), (_burst_at(0.9, 0.3), 300), (_burst_at(0.5, 0.1), 100)]
    paths = []
    for n, (x, _) in enumerate(parts):
        paths.append(tmp_path / f"{n}.mp3")
        encode_mp3([x], RATE, paths[-1], bitrate_kbps=64)
    joined = tmp_path / "joined.mp3"
    concat_mp3(paths, joined)
    offsets = join_offsets([count_frames(p) for p in paths])
    heard = _onsets_ms(decode(joined, OUTPUT_RATE_HZ), OUTPUT_RATE_HZ)
    expected = [o + burst_ms for o, (_, burst_ms) in zip(offsets, parts)]
    assert len(heard) == 3
    assert all(abs(h - e) <= 2 for h, e in zip(heard, expected)), (heard, expected)
    assert offsets[1] >= 700  # a join only adds time, never overlaps


@pytest.fixture
def two_turns():
    a, b = _speechlike(4.0, 1), _speechlike(6.0, 2)
    b = (b * 0.25).astype(np.int16)  # a quiet guest: the turn is levelled on its own
    return np.concatenate([a, b]), [0, len(a)]


def test_turns_meet_the_targets_as_heard(tmp_path, two_turns):
    samples, starts = two_turns
    out = tmp_path / "ep.mp3"
    targets = MasteringTargets(-16.0, -1.0, 64)
    result = master_turns(samples, RATE, starts, out, targets, cache_dir=tmp_path / "cache")
    assert result.offsets_ms[1] == round(starts[1] * 1000 / RATE)  # one part: no join between the turns
    decoded = decode(out, OUTPUT_RATE_HZ).astype(np.float64)
    measured = pyloudnorm.Meter(OUTPUT_RATE_HZ).integrated_loudness(decoded)
    assert measured == pytest.approx(-16.0, abs=0.5)
    assert result.loudness.integrated_lufs == pytest.approx(measured, abs=0.05)
    assert result.loudness.true_peak_dbtp <= -1.0
    second = decoded[int(result.offsets_ms[1] * OUTPUT_RATE_HZ / 1000):]
    assert pyloudnorm.Meter(OUTPUT_RATE_HZ).integrated_loudness(second) == pytest.approx(-16.0, abs=0.5)
    assert (result.encoded, result.from_cache) == (2, 0)


def test_turns_are_encoded_in_parts_of_at_least_the_minimum():
    rate = 10
    starts = [0, 50, 80, 300, 320, 330]  # turns of 5, 3, 22, 2, 1 and 7 s (the episode is 400 samples)
    assert parts_of(starts, 400, rate, 20) == [[0, 1, 2], [3, 4, 5]]
    assert parts_of(starts, 400, rate, 0) == [[0], [1], [2], [3], [4], [5]]
    assert parts_of([0], 400, rate, 20) == [[0]]


def test_cached_parts_give_the_same_file_and_damage_is_remade(tmp_path, two_turns, caplog):
    samples, starts = two_turns
    targets = MasteringTargets()
    cache = tmp_path / "cache"
    cold = master_turns(samples, RATE, starts, tmp_path / "cold.mp3", targets, cache_dir=cache, min_part_s=0)
    assert cold.offsets_ms[1] > round(starts[1] * 1000 / RATE)  # two parts: the join adds a little time
    warm = master_turns(samples, RATE, starts, tmp_path / "warm.mp3", targets, cache_dir=cache, min_part_s=0)
    assert (warm.encoded, warm.from_cache) == (0, 2)
    assert (tmp_path / "warm.mp3").read_bytes() == (tmp_path / "cold.mp3").read_bytes()
    victim = sorted(cache.glob("*.mp3"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    again = master_turns(samples, RATE, starts, tmp_path / "again.mp3", targets, cache_dir=cache, min_part_s=0)
    assert (again.encoded, again.from_cache) == (1, 1)
    assert "damaged" in caplog.text
    assert (tmp_path / "again.mp3").read_bytes() == (tmp_path / "cold.mp3").read_bytes()


def test_one_encoder_process_writes_each_parts_own_bytes(tmp_path):
    """PartsEncoder's MP3s are byte for byte those of one ffmpeg process a part."""
    from audio.encode import PartsEncoder

    parts = [_speechlike(2.3, 1).astype(np.float32) / 32768, _burst_at(0.9, 0.3), _speechlike(1.01, 2) / 32768.0]
    alone = []
    for n, x in enumerate(parts):
        alone.append(tmp_path / f"alone{n}.mp3")
        encode_mp3([x], RATE, alone[-1], bitrate_kbps=64)
    shared = [tmp_path / f"shared{n}.mp3" for n in range(len(parts))]
    with PartsEncoder([len(x) for x in parts], RATE, shared, bitrate_kbps=64) as encoder:
        stream = np.concatenate(parts).astype(np.float32)
        for cut in range(0, len(stream), 5000):  # chunks across the parts' bounds
            encoder.write(stream[cut:cut + 5000])
    assert [p.read_bytes() for p in shared] == [p.read_bytes() for p in alone]


def test_parts_mastered_together_are_parts_mastered_alone(tmp_path):
    """master_parts (first passes through one encoder) gives master_part's MP3s, gains and measurements."""
    from audio.masterpart import PartJob, master_part, master_parts

    targets = MasteringTargets(-16.0, -1.0, 64)
    parts = [(np.concatenate([_speechlike(3.0, 3), _speechlike(2.0, 4)]), (0, RATE * 3)),
             (_speechlike(2.5, 5), (0,)), (_speechlike(1.5, 6) // 8, (0,))]
    jobs = [PartJob(x, starts, tmp_path / f"together{n}.mp3") for n, (x, starts) in enumerate(parts)]
    together = master_parts(jobs, RATE, targets)
    for n, ((x, starts), made) in enumerate(zip(parts, together, strict=True)):
        alone = master_part(x, RATE, list(starts), targets, tmp_path / f"alone{n}.mp3")
        assert made.mp3.read_bytes() == alone.mp3.read_bytes()
        assert (made.frames, made.true_peak_dbtp, made.gains_db, made.ceilings_db) == \
            (alone.frames, alone.true_peak_dbtp, alone.gains_db, alone.ceilings_db)
        assert np.array_equal(made.energies, alone.energies)


def test_an_encoder_process_that_fails_says_so(tmp_path):
    from audio.encode import PartsEncoder
    from audio.errors import EncodeError

    with pytest.raises(EncodeError, match="ffmpeg failed encoding MP3"):
        with PartsEncoder([100, 100], RATE, [tmp_path / "a.mp3", tmp_path / "no" / "such" / "b.mp3"],
                          bitrate_kbps=64) as encoder:
            encoder.write(np.zeros(200, np.float32))


def test_decoding_in_process_gives_the_ffmpeg_programs_samples_in_pieces(tmp_path):
    """The part checks decode in a filter graph; what they meter is what ffmpeg itself decodes."""
    from audio.encode import decode_in_process
    from audio.errors import EncodeError

    mp3 = tmp_path / "a.mp3"
    encode_mp3([_speechlike(23.0, 5).astype(np.float32) / 32768], RATE, mp3, bitrate_kbps=64)
    pieces = list(decode_in_process(mp3, piece_samples=OUTPUT_RATE_HZ * 5))
    assert {len(p) for p in pieces[:-1]} == {OUTPUT_RATE_HZ * 5} and 0 < len(pieces[-1]) <= OUTPUT_RATE_HZ * 5
    assert np.array_equal(np.concatenate(pieces), decode(mp3))
    with pytest.raises(EncodeError, match=r"^cannot decode b\.mp3: no such file$"):
        list(decode_in_process(tmp_path / "b.mp3"))
    (tmp_path / "c.mp3").write_bytes(b"not an mp3 at all" * 100)
    with pytest.raises(EncodeError, match=r"^cannot decode c\.mp3: "):
        list(decode_in_process(tmp_path / "c.mp3"))
