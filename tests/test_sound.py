"""Music and sound (issue 21): real mixes of music the tests synthesise (chords, tones, noise) under real speech.

The envelope ducks under every word and rises in long pauses; the mix meets the loudness and peak
targets on the decoded MP3; every sidecar moves by the intro's lead; a transcript's cue plays the
sound the manifest gives it; a show-wide [show.sound] reaches every episode of a batch; bad
input is refused in one line before any speech, with nothing written.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from audio.cli import app
from audio.encode import decode
from audio.episode import load_episode
from audio.outputs.publish import publish
from audio.outputs.tag import read_chapters, read_timeline
from audio.render import RenderOptions, render

runner = CliRunner()
VOICES = ('[[speakers]]\nid = "host"\nname = "Host"\nlabels = ["HOST"]\nvoice = "pyttsx3:gmw/en-us"\nrole = "host"\n\n'
          '[[speakers]]\nid = "guest"\nname = "Guest"\nlabels = ["GUEST"]\nvoice = "pyttsx3:gmw/en-gb-x-rp+m1"\n\n')
INTERVIEW = ("Welcome to the programme. Today we talk about rivers.\n"
             "HOST: Where does the river start?\n"
             "GUEST: It starts high in the hills. Then it runs down to the sea.\n"
             "HOST: Is the water clean?\n"
             "GUEST: Mostly it is clean. The town keeps it that way.\n")
LEAD_S = 2.5


def _wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    data = np.atleast_2d(samples)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(data.shape[0])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.round(np.clip(data.T, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def _encoded(wav: Path, dest: Path, *codec: str) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(wav), *codec, str(dest)], check=True)
    wav.unlink()
    return dest


def _chord(seconds: float, rate: int, stereo: bool = True) -> np.ndarray:
    """A steady A minor chord over quiet noise: a bed whose level hardly moves."""
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 261.63, 329.63)) / 3
    noise = np.random.default_rng(1).standard_normal(len(t)) * 0.02
    mono = 0.5 * tone + noise
    return np.stack([mono, mono * 0.9]) if stereo else mono


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    """The tests' music: a chord theme (WAV, 44.1 kHz stereo), a sting (FLAC, 16 kHz mono), a 440 Hz tone (Ogg)."""
    folder = tmp_path_factory.mktemp("music")
    _wav(folder / "theme.wav", _chord(8.0, 44100), 44100)
    _wav(folder / "long-theme.wav", _chord(20.0, 44100), 44100)
    t = np.arange(16000) / 16000
    _encoded(_wav(folder / "sting.tmp.wav", np.sin(2 * np.pi * 660 * t) * np.hanning(len(t)) * 0.6, 16000),
             folder / "sting.flac", "-c:a", "flac")
    t = np.arange(int(1.2 * 32000)) / 32000
    _encoded(_wav(folder / "tone.tmp.wav", np.sin(2 * np.pi * 440 * t) * 0.5, 32000),
             folder / "tone.ogg", "-c:a", "libvorbis")
    return folder


FULL = ("Welcome to the programme. Today we talk about rivers.\n"
        "GUEST: Thank you for having me here today.\n"
        "HOST: Where does the river start?\n"
        "GUEST: It starts high in the hills. Then it runs down to the sea.\n")


def _episode(folder: Path, name: str, sound: str, transcript: str = INTERVIEW, render_table: str = "") -> Path:
    """TRANSCRIPT and its manifest in a folder of their own (the sidecars' index.html is per folder)."""
    folder = folder / name
    folder.mkdir(exist_ok=True)
    src = folder / f"{name}.txt"
    src.write_text(transcript, encoding="utf-8")
    (folder / f"{name}.toml").write_text(VOICES + render_table + sound, encoding="utf-8")
    return src


def _render(src: Path, cache: Path, **options):
    result = render(load_episode(src), src.with_suffix(".mp3"), RenderOptions(cache_dir=cache, **options))
    publish(result)
    return result


@pytest.fixture(scope="module")
def renders(music, tmp_path_factory, clip_cache):
    """The interview without music, with an intro only, and with everything (a long pause in the bed)."""
    folder = tmp_path_factory.mktemp("sound")
    theme = music / "theme.wav"
    plain = _render(_episode(folder, "plain", ""), clip_cache)
    intro = _render(_episode(folder, "intro", f'[sound]\nintro = {{ file = "{theme}", lead_s = {LEAD_S}, '
                                              'bed_s = 3.0, fade_s = 1.0 }\n'), clip_cache)
    (folder / "full").mkdir()
    shutil.copy(music / "long-theme.wav", folder / "full" / "theme.wav")  # named relative to the manifest
    full = _render(_episode(folder, "full", '[sound]\nintro = { file = "theme.wav", lead_s = 2.0, '
                                            'bed_s = 12.0, fade_s = 1.0 }\n'
                                            'outro = { file = "theme.wav", under_last_turn = true }\n'
                                            f'stinger = "{music / "sting.flac"}"\nchapters = true\n', FULL,
                            render_table="[render]\nturn_pause_ms = 1600\n\n"), clip_cache)
    return plain, intro, full


def test_the_intro_plays_its_lead_before_the_first_word(renders):
    plain, intro, _ = renders
    assert plain.sentences[0].start_ms == 300  # LEAD_IN_MS, as ever
    assert intro.sentences[0].start_ms == round(LEAD_S * 1000)
    mp3 = decode(intro.path)
    lead = mp3[:int(2.0 * 44100)]
    assert 20 * np.log10(np.sqrt(np.mean(lead ** 2))) > -30  # music, not silence, before the first word


def _times(folder: Path, stem: str) -> dict[str, list[float]]:
    """Every time each sidecar (and the MP3's tags) gives, in seconds, in order."""
    def stamps(text: str, sep: str) -> list[float]:
        return [int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000
                for h, m, s, ms in re.findall(rf"(\d\d):(\d\d):(\d\d){sep}(\d\d\d)", text)]

    def segments(name: str) -> list[float]:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
        return [t for seg in data["segments"] for t in (seg["startTime"], seg["endTime"])]

    chapters = json.loads((folder / f"{stem}.chapters.json").read_text(encoding="utf-8"))["chapters"]
    page = (folder / "index.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="episode-data">(.*?)</script>', page, re.S).group(1).replace("<\\/", "</"))
    mp3 = folder / f"{stem}.mp3"
    return {"vtt": stamps((folder / f"{stem}.vtt").read_text(encoding="utf-8"), r"\."),
            "srt": stamps((folder / f"{stem}.srt").read_text(encoding="utf-8"), ","),
            "chapters.json": [c["startTime"] for c in chapters[1:]],
            "chapters.vtt": stamps((folder / f"{stem}.chapters.vtt").read_text(encoding="utf-8"), r"\.")[1:-1],
            "transcript.json": segments(f"{stem}.transcript.json"),
            "words.json": segments(f"{stem}.words.json"),
            "player words": [float(x) for x in re.findall(r'<span data-start="([\d.]+)"', page)],
            "player cues": [t for c in data["cues"] for t in (c["start"], c["end"])],
            "player chapters": [c["start"] for c in data["chapters"][1:]],
            "CHAP": [m.start_ms / 1000 for m in read_chapters(mp3)[1:]],
            "timeline": [t / 1000 for t in read_timeline(mp3)["turn_start_ms"]]}


def test_every_sidecar_moves_by_the_lead(renders):
    plain, intro, _ = renders
    before, after = _times(plain.path.parent, "plain"), _times(intro.path.parent, "intro")
    shift = LEAD_S - 0.3  # the first word was 300 ms in
    for name, times in before.items():
        assert times and len(after[name]) == len(times), name
        moved = np.array(after[name]) - np.array(times)
        # (to the millisecond within a part; a later part may start up to an MPEG frame, 26 ms, apart)
        assert np.all(np.abs(moved - shift) <= 0.03), (name, moved.round(3).tolist())
        assert abs(moved[0] - shift) <= 0.002, name


def test_the_bed_ducks_under_every_word_and_rises_in_long_pauses(renders):
    _, _, full = renders
    placement = full.placement
    rate = placement.rate_hz
    bed = next(p for p in placement.placed if p.what == "intro")
    window = rate // 20  # 50 ms

    def level_db(at: int) -> float:
        piece = bed.samples[at - bed.start:at - bed.start + window]
        return 20 * np.log10(np.sqrt(np.mean(piece ** 2)) + 1e-12)

    full_level = level_db(bed.start + rate // 2)  # in the lead, before any speech
    spans = [(round(s.start_ms * rate / 1000), round(s.end_ms * rate / 1000)) for s in full.sentences]
    words = [round(w * rate / 1000) for s in full.sentences for w in s.word_starts_ms]
    under = [w for w in words if bed.start + window <= w < bed.start + len(bed.samples) - rate]
    assert len(under) >= 10
    depths = [full_level - level_db(w) for w in under]
    assert min(depths) >= placement.duck_db, depths  # ducked under every word (and more: the margin)
    # the 1.6 s pause between the first two turns: the bed comes back up in it, and down before the guest speaks
    gaps = [(b, a) for (_, b), (a, _) in zip(spans, spans[1:]) if a - b > rate]
    assert gaps, "no long pause under the bed"
    end, start = gaps[0]
    assert full_level - level_db((end + start) // 2) < 1.0  # back to full level
    assert full_level - level_db(start) >= placement.duck_db  # down again as the next words start


def test_the_mix_is_levelled_on_the_decoded_mp3(renders):
    import pyloudnorm

    from audio.loudness import true_peak_dbtp

    _, _, full = renders
    mp3 = decode(full.path)
    assert abs(pyloudnorm.Meter(44100).integrated_loudness(mp3.astype(np.float64)) + 16.0) <= 0.5
    assert true_peak_dbtp(mp3, 44100) <= -1.0
    # the music is in it: stingers at the chapter start, the outro after the last word
    kinds = [m[2] for m in read_timeline(full.path)["sound"]["music_ms"]]
    assert kinds == ["intro", "stinger", "outro"]


def test_intro_and_outro_chapters_are_music(renders):
    _, _, full = renders
    chapters = json.loads(full.path.with_suffix(".chapters.json").read_text(encoding="utf-8"))["chapters"]
    assert [c["title"] for c in chapters][0] == "Intro" and chapters[-1]["title"] == "Outro"
    assert chapters[0].get("toc") is False and chapters[-1].get("toc") is False
    assert all("toc" not in c for c in chapters[1:-1])
    assert chapters[0]["startTime"] == 0 and chapters[1]["startTime"] == round(full.sentences[0].start_ms / 1000 - 0.25, 3)
    assert chapters[-1]["startTime"] >= full.sentences[-1].end_ms / 1000
    assert [m.title for m in read_chapters(full.path)] == [c["title"] for c in chapters]
    timeline = read_timeline(full.path)
    assert timeline["chapter_turns"][0] is None and timeline["chapter_turns"][-1] is None
    assert timeline["sound"]["music_chapters"] == [0, len(chapters) - 1]


def test_the_read_aloud_book_plays_the_music_too(renders):
    """The intro and outro are pages of their own (their heading's clip), so no music is skipped."""
    from audio.outputs.overlay import check_clips
    from audio.outputs.tag import mp3_duration_ms

    from .epubtools import book_clips, epubcheck

    _, _, full = renders
    (book,) = publish(full, formats=("epub",))
    clips, durations, total, srcs = book_clips(book)
    assert check_clips(clips, mp3_duration_ms(full.path)).ok
    assert total == full.duration_ms and len(durations) == len(full.chapters)
    last = len(full.chapters)
    assert srcs[0] == "chapter-001.xhtml#c1" and srcs[-1] == f"chapter-{last:03d}.xhtml#c{last}"
    assert clips[0].begin_ms == 0 and clips[0].end_ms == full.chapters[1].start_ms
    assert len(clips) == len(full.sentences) + 2
    assert epubcheck(book) == []


def test_verify_hears_speech_over_the_bed_with_and_without_music(renders, clip_cache):
    _, _, full = renders
    src = full.path.with_suffix(".txt")
    out = full.path.with_suffix(".verify.json")
    result = runner.invoke(app, ["verify", str(full.path), "-t", str(src), "-m", str(src.with_suffix(".toml")),
                                 "--cache-dir", str(clip_cache), "--json", str(out)])
    assert result.exit_code == 0, result.output
    music = json.loads(out.read_text(encoding="utf-8"))["music"]
    assert music["bed"]["windows"] >= 10
    assert music["bed"]["median_db"] >= 20.0 and music["bed"]["p10_db"] >= 17.0
    assert music["wer_with"] <= 0.15 and music["wer_without"] <= 0.15
    assert "Speech over the bed, 400 ms from each of" in result.output
    # without the transcript, verify says what it could not measure
    plain = runner.invoke(app, ["verify", str(full.path)])
    assert "Music: give --transcript and -m to measure it against the speech alone" in plain.output


RADIO = ("HOST: Welcome to the show. Here is the song.\n"
         "(SOUNDBITE OF MUSIC)\n"
         "HOST: That was the song.\n"
         "GUEST: It was a good one.\n")


def _tone_between(result) -> tuple[float, float]:
    """Seconds of sound and its strongest frequency where the cue is: after the host's second sentence."""
    x = decode(result.path)
    a, b = result.sentences[1].end_ms, result.sentences[2].start_ms
    piece = x[a * 44100 // 1000 + 2205:b * 44100 // 1000 - 2205]
    loud = np.flatnonzero(np.abs(piece) > 0.01)
    if not len(loud):
        return 0.0, 0.0
    sound = piece[loud[0]:loud[-1]]
    spectrum = np.abs(np.fft.rfft(sound * np.hanning(len(sound))))
    return len(sound) / 44100, float(np.fft.rfftfreq(len(sound), 1 / 44100)[spectrum.argmax()])


def test_a_transcript_cue_plays_the_sound_the_manifest_gives_it(music, tmp_path, clip_cache):
    tone = music / "tone.ogg"
    played = _render(_episode(tmp_path, "radio", f'[sound]\ncues = {{ music = "{tone}", sound = "" }}\n',
                              RADIO), clip_cache)
    seconds, hz = _tone_between(played)
    assert abs(seconds - 1.2) < 0.1 and abs(hz - 440) < 3
    assert [m[2] for m in read_timeline(played.path)["sound"]["music_ms"]] == ["cue (music) on line 2"]
    silent = _render(_episode(tmp_path, "quiet", '[sound]\ncues = { music = "" }\n', RADIO), clip_cache)
    assert _tone_between(silent) == (0.0, 0.0)  # "": the cue plays nothing, and takes no room
    assert silent.sentences[2].start_ms - silent.sentences[1].end_ms < 1000
    assert read_timeline(silent.path)["sound"]["music_ms"] == []


def _flat(src: Path) -> None:
    """Move TRANSCRIPT and its manifest up, out of their own folder: a show's folder of transcripts."""
    for path in (src, src.with_suffix(".toml")):
        path.rename(src.parent.parent / path.name)
    src.parent.rmdir()


def test_a_batch_takes_the_shows_sound(music, tmp_path, clip_cache):
    from audio.batch import BatchOptions, run_batch

    src = tmp_path / "src"
    src.mkdir()
    _flat(_episode(src, "one", "", "HOST: Hello and welcome. This is episode one.\nGUEST: Thank you.\n"))
    _flat(_episode(src, "two", "[sound]\nduck_db = 25\nchapters = true\n",
                   "HOST: Hello again. This is episode two.\nGUEST: Good to be back.\n"))
    theme = shutil.copy(music / "theme.wav", tmp_path / "theme.wav")
    show = tmp_path / "show.toml"
    show.write_text(f'[show]\ntitle = "Rivers"\n\n[show.sound]\nintro = {{ file = "{theme}", lead_s = 2.0 }}\n',
                    encoding="utf-8")
    out = tmp_path / "out"
    options = BatchOptions(out_dir=out, show=show, cache_dir=clip_cache, workers=1)
    report = run_batch([src], options)
    assert [r.status for r in report.rows] == ["rendered", "rendered"], report.rows
    for slug, duck, intro in (("one", 20.0, False), ("two", 25.0, True)):  # two's own keys over the show's
        timeline = read_timeline(out / f"{slug}.mp3")
        assert timeline["sound"]["duck_db"] == duck
        titles = [m.title for m in read_chapters(out / f"{slug}.mp3")]
        assert len(titles) == 1 + intro and (titles[0] == "Intro") == intro
        words = json.loads((out / f"{slug}.words.json").read_text(encoding="utf-8"))["segments"]
        assert words[0]["startTime"] == 2.0
    assert [r.status for r in run_batch([src], options).rows] == ["up to date", "up to date"]
    # on Ray, the music goes with each task and the mix is the same to the byte
    on_ray = run_batch([src], dataclasses.replace(options, out_dir=tmp_path / "ray", executor="ray", workers=2))
    assert [r.status for r in on_ray.rows] == ["rendered", "rendered"] and on_ray.executor == "ray"
    for mp3 in sorted(out.glob("*.mp3")):
        assert (tmp_path / "ray" / mp3.name).read_bytes() == mp3.read_bytes(), mp3.name
    _wav(theme, _chord(8.0, 44100) * 0.5, 44100)  # the show's music changed: every episode is rendered again
    assert [r.status for r in run_batch([src], options).rows] == ["rendered", "rendered"]


def test_the_seed_without_sound_is_as_it_was(seed_render):
    assert seed_render.placement is None
    assert "sound" not in read_timeline(seed_render.path)
    assert seed_render.sentences[0].start_ms == 300
    assert all(m.toc for m in seed_render.chapters)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, music):
    folder = tmp_path_factory.mktemp("bad-music")
    (folder / "notaudio.flac").write_text("this is not audio\n", encoding="utf-8")
    (folder / "garbage.flac").write_bytes(b"fLaC" + bytes(range(256)) * 8)
    short = _wav(folder / "short.wav", _chord(1.0, 8000, stereo=False), 8000)
    long = folder / "long.flac"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=220:sample_rate=8000:duration=601", "-c:a", "flac", str(long)], check=True)
    return folder, short, long


@pytest.mark.parametrize("sound, transcript, message", [
    ('intro = "{f}/missing.wav"', INTERVIEW, "[sound] intro: music file not found: {f}/missing.wav"),
    ('stinger = "{f}/notaudio.flac"', INTERVIEW,
     "[sound] stinger: {f}/notaudio.flac is not audio FFmpeg can decode (nothing in it decodes)"),
    ('outro = "{f}/garbage.flac"', INTERVIEW,
     "[sound] outro: {f}/garbage.flac is not audio FFmpeg can decode (Invalid data found when processing input)"),
    ('stinger = "{f}/long.flac"', INTERVIEW,
     "[sound] stinger: {f}/long.flac lasts 10:01, longer than the 10 minutes a spliced sound may last"),
    ('intro = {{ file = "{f}/short.wav", lead_s = 3 }}', INTERVIEW,
     "[sound] intro: {f}/short.wav lasts 1.0 s, shorter than its lead_s 3"),
    ("duck_db = -3", INTERVIEW, "{m} [sound]: duck_db -3 is below 0 (how far under the speech the music is held, "
                                "in dB; 20 is the accessible default)"),
    ('cues = {{ sound = "" }}', RADIO, "line 2: (SOUNDBITE OF MUSIC) is a 'music' cue, and [sound] cues gives "
                                       "'music' no sound (give cues.music = \"FILE\", or \"\" for none)"),
    ('cues = {{ music = "outro" }}', RADIO, "[sound] cues: music = 'outro', but [sound] has no outro"),
    ('cues = {{ music = "jingle" }}', RADIO, "[sound] cues.music: music file not found: {d}/jingle"),
    ('cues = {{ jingle = "" }}', RADIO, "{m} [sound] cues: 'jingle' is not a kind of sound cue "
                                        "(theme, music, outro, sound)"),
])
def test_bad_sound_is_refused_before_speech(bad_files, tmp_path, sound, transcript, message):
    folder = bad_files[0]
    src = _episode(tmp_path, "bad", "[sound]\n" + sound.format(f=folder) + "\n", transcript)
    tmp_path = src.parent
    manifest = src.with_suffix(".toml")
    out = tmp_path / "out" / "bad.mp3"
    out.parent.mkdir()
    out.write_bytes(b"an earlier render")
    cache = tmp_path / "cache"
    result = runner.invoke(app, ["render", str(src), "-o", str(out), "--cache-dir", str(cache)])
    assert result.exit_code == 2
    assert result.output == f"Error: {message.format(f=folder, m=manifest, d=manifest.parent)}\n"
    assert out.read_bytes() == b"an earlier render" and sorted(p.name for p in out.parent.iterdir()) == ["bad.mp3"]
    assert not cache.exists() or not any(cache.rglob("*.wav"))  # nothing was spoken


def test_other_rates_and_channels_are_converted(renders):
    """The theme is 44.1 kHz stereo WAV and the sting 16 kHz mono FLAC; the render is at espeak-ng's 22.05 kHz."""
    _, _, full = renders
    assert full.placement.rate_hz == 22050
    sting = next(p for p in full.placement.placed if p.what == "stinger")
    assert abs(len(sting.samples) - 22050) <= 2  # one second, at the render's rate
    spectrum = np.abs(np.fft.rfft(sting.samples))
    assert abs(np.fft.rfftfreq(len(sting.samples), 1 / 22050)[spectrum.argmax()] - 660) < 3


def test_inspect_lists_each_sound_and_where_it_plays(music, tmp_path):
    """Before any speech: what plays, how long, where (by turn and chapter), and how far the bed is ducked."""
    (tmp_path / "full").mkdir()
    shutil.copy(music / "long-theme.wav", tmp_path / "full" / "theme.wav")
    src = _episode(tmp_path, "full", '[sound]\nintro = { file = "theme.wav", lead_s = 2.0, bed_s = 12.0 }\n'
                                     'outro = { file = "theme.wav", length_s = 6.0 }\n'
                                     f'stinger = {{ file = "{music / "sting.flac"}", gain_db = -3 }}\n'
                                     f'duck_db = 24\ncues = {{ music = "stinger" }}\n',
                   "Welcome to the programme.\nHOST: Where does the river start?\n(SOUNDBITE OF MUSIC)\n"
                   "GUEST: It starts high in the hills.\nHOST: And where does it end?\nGUEST: In the sea.\n")
    result = runner.invoke(app, ["inspect", str(src)])
    assert result.exit_code == 0, result.output
    music_lines = result.output.split("Music ")[1].split("Not spoken:")[0].splitlines()
    theme = tmp_path / "full" / "theme.wav"
    assert music_lines == [
        "(ducked 24 dB under speech):",
        f"  intro: {theme} (20.0 s), 2 s before the first word, then 12 s under the opening as a bed",
        "  stinger: {} (1.0 s, -3 dB), before turn 2 (chapter 2, Where does the river start?)".format(
            music / "sting.flac"),
        "  cue (music) on line 3: {} (1.0 s, -3 dB), before turn 3".format(music / "sting.flac"),
        "  stinger: {} (1.0 s, -3 dB), before turn 4 (chapter 3, And where does it end?)".format(
            music / "sting.flac"),
        f"  outro: {theme} (6.0 s), after the last turn",
    ]
