"""The speech engines: each really speaks, offline, deterministically, with word marks.

Every engine runs for real (pyttsx3 on espeak-ng, Piper's joe voice, hibari's
heart voice); Whisper tiny.en listens.  Only faults are faked: a worker that
crashes once, a package that is hidden.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import wave

import numpy as np
import pytest
from typer.testing import CliRunner

from audio import align, engines
from audio.cli import app
from audio.engines import ipa, piper
from audio.engines.clip import pitch_shifted, read_marks, resampled, spoken_words
from audio.episode import load_episode
from audio.errors import EngineMissingError, SynthesisError, VoiceError
from audio.manifest import manifest_from_dict
from audio.render import RenderOptions, render
from audio.speak import SpeechJob, Synthesizer, check_clip
from audio.transcribe import recognise

runner = CliRunner()

VOICES = {"pyttsx3": "pyttsx3:gmw/en-us+m1", "piper": "piper:en_US-joe-medium", "hibari": "hibari:heart"}
RATES = {"pyttsx3": 22050, "piper": 22050, "hibari": 24000}
SENTENCE = "The river rose quickly after three days of heavy rain in the hills."


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _heard(path) -> list[str]:
    return align.normalise(recognise(path).text)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """SENTENCE spoken by each engine's voice, through the render's own speech stage."""
    with Synthesizer(cache_dir=tmp_path_factory.mktemp("engine-clips")) as synth:
        paths = synth.synthesise([SpeechJob(SENTENCE, v, 160, 40) for v in VOICES.values()])
    return dict(zip(VOICES, paths))


# ---------------------------------------------------------------- speaking

@pytest.mark.parametrize("engine", list(VOICES))
def test_each_engine_speaks_a_sentence_whisper_understands(clips, engine):
    path = clips[engine]
    assert check_clip(path, SENTENCE) > 2.0
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATES[engine], 1, 2)
    want = align.normalise(SENTENCE)
    heard = _heard(path)
    missed = sum(1 for word in want if word not in heard)
    assert missed <= 1, (engine, heard)


@pytest.mark.parametrize("engine", list(VOICES))
def test_each_engine_marks_every_word_where_it_is_heard(clips, engine):
    """One cue point per word of the text, in order, near where Whisper hears that word."""
    path = clips[engine]
    marks = dict(read_marks(path))
    with wave.open(str(path)) as w:
        rate, frames = w.getframerate(), w.getnframes()
    offsets = [o for o, _ in spoken_words(SENTENCE)]
    if engine == "pyttsx3":  # espeak-ng folds a short word into its neighbour now and then
        assert len(set(offsets) - set(marks)) <= 1
    else:
        assert set(offsets) <= set(marks)
    samples = [marks[o] for o in offsets if o in marks]
    assert samples == sorted(samples) and samples[-1] < frames
    heard = recognise(path).words
    by_text = {align.normalise(w.text)[0]: w.start_ms for w in heard if align.normalise(w.text)}
    deltas = [abs(by_text[word.lower().strip(".")] - marks[o] * 1000 / rate)
              for o, word in spoken_words(SENTENCE) if o in marks and word.lower().strip(".") in by_text]
    assert len(deltas) >= 8
    assert np.median(deltas) <= 150, (engine, deltas)


@pytest.mark.parametrize("engine", ["piper", "hibari"])
def test_neural_engines_are_deterministic_and_seeded(tmp_path, engine):
    """The same job twice in one worker, and again in a fresh worker: the same bytes.

    onnxruntime advanced Piper's in-graph noise on every run, so before the
    noise became a seeded input the second clip differed from the first.
    """
    from audio.engines.worker import WorkerProcess, worker_command

    texts = [SENTENCE, SENTENCE + " Again.", SENTENCE]
    voice = engines.parse_voice(VOICES[engine]).voice
    first = WorkerProcess([*worker_command(), engine], threads=1)
    try:
        answer = first.request({"jobs": [{"text": t, "voice": voice, "path": str(tmp_path / f"{n}.wav")}
                                         for n, t in enumerate(texts)]}, timeout_s=120)
    finally:
        first.close()
    fresh = WorkerProcess([*worker_command(), engine], threads=1)
    try:
        fresh.request({"jobs": [{"text": SENTENCE, "voice": voice, "path": str(tmp_path / "fresh.wav")}]}, 120)
    finally:
        fresh.close()
    assert [r["ok"] for r in answer["results"]] == [True, True, True]
    clip = [(tmp_path / f"{n}.wav").read_bytes() for n in range(3)]
    assert clip[0] == clip[2] == (tmp_path / "fresh.wav").read_bytes()
    assert clip[1] != clip[0]


def test_uncached_renders_are_byte_identical_for_every_engine(tmp_path):
    src = tmp_path / "short.txt"
    src.write_text("A short introduction to the show.\nHOST: Where does the river start?\n"
                   "GUEST: High in the hills, as a spring.\n", encoding="utf-8")
    for engine in VOICES:
        episode = load_episode(src, engine=engine)
        a = render(episode, tmp_path / f"{engine}-a.mp3", RenderOptions(use_cache=False))
        b = render(episode, tmp_path / f"{engine}-b.mp3", RenderOptions(use_cache=False))
        assert a.path.read_bytes() == b.path.read_bytes(), engine
        assert {engines.parse_voice(s.voice).engine for s in episode.manifest.speakers} == {engine}


# ---------------------------------------------------------------- mixing engines

def test_a_mixed_rate_episode(tmp_path, clip_cache):
    """Three speakers on three engines: one rate (the highest), targets met, every clip placed and timed."""
    src = tmp_path / "panel.txt"
    src.write_text("Welcome to a panel about rivers.\nANA: Where does the river start?\n"
                   "BEN: High in the hills.\nCARL: And it ends in the sea, a long way south.\n", encoding="utf-8")
    episode = load_episode(src, voices={"ana": VOICES["hibari"], "ben": VOICES["piper"], "carl": VOICES["pyttsx3"]})
    assert episode.engines() == set(VOICES)
    result = render(episode, tmp_path / "panel.mp3", RenderOptions(cache_dir=clip_cache))
    assert abs(result.loudness.integrated_lufs - -16.0) <= 0.5 and result.loudness.true_peak_dbtp <= -1.0
    for s in result.sentences:  # every sentence has a mark for each of its words
        assert len(s.word_starts_ms) == len(s.text.split())
        assert s.start_ms == s.word_starts_ms[0] < s.word_starts_ms[-1] < s.end_ms
    heard = align.normalise(recognise(result.path).text)
    assert {"river", "hills", "sea", "south"} <= set(heard)


def test_resampling_is_band_limited():
    """22.05 kHz speech to 24 kHz adds no images: linear interpolation puts one at ~12 kHz."""
    rate = 22050
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 9000 * t)).astype(np.float32)
    out = resampled(tone, rate, 24000)
    assert abs(len(out) - 24000) <= 1
    spectrum = np.abs(np.fft.rfft(out[2000:-2000] * np.hanning(len(out) - 4000)))
    freqs = np.fft.rfftfreq(len(out) - 4000, 1 / 24000)
    leak = spectrum[freqs > 10000].max() / spectrum.max()
    linear = np.interp(np.arange(24000) / 24000, t, tone)
    lin_spectrum = np.abs(np.fft.rfft(linear[2000:-2000] * np.hanning(20000)))
    assert leak < 1e-3  # below -60 dB
    assert lin_spectrum[freqs > 10000].max() / lin_spectrum.max() > 10 * leak  # what it protects against


def test_a_pitch_step_changes_the_pitch_not_the_length():
    rate = 22050
    t = np.arange(rate * 2) / rate
    voice = (0.4 * np.sin(2 * np.pi * 150 * t) + 0.2 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    up = pitch_shifted(voice, rate, 3.0)
    assert abs(len(up) - len(voice)) <= rate // 100
    peak_hz = np.argmax(np.abs(np.fft.rfft(up[5000:37768]))) * rate / 32768
    assert abs(peak_hz - 150 * 2 ** (3 / 12)) < 3


# ---------------------------------------------------------------- the clip cache across engines

def test_the_cache_keys_engine_voice_settings_and_model(tmp_path):
    with Synthesizer(cache_dir=tmp_path) as synth:
        keys = {synth.clip_path(SpeechJob(SENTENCE, v)) for v in VOICES.values()}
        assert len(keys) == 3
        neural = SpeechJob(SENTENCE, VOICES["piper"])
        # a neural voice's key takes its own settings, not pyttsx3's
        assert synth.clip_path(neural) == synth.clip_path(SpeechJob(SENTENCE, VOICES["piper"], rate_wpm=300))
        assert synth.clip_path(neural) != synth.clip_path(SpeechJob(SENTENCE, VOICES["piper"], speed=1.1))
        assert synth.clip_path(neural) != synth.clip_path(SpeechJob(SENTENCE, VOICES["piper"], pitch_st=2))
        espeak = SpeechJob(SENTENCE, VOICES["pyttsx3"])
        assert synth.clip_path(espeak) != synth.clip_path(SpeechJob(SENTENCE, VOICES["pyttsx3"], rate_wpm=170))
        # a bare espeak-ng id is the same voice as its pyttsx3: name
        assert synth.clip_path(espeak) == synth.clip_path(SpeechJob(SENTENCE, "gmw/en-us+m1"))
    # the model file's hash is part of the key: another copy of the model with other bytes is another voice
    model, config = piper.model_paths(piper.PACKAGED_VOICE)
    copy = tmp_path / "joe.onnx"
    shutil.copy(model, copy)
    shutil.copy(config, f"{copy}.json")
    same = piper.fingerprint(str(copy))
    with open(copy, "ab") as f:
        f.write(b"\0")
    assert piper.fingerprint(str(copy)) != same  # in the same process: a model changed while it runs


def test_a_model_digest_is_remembered_on_disk_by_the_files_identity(tmp_path, monkeypatch):
    """Hashing Piper's 63 MB model took 0.06 s of every render: the digest is kept by path, size, mtime, inode."""
    import hashlib
    import json

    from audio import tools

    monkeypatch.setenv(tools.MODELS_ENV, str(tmp_path / "models"))
    store = tmp_path / "models" / "digests.json"
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"one")
    assert engines.file_sha256(model) == hashlib.sha256(b"one").hexdigest()
    kept = json.loads(store.read_text(encoding="utf-8"))
    assert list(kept.values()) == [hashlib.sha256(b"one").hexdigest()]
    # a later process believes the store while the file is the same file: it does not read the model
    engines._sha256.cache_clear()
    store.write_text(json.dumps({k: "f" * 64 for k in kept}), encoding="utf-8")
    assert engines.file_sha256(model) == "f" * 64
    # the file rewritten: hashed again, and the entry of the old file's identity dropped
    model.write_bytes(b"two!")
    assert engines.file_sha256(model) == hashlib.sha256(b"two!").hexdigest()
    assert list(json.loads(store.read_text(encoding="utf-8")).values()) == [hashlib.sha256(b"two!").hexdigest()]
    # a damaged store is no store: the digest is computed
    engines._sha256.cache_clear()
    store.write_text("not json", encoding="utf-8")
    assert engines.file_sha256(model) == hashlib.sha256(b"two!").hexdigest()
    # an unwritable store: still the right digest
    engines._sha256.cache_clear()
    monkeypatch.setenv(tools.MODELS_ENV, str(model))  # a file, not a folder
    assert engines.file_sha256(model) == hashlib.sha256(b"two!").hexdigest()


def test_a_re_render_speaks_only_what_changed_for_every_engine(tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("An introduction.\nHOST: A question about rivers?\nGUEST: An answer about the sea.\n",
                   encoding="utf-8")
    cache = tmp_path / "cache"
    episode = load_episode(src, voices={"host": VOICES["hibari"], "guest": VOICES["piper"]})
    with Synthesizer(cache_dir=cache) as synth:
        synth.synthesise(episode.speech_jobs())
        assert synth.stats.synthesised == 3
        synth.synthesise(episode.speech_jobs())
        assert (synth.stats.synthesised, synth.stats.from_cache) == (0, 3)
    src.write_text(src.read_text().replace("about the sea", "about the ocean"), encoding="utf-8")
    with Synthesizer(cache_dir=cache) as synth:
        synth.synthesise(load_episode(src, voices={"host": VOICES["hibari"], "guest": VOICES["piper"]}).speech_jobs())
        assert (synth.stats.synthesised, synth.stats.from_cache) == (1, 2)
        # the same text in another engine is not taken from the cache
        synth.synthesise([SpeechJob("A question about rivers?", VOICES["pyttsx3"])])
        assert synth.stats.synthesised == 1


# ---------------------------------------------------------------- the lexicon per engine

def _manifest(**lexicon):
    return manifest_from_dict({
        "episode": {"title": "T"},
        "speakers": [{"id": "a", "voice": VOICES["hibari"]}, {"id": "b", "voice": VOICES["piper"]},
                     {"id": "c", "voice": VOICES["pyttsx3"]}],
        "lexicon": lexicon})


def test_each_engine_gets_its_own_lexicon_and_ipa_in_its_own_phonemes():
    man = _manifest(**{"IS": "I.S.", "tomato": {"ipa": "təˈmeɪtoʊ"},
                       "pyttsx3": {"IS": "eye ess"}, "piper": {"tomato": "tomahto"}})
    assert dict(man.lexicon_for("hibari")) == {"IS": "I.S.", "tomato": "[tomato](/təmˈAtO/)"}
    assert dict(man.lexicon_for("piper")) == {"IS": "I.S.", "tomato": "tomahto"}
    assert dict(man.lexicon_for("pyttsx3")) == {"IS": "eye ess", "tomato": "[[t@'meItoU]]"}  # stress before its syllable
    assert ipa.to_espeak_ipa("təˈmeɪtoʊ") == "[[təmˈeɪtoʊ]]"[2:-2]


@pytest.mark.parametrize("engine", list(VOICES))
def test_an_ipa_pronunciation_is_spoken_by_every_engine(engine, tmp_path):
    """The word is replaced by phonemes of another word, which Whisper then hears instead."""
    man = _manifest(**{"bread": {"ipa": "ˈæpəl"}})  # "bread" said as "apple"
    said = dict(man.lexicon_for(engine))["bread"]
    with Synthesizer(cache_dir=tmp_path) as synth:
        [clip] = synth.synthesise([SpeechJob(f"Please pass the {said} to me.", VOICES[engine], 160, 40)])
    heard = _heard(clip)
    assert "apple" in heard and "bread" not in heard, heard


def test_bad_lexicon_entries_are_refused():
    with pytest.raises(VoiceError, match="the IPA for 'x' has 'ʁ', which espeak-ng has no phoneme for"):
        _manifest(x={"ipa": "ʁa"}).lexicon_for("pyttsx3")
    from audio.errors import ManifestError

    with pytest.raises(ManifestError, match=r"\[lexicon\]: 'x' must map to a respelling"):
        _manifest(x=3)


# ---------------------------------------------------------------- voices and defaults

def test_engine_flag_gives_every_speaker_distinct_voices_of_that_engine():
    from audio.voices import assign_default_voices

    speakers = _manifest().speakers
    for engine in VOICES:
        chosen = assign_default_voices(tuple(s.__class__(s.id, s.id, (), "", gender=g)
                                             for s, g in zip(speakers, ("female", "male", ""))), engine)
        assert {engines.parse_voice(s.voice).engine for s in chosen} == {engine}
        assert len({(engines.canonical(s.voice), s.pitch_st) for s in chosen}) == 3


def test_a_pitch_step_an_engine_ignores_does_not_make_a_voice_distinct():
    """pyttsx3 takes no pitch_st: its own voice with one and a default without it would sound the same."""
    from audio.manifest import Speaker
    from audio.voices import assign_default_voices

    a = Speaker("a", "A", (), "", pitch_st=-3.0, voices=(("pyttsx3", "pyttsx3:gmw/en-us+m1"),))
    b = Speaker("b", "B", (), "", gender="male")  # m1 is the first male default
    chosen = assign_default_voices((a, b), "pyttsx3")
    assert chosen[0].voice == "pyttsx3:gmw/en-us+m1" and chosen[0].pitch_st == 0.0
    assert engines.canonical(chosen[1].voice) != "pyttsx3:gmw/en-us+m1"


def test_the_seed_under_pyttsx3_keeps_todays_voices_and_lexicon():
    from .conftest import SEED

    episode = load_episode(SEED, engine="pyttsx3")
    assert [engines.canonical(s.voice) for s in episode.manifest.speakers] == [
        "pyttsx3:gmw/en-us", "pyttsx3:gmw/en-gb-x-rp+m1"]
    question = next(job.text for job in episode.speech_jobs() if job.text.startswith("What part"))
    assert question == "What part of the eye ess group was responsible for the Kerman attack?"
    default = load_episode(SEED)
    assert [engines.canonical(s.voice) for s in default.manifest.speakers] == [VOICES["hibari"], VOICES["piper"]]


def test_voices_without_gender_alternate_and_neural_come_first():
    from audio.manifest import Speaker
    from audio.voices import assign_default_voices

    chosen = assign_default_voices(tuple(Speaker(f"s{i}", f"S{i}", (), "") for i in range(8)))
    # joe is given out at its measured pace (engines/derived.py)
    assert [engines.canonical(s.voice) for s in chosen[:2]] == [VOICES["hibari"], f"{VOICES['piper']}~measured"]
    assert all(engines.parse_voice(s.voice).engine in engines.NEURAL for s in chosen[:6])  # derived voices
    genders = [engines.engine("pyttsx3").gender_of(engines.parse_voice(s.voice).voice) for s in chosen[6:]]
    assert genders == ["male", "female"]


# ---------------------------------------------------------------- refusals (one line, exit 2, nothing written)

@pytest.fixture()
def earlier(tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("An introduction.\nHOST: A question?\nGUEST: An answer.\n", encoding="utf-8")
    out = tmp_path / "out" / "t.mp3"
    out.parent.mkdir()
    out.write_bytes(b"an earlier episode")
    return src, out


@pytest.mark.parametrize("voice, message", [
    ("foo:bar", "Error: unknown speech engine 'foo' in voice 'foo:bar' (engines: hibari, piper, pyttsx3)\n"),
    ("hibari:emma", "Error: voice hibari:emma would need a download, and episode never downloads voices during a "
                    "render (installed: heart)\n"),
    ("hibari:nobody", "Error: voice hibari:nobody is unknown (hibari voices: heart, emma, fenrir, fable, kore)\n"),
    ("piper:en_US-lessac-medium", "Error: voice piper:en_US-lessac-medium is not installed, and episode never "
                                  "downloads voices during a render (installed: en_US-joe-medium; or give the path "
                                  "of a downloaded .onnx voice)\n"),
    ("pyttsx3:gmw/xx-nowhere", "Error: voice 'gmw/xx-nowhere' is not installed (see `episode voices`)\n"),
])
def test_voices_that_cannot_be_spoken_offline_are_refused(earlier, tmp_path, voice, message, monkeypatch):
    monkeypatch.setenv("HIBARI_HOME", str(tmp_path / "no-hibari-cache"))
    src, out = earlier
    result = run("render", src, "-o", out, "--voice", f"guest={voice}", "--cache-dir", tmp_path / "cache")
    assert (result.exit_code, result.output) == (2, message)
    assert out.read_bytes() == b"an earlier episode" and [p.name for p in out.parent.iterdir()] == ["t.mp3"]


def test_an_unknown_engine_flag_is_refused(earlier):
    src, out = earlier
    result = run("render", src, "-o", out, "--engine", "festival")
    assert (result.exit_code, result.output) == (2, "Error: unknown speech engine 'festival' (engines: hibari, "
                                                    "piper, pyttsx3)\n")


def test_a_missing_engine_package_says_what_to_install(earlier, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "piper" else real(name, *a))
    src, out = earlier
    for flags in (["--voice", f"guest={VOICES['piper']}"], ["--engine", "piper"]):
        result = run("render", src, "-o", out, *flags)
        assert (result.exit_code, result.output) == (2, "Error: the piper engine is not installed: pip install "
                                                        "piper-tts\n"), flags
        assert out.read_bytes() == b"an earlier episode"
    assert issubclass(EngineMissingError, ImportError) and issubclass(EngineMissingError, VoiceError)


# ---------------------------------------------------------------- a worker that dies mid-render

CRASH_ONCE = r"""
import os, sys
marker = sys.argv[1]
if not os.path.exists(marker):  # the first worker dies before it answers
    open(marker, "w").close()
    sys.exit(11)
os.execv(sys.executable, [sys.executable, "-m", "audio.engines.worker", *sys.argv[2:]])
"""


@pytest.mark.parametrize("engine", ["piper", "hibari"])
def test_a_crashed_neural_worker_is_retried_in_a_fresh_one(tmp_path, engine):
    jobs = [SpeechJob(SENTENCE, VOICES[engine]), SpeechJob("A second sentence.", VOICES[engine])]
    marker = tmp_path / "crashed"
    with Synthesizer(cache_dir=tmp_path / "c", workers=1,
                     command=[sys.executable, "-c", CRASH_ONCE, str(marker)]) as synth:
        paths = synth.synthesise(jobs)
        # the first request's worker died before it answered: its clips (one or both sentences, as
        # the engine's cost cuts them into requests) were made again in a fresh worker
        assert marker.exists() and synth.stats.retried >= 1 and synth.stats.synthesised == 2
    for path, job in zip(paths, jobs):
        assert check_clip(path, job.text) > 1.0


def test_a_neural_worker_that_keeps_crashing_names_the_sentence(tmp_path):
    always = [sys.executable, "-c", "import sys; sys.stdin.readline(); sys.stderr.write('onnxruntime died\\n'); "
              "sys.exit(6)"]
    with Synthesizer(cache_dir=tmp_path, workers=1, command=always) as synth:
        with pytest.raises(SynthesisError, match=r"^text-to-speech failed twice: the speech worker crashed "
                                                 r"\(exit 6\): onnxruntime died, speaking 'The river rose "
                                                 r"quickly after three days of heavy rain in the' "
                                                 r"\(voice hibari:heart\)$"):
            synth.synthesise([SpeechJob(SENTENCE, VOICES["hibari"])])


# ---------------------------------------------------------------- models made once from the installed ones

def test_patched_models_are_kept_once_and_give_the_same_voice(tmp_path, monkeypatch):
    """Both engines' patched models go to the models folder once; a worker loading the kept file
    speaks exactly as one patching in memory does (what a full disk falls back to)."""
    import numpy as np

    from audio import tools
    from audio.engines import hibari, piper

    monkeypatch.setenv(tools.MODELS_ENV, str(tmp_path / "models"))
    kept_h = hibari.patched_model(hibari.model_path("heart"))
    kept_p = piper.patched_model(piper.model_paths("en_US-joe-medium")[0])
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "models").iterdir()) == ["hibari", "piper"]
    assert kept_h.parent == kept_p.parent == tmp_path / "models"
    assert hibari.patched_model(hibari.model_path("heart")) == kept_h  # found, not made again
    said = {}
    for name, engine, voice in (("hibari", hibari, "heart"), ("piper", piper, "en_US-joe-medium")):
        said[name, "kept"] = engine._Voice(voice, 1).speak(SENTENCE, 1.0)[0]
    monkeypatch.setattr(tools, "kept_model", lambda *a: None)  # as when the folder cannot be written
    for name, engine, voice in (("hibari", hibari, "heart"), ("piper", piper, "en_US-joe-medium")):
        assert np.array_equal(engine._Voice(voice, 1).speak(SENTENCE, 1.0)[0], said[name, "kept"]), name


def test_a_model_that_cannot_be_kept_leaves_nothing_behind(tmp_path, monkeypatch, caplog):
    from audio import tools

    monkeypatch.setenv(tools.MODELS_ENV, str(tmp_path / "models"))
    source = tmp_path / "voice.onnx"
    source.write_bytes(b"model")

    def full_disk(dest):
        dest.write_bytes(b"half")
        raise OSError(28, "No space left on device")
    assert tools.kept_model(source, "piper", "1", full_disk) is None
    assert list((tmp_path / "models").iterdir()) == []
    assert "cannot keep the piper model in" in caplog.text and "No space left on device" in caplog.text
