"""Panels of up to six: derived neural voices, given out by talk time, distinct, and refused when they run out."""

from __future__ import annotations

import hashlib
import wave
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from audio import engines
from audio.cli import app
from audio.engines import derived
from audio.episode import load_episode
from audio.manifest import Speaker
from audio.pitch import f0_track_hz
from audio.render import RenderOptions, render
from audio.speak import SpeechJob, Synthesizer
from audio.voices import assign_voices, candidates

runner = CliRunner()
HEART, JOE = derived.HEART, derived.JOE
JOE_PACED = f"{JOE}~measured"  # joe as it is given out: at speed 0.9
SIX = [d.voice for d in derived.RANKED]

# a panel: the host, a main panelist who talks most, two others, and a one-line caller
PANEL = """HOST: Welcome to the panel. I'm your host, and today we have five guests. What went wrong with the budget?
ANNA: The numbers never added up. We warned the committee three times, and each time the vote was delayed.
BEN: I agree with most of that. The delay cost us a year.
CARLA: I see it differently. The first estimates were far too optimistic.
DAN: Yes.
ANNA: Let me add one thing. The schools felt it first, and the families felt it most of all, for years.
ERIN: And the towns on the coast even more.
BEN: That's fair.
HOST: Thank you all for joining us today.
"""


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _voices(episode) -> dict[str, str]:
    return {s.name: s.voice for s in episode.manifest.speakers}


@pytest.fixture(scope="module")
def panel(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("panel") / "panel.txt"
    path.write_text(PANEL, encoding="utf-8")
    return path


# ---------------------------------------------------------------- who gets which voice

def test_the_six_natural_voices_come_before_any_espeak_voice():
    pool = [c.voice for c in candidates()]
    assert pool[:6] == SIX
    assert all(v.startswith("pyttsx3:") for v in pool[6:])
    assert [c.voice for c in candidates("hibari")] == [HEART, f"{HEART}~deep", f"{HEART}~deeper"]


def test_voices_go_out_by_talk_time_so_a_one_line_caller_never_takes_a_better_one(panel):
    voices = _voices(load_episode(panel, find_manifest=False))
    # host first; then Anna (most words), Ben, Carla, Erin; Dan's one word comes last
    assert voices == {"Host": HEART, "Anna": JOE_PACED, "Ben": f"{HEART}~deep", "Carla": f"{JOE}~bright",
                      "Erin": f"{HEART}~deeper", "Dan": f"{JOE}~brighter"}


def test_gender_is_honoured_and_never_guessed():
    people = (Speaker("a", "Ann", (), "", gender="male"), Speaker("b", "Bob", (), "", gender="female"),
              Speaker("c", "Cy", (), "", gender="female"))
    chosen = assign_voices(people, words={"a": 30, "b": 20, "c": 10})
    assert [s.voice for s in chosen.speakers] == [JOE_PACED, HEART, f"{HEART}~deep"]
    assert chosen.warnings == ()


def test_a_seventh_speaker_gets_espeak_with_a_warning_naming_them(tmp_path):
    path = tmp_path / "seven.txt"
    path.write_text(PANEL.replace("HOST: Thank you", "FRED: One more word from me.\nHOST: Thank you"),
                    encoding="utf-8")
    episode = load_episode(path, find_manifest=False)
    voices = _voices(episode)
    assert voices["Dan"].startswith("pyttsx3:")  # one word: fewer than Fred's five
    assert [v for v in voices.values() if not v.startswith("pyttsx3:")] == [
        v for v in voices.values() if v in SIX] and len(set(voices.values())) == 7
    assert [w for w in episode.warnings if "espeak-ng" in w] == [
        f"Dan gets the espeak-ng voice {voices['Dan']}: the 6 natural voices are taken by speakers who talk more "
        "(give one a voice in the manifest)"]


def test_init_says_why_each_voice(panel, tmp_path):
    src = tmp_path / "panel.txt"
    src.write_text(PANEL, encoding="utf-8")
    assert run("init", src).exit_code == 0
    text = src.with_suffix(".toml").read_text(encoding="utf-8")
    assert (f'voice = "{JOE_PACED}"  # default voice 2 of 6 natural ones (see `episode voices`): 38 words, '
            "chooses 2nd by talk time; gender not given") in text
    assert (f'voice = "{JOE}~brighter"  # default voice 6 of 6 natural ones (see `episode voices`): 1 word, '
            "chooses 6th by talk time; gender not given") in text
    assert "the host chooses first" in text


def test_inspect_shows_a_derived_voices_own_pitch_and_pace(panel):
    """The speaker's line is what is spoken: the derived voice's settings under the manifest's own."""
    result = run("inspect", panel)
    assert result.exit_code == 0
    assert "  ben          Ben                  guest    hibari:heart~deep @ speed 0.95, -3 st\n" in result.output
    assert "  carla        Carla                guest    piper:en_US-joe-medium~bright @ speed 1.05, +3 st\n" \
        in result.output
    assert "  anna         Anna                 guest    piper:en_US-joe-medium~measured @ speed 0.9\n" in result.output


def test_episode_voices_lists_derived_voices_with_base_and_settings():
    result = run("voices", "--engine", "piper")
    assert result.exit_code == 0
    assert f"  {JOE + '~bright':<34} from {JOE}, pitch_st +3, speed 1.05, male" in result.output
    assert f"   2. {JOE + '~bright':<34} male     Distill-MOS 4.45, DNSMOS 4.28" in result.output


# ---------------------------------------------------------------- refusals: one line, exit 2, nothing written

@pytest.mark.parametrize("voice, message", [
    (f"{HEART}~squeaky", f"Error: unknown derived voice '{HEART}~squeaky' (derived voices of {HEART}: "
                         f"{HEART}~deep, {HEART}~deeper; or {HEART}~pitch_st=-4,speed=0.9)\n"),
    (f"{HEART}~tone=2", f"Error: unknown transform setting 'tone' in voice '{HEART}~tone=2' (settings: pitch_st, "
                        "speed)\n"),
    (f"{HEART}~pitch_st=13", f"Error: pitch_st 13 in voice '{HEART}~pitch_st=13' is outside -12..12 semitones\n"),
    (f"{JOE}~speed=3", f"Error: speed 3 in voice '{JOE}~speed=3' is outside 0.5..2\n"),
    ("pyttsx3:gmw/en-us~deep", "Error: voice 'pyttsx3:gmw/en-us~deep': derived voices are made from the neural "
                               "engines' models; espeak-ng's own variants are VOICE+VARIANT (see `episode voices "
                               "--engine pyttsx3`)\n"),
])
def test_a_bad_derived_voice_is_refused(panel, tmp_path, voice, message):
    out = tmp_path / "p.mp3"
    result = run("render", panel, "-o", out, "--voice", f"ben={voice}")
    assert (result.exit_code, result.stderr) == (2, message)
    assert list(tmp_path.iterdir()) == []


def test_more_speakers_than_one_engines_voices_is_refused(panel, tmp_path):
    out = tmp_path / "p.mp3"
    result = run("render", panel, "-o", out, "--engine", "hibari")
    assert (result.exit_code, result.stderr) == (2, "Error: no distinct hibari voice is left for speaker 'Carla': "
                                                    "hibari has 3 here; give it another engine's voice with "
                                                    "--voice, or render without --engine\n")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- real synthesis

def _clip(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768, w.getframerate()


def _centroid_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float((spectrum * freqs).sum() / spectrum.sum())


def test_each_derived_voice_is_its_model_moved_in_pitch_and_timbre(clip_cache):
    """Distinct without torch: median F0 and spectral centroid of each voice, apart by set margins."""
    text = "The committee met three times last spring, and each meeting ended without a vote at all."
    measured = {}
    with Synthesizer(cache_dir=clip_cache) as synth:
        for voice in [*SIX, HEART, JOE]:
            spec = engines.parse_voice(voice)
            pitch_st, speed = engines.derived_settings(spec)
            (path,) = synth.synthesise([SpeechJob(text, spec.base, speed=speed, pitch_st=pitch_st)])
            x, rate = _clip(path)
            measured[voice] = (float(np.nanmedian(f0_track_hz(x, rate))), _centroid_hz(x, rate), len(x) / rate)
    for d in derived.RANKED:
        if not d.name:
            continue
        (f0, centroid, seconds), (base_f0, base_centroid, base_seconds) = measured[d.voice], measured[d.base]
        # the shift is heard: median F0 within 1.5 semitones of the setting, and the timbre moves with it
        assert abs(12 * np.log2(f0 / base_f0) - d.pitch_st) < 1.5, (d.voice, f0, base_f0)
        if d.pitch_st:
            assert np.sign(centroid - base_centroid) == np.sign(d.pitch_st), (d.voice, centroid, base_centroid)
        # and the pace: a slower voice takes longer to say it (the engines' own duration scale, not a stretch)
        if d.speed != 1:
            assert np.sign(seconds - base_seconds) == np.sign(1 - d.speed), (d.voice, seconds, base_seconds)
    f0s = sorted(f0 for voice, (f0, _, _) in measured.items() if voice in SIX)
    assert min(12 * np.log2(b / a) for a, b in zip(f0s, f0s[1:])) > 0.5  # no two voices at one pitch


@pytest.fixture(scope="module")
def panel_render(panel, tmp_path_factory, clip_cache):
    out = tmp_path_factory.mktemp("panel-out") / "panel.mp3"
    return render(load_episode(panel, find_manifest=False), out, RenderOptions(cache_dir=clip_cache))


def test_a_six_speaker_panel_renders_in_six_natural_voices(panel_render):
    voices = [s.voice for s in panel_render.episode.manifest.speakers]
    assert sorted(voices) == sorted(SIX)
    assert panel_render.episode.warnings == ()
    assert abs(panel_render.loudness.integrated_lufs + 16) < 0.5
    starts = [s.start_ms for s in panel_render.sentences]
    assert starts == sorted(starts) and panel_render.sentences[-1].end_ms <= panel_render.duration_ms


def test_uncached_renders_of_derived_voices_are_byte_identical(panel, tmp_path):
    digests = set()
    for n in range(2):
        out = tmp_path / f"p{n}.mp3"
        render(load_episode(panel, find_manifest=False), out, RenderOptions(use_cache=False))
        digests.add(hashlib.md5(out.read_bytes()).hexdigest())
    assert len(digests) == 1


def test_the_cache_holds_each_derived_voice_by_its_settings(panel, panel_render, clip_cache, tmp_path):
    ben = sum(len(t.sentences) for t in panel_render.episode.turns if t.speaker_id == "ben")
    # the same settings by another name sound the same: nothing new to say
    same = load_episode(panel, find_manifest=False, voices={"ben": f"{HEART}~pitch_st=-3,speed=0.95"})
    assert render(same, tmp_path / "same.mp3", RenderOptions(cache_dir=clip_cache)).synthesis.synthesised == 0
    # another setting is another sound: only Ben's sentences are spoken again
    other = load_episode(panel, find_manifest=False, voices={"ben": f"{HEART}~pitch_st=-4,speed=0.95"})
    stats = render(other, tmp_path / "other.mp3", RenderOptions(cache_dir=clip_cache)).synthesis
    assert (stats.synthesised, stats.from_cache) == (ben, len(panel_render.sentences) - ben)


def test_voices_sample_writes_one_levelled_clip_per_voice(tmp_path):
    from audio.encode import OUTPUT_RATE_HZ, decode
    from audio.loudness import measure

    out = tmp_path / "samples"
    result = run("voices", "--engine", "hibari", "--sample", "Welcome back to the show, and thanks for listening.",
                 "-o", out)
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["hibari_heart.mp3", "hibari_heart~deep.mp3", "hibari_heart~deeper.mp3"]
    for name in names:
        assert abs(measure(decode(out / name), OUTPUT_RATE_HZ).integrated_lufs + 16) < 1.0
    result = run("voices", "--sample", "Hi.")
    assert (result.exit_code, result.stderr) == (2, "Error: --sample needs -o DIR, the folder to write the clips "
                                                    "into\n")
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    result = run("voices", "--engine", "pyttsx3", "--sample", "Hi there.", "-o", tmp_path / "afile" / "sub")
    assert (result.exit_code, result.stderr) == (2, f"Error: cannot make the folder {tmp_path / 'afile' / 'sub'}: "
                                                    "Not a directory\n")


def test_no_neural_engine_gives_espeak_voices_without_a_warning_about_natural_ones(monkeypatch, panel):
    """With espeak-ng alone installed, nobody's natural voice was taken by a speaker who talks more."""
    import audio.voices as voices

    espeak_only = [c for c in candidates(None) if c.voice.startswith("pyttsx3:")]
    monkeypatch.setattr(voices, "candidates", lambda engine: espeak_only)
    episode = load_episode(panel)
    assert not [w for w in episode.warnings if "natural voices are taken" in w]
    assert all(v.startswith("pyttsx3:") for v in _voices(episode).values())
