"""M4B and Opus read back by independent readers (ffprobe, mutagen, pyloudnorm), and --all's bad input."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
from mutagen.flac import Picture
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from scipy.signal import resample_poly
from typer.testing import CliRunner

from audio import tools
from audio.art import generate_cover
from audio.assemble import ChapterMark
from audio.cli import app
from audio.encode import decode
from audio.errors import EncodeError
from audio.loudness import integrated_lufs
from audio.manifest import Metadata
from audio.outputs import encoders
from audio.outputs.m4b import NERO_MAX_CHAPTERS, chapter_warning, write_m4b
from audio.outputs.opus import write_opus
from audio.outputs.publish import EXTRAS, FORMATS, publish
from audio.outputs.tag import episode_tags, ffprobe_chapters, read_chapters
from audio.render import RenderOptions, render

from .conftest import SEED

COVER = generate_cover("Flashpoint Iran")


@pytest.fixture(scope="module")
def seed_all(tmp_path_factory, clip_cache, seed_episode):
    """The seed with every deliverable, as `episode render --all` writes it."""
    out = tmp_path_factory.mktemp("all") / "seed.mp3"
    result = render(seed_episode, out, RenderOptions(cache_dir=clip_cache, cover=COVER, encodes=("m4b", "opus")))
    assert result.master_pcm is not None and result.master_pcm.is_file()
    written = publish(result, formats=FORMATS + EXTRAS, cover=COVER)
    assert not result.master_pcm.exists()  # the master is removed once encoded
    return result, {p.name: p for p in written}


def _mp3_chapters(result):
    return [(c["start_ms"], c["end_ms"], c["title"]) for c in ffprobe_chapters(result.path)]


def _decoded_targets(path: Path):
    """Integrated loudness (pyloudnorm) and true peak (4x oversampled with scipy) of the decoded file."""
    samples = decode(path, 48_000).astype(np.float64)
    lufs = pyloudnorm.Meter(48_000).integrated_loudness(samples)
    peak = 20 * np.log10(np.abs(resample_poly(samples, 4, 1)).max())
    return lufs, peak


def test_all_writes_every_deliverable_beside_the_mp3(seed_all):
    result, files = seed_all
    assert sorted(files) == sorted([
        "seed.vtt", "seed.srt", "seed.chapters.json", "seed.transcript.json", "seed.words.json",
        "seed.chapters.vtt", "index.html", "seed.epub", "seed.m4b", "seed.opus", "seed.jpg", "feed.xml"])
    leftovers = [p.name for p in result.path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_m4b_chapters_read_back_by_ffprobe_and_mutagen_as_the_mp3s(seed_all):
    result, files = seed_all
    m4b = files["seed.m4b"]
    assert [(c["start_ms"], c["end_ms"], c["title"]) for c in ffprobe_chapters(m4b)] == _mp3_chapters(result)
    nero = MP4(str(m4b)).chapters  # mutagen reads Nero's chpl
    assert [(round(c.start * 1000), c.title) for c in nero] == [(m.start_ms, m.title) for m in read_chapters(result.path)]


def test_m4b_is_aac_with_its_tags_and_cover(seed_all):
    result, files = seed_all
    m4b = files["seed.m4b"]
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json",
                                       str(m4b)], capture_output=True, check=True).stdout)
    audio = [s for s in probe["streams"] if s["codec_type"] == "audio"]
    assert [(s["codec_name"], s["profile"]) for s in audio] == [("aac", "LC")]
    pictures = [s for s in probe["streams"] if s.get("disposition", {}).get("attached_pic")]
    assert [s["codec_name"] for s in pictures] == ["mjpeg"]
    meta = result.episode.metadata
    assert probe["format"]["tags"]["title"] == meta.title
    tags = MP4(str(m4b)).tags
    assert tags["©nam"] == [meta.title] and tags["©alb"] == [meta.show] and tags["©ART"] == [meta.author]
    assert tags["©day"] == [meta.date] and tags["stik"] == [2]
    assert bytes(tags["covr"][0]) == COVER.data
    assert tags["©lyr"][0].startswith("VOA: ")
    assert abs(float(probe["format"]["duration"]) * 1000 - result.duration_ms) < 100


@pytest.mark.parametrize("name", ["seed.m4b", "seed.opus"])
def test_decoded_loudness_meets_the_targets(seed_all, name):
    lufs, peak = _decoded_targets(seed_all[1][name])
    assert abs(lufs - -16.0) <= 0.5
    assert peak <= -1.0


def test_opus_chapters_comments_and_cover_read_back_by_mutagen(seed_all):
    result, files = seed_all
    opus = OggOpus(str(files["seed.opus"]))
    comments = opus.tags  # by key, case-insensitive, each a list
    marks = read_chapters(result.path)
    for n, m in enumerate(marks):
        stamp = comments[f"CHAPTER{n:03d}"][0]
        assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d\d\d", stamp)
        h, mi, s = stamp.split(":")
        assert round((int(h) * 3600 + int(mi) * 60 + float(s)) * 1000) == m.start_ms
        assert comments[f"CHAPTER{n:03d}NAME"] == [m.title]
    assert f"CHAPTER{len(marks):03d}" not in comments
    assert comments["TITLE"] == [result.episode.metadata.title]
    picture = Picture(base64.b64decode(comments["METADATA_BLOCK_PICTURE"][0]))
    assert (picture.type, picture.mime, picture.data) == (3, "image/jpeg", COVER.data)
    assert opus.info.channels == 1
    assert abs(opus.info.length * 1000 - result.duration_ms) < 100
    # ffmpeg's Ogg demuxer reads the same convention: the same starts and titles
    assert [(c["start_ms"], c["title"]) for c in ffprobe_chapters(files["seed.opus"])] == \
        [(m.start_ms, m.title) for m in marks]


def test_a_second_render_takes_its_encodes_from_the_cache_and_writes_the_same_files(seed_all, clip_cache,
                                                                                   seed_episode, tmp_path):
    result, files = seed_all
    store = clip_cache / "encodes"
    kept = sorted(p.name for p in store.iterdir() if not p.name.endswith(".json"))
    assert sorted(Path(n).suffix for n in kept) == [".m4a", ".opus"]
    stamps = {n: (store / n).stat().st_mtime_ns for n in kept}
    out = tmp_path / "seed.mp3"
    again = render(seed_episode, out, RenderOptions(cache_dir=clip_cache, cover=COVER, encodes=("m4b", "opus")))
    written = {p.name: p for p in publish(again, formats=("m4b", "opus"), cover=COVER)}
    assert written["seed.m4b"].read_bytes() == files["seed.m4b"].read_bytes()
    assert written["seed.opus"].read_bytes() == files["seed.opus"].read_bytes()
    assert {n: (store / n).stat().st_mtime_ns for n in kept} == stamps  # taken, not made again
    # a damaged entry is encoded again, not published
    damaged = next(store / n for n in kept if n.endswith(".opus"))
    damaged.write_bytes(b"not opus")
    third = render(seed_episode, out, RenderOptions(cache_dir=clip_cache, cover=COVER, encodes=("opus",)))
    (opus,) = publish(third, formats=("opus",), cover=COVER)
    assert opus.read_bytes() == files["seed.opus"].read_bytes()
    assert damaged.read_bytes() != b"not opus"


# --- the writers on their own: past 255 chapters, replacing a file, failing cleanly ----------------


@pytest.fixture(scope="module")
def tone_master(tmp_path_factory) -> Path:
    """30 s of a 440 Hz tone at -16 LUFS as a float32 WAV, as master_turns(pcm=) writes it."""
    rate = 24_000
    t = np.arange(30 * rate) / rate
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    tone *= 10 ** ((-16.0 - integrated_lufs(tone, rate)) / 20)
    path = tmp_path_factory.mktemp("tone") / "master.wav"
    from audio.master import write_master_wav

    n_frames = len(tone) * 44_100 // rate // 1152
    write_master_wav(path, rate, [n_frames], [[tone]])
    return path


def _tags(count: int, duration_ms: int = 29_000):
    step = duration_ms // count
    marks = tuple(ChapterMark(n, f"chp{n}", f"Question {n + 1}", n * step, (n + 1) * step if n < count - 1 else duration_ms)
                  for n in range(count))
    meta = Metadata(title="Tones", show="Tests", author="Lab", date="2024-01-02")
    return episode_tags("Tones", meta, "Lab: a tone.", marks, None, COVER)


def test_m4b_past_255_chapters_keeps_them_all_in_the_quicktime_track(tone_master, tmp_path):
    tags = _tags(300)
    made = write_m4b(tone_master, tmp_path / "many.m4b", tags, bitrate_kbps=64, target_lufs=-16.0,
                     true_peak_dbtp=-1.0)
    assert len(ffprobe_chapters(made.path)) == 300  # QuickTime chapter track
    assert len(MP4(str(made.path)).chapters) == NERO_MAX_CHAPTERS  # Nero's chpl stops there
    assert chapter_warning(255) is None
    assert chapter_warning(300) == (
        "300 chapters: the M4B's Nero chapter list holds 255, so players that read only Nero chapters "
        "(AntennaPod, VLC) list the first 255; the QuickTime chapter track has them all")


def test_opus_chapter_numbers_and_times_keep_their_digits(tone_master, tmp_path):
    made = write_opus(tone_master, tmp_path / "t.opus", _tags(12), bitrate_kbps=32, target_lufs=-16.0,
                      true_peak_dbtp=-1.0)
    comments = OggOpus(str(made.path)).tags
    assert comments["CHAPTER000"] == ["00:00:00.000"]
    assert comments["CHAPTER011"] == ["00:00:26.576"]
    assert comments["CHAPTER011NAME"] == ["Question 12"]


@pytest.mark.parametrize("writer, name", [(write_m4b, "x.m4b"), (write_opus, "x.opus")])
def test_an_existing_file_is_replaced_whole_or_left_as_it_was(tone_master, tmp_path, writer, name):
    dest = tmp_path / name
    dest.write_bytes(b"an earlier file")
    with pytest.raises(EncodeError):
        writer(tmp_path / "no-such-master.wav", dest, _tags(2), bitrate_kbps=32, target_lufs=-16.0,
               true_peak_dbtp=-1.0)
    assert dest.read_bytes() == b"an earlier file"
    writer(tone_master, dest, _tags(2), bitrate_kbps=32, target_lufs=-16.0, true_peak_dbtp=-1.0)
    assert dest.read_bytes() != b"an earlier file" and len(ffprobe_chapters(dest)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_file_that_peaks_too_high_once_encoded_is_encoded_again_quieter(tone_master, tmp_path):
    first = write_m4b(tone_master, tmp_path / "a.m4b", _tags(1), bitrate_kbps=64, target_lufs=-16.0,
                      true_peak_dbtp=-1.0)
    assert first.gain_db == 0.0
    ceiling = round(first.true_peak_dbtp - 0.2, 2)  # one the first encode misses
    again = write_m4b(tone_master, tmp_path / "b.m4b", _tags(1), bitrate_kbps=64, target_lufs=-16.0,
                      true_peak_dbtp=ceiling)
    assert again.gain_db < -0.2 and again.true_peak_dbtp <= ceiling
    assert abs(again.integrated_lufs - -16.0) <= 0.5
    assert _decoded_targets(again.path)[1] <= ceiling + 0.05  # as scipy's oversampling sees it
    with pytest.raises(EncodeError, match=r"^the M4B misses -16.0 LUFS and .* dBTP once decoded \(-1[89]\."):
        write_m4b(tone_master, tmp_path / "c.m4b", _tags(1), bitrate_kbps=64, target_lufs=-16.0,
                  true_peak_dbtp=first.true_peak_dbtp - 3)  # only 3 dB quieter, too far from -16 LUFS
    assert not (tmp_path / "c.m4b").exists()


# --- bad input: one line, exit 2, nothing written --------------------------------------------------

runner = CliRunner()


def test_epub_without_sidecars_is_refused_before_anything(tmp_path):
    result = runner.invoke(app, ["render", str(SEED), "-o", str(tmp_path / "x.mp3"), "--epub", "--no-sidecars"])
    assert result.exit_code == 2
    assert result.output == ("Error: --epub is a sidecar, written beside the others: it cannot go with "
                             "--no-sidecars\n")
    assert list(tmp_path.iterdir()) == []
    result = runner.invoke(app, ["render", str(SEED), "-o", str(tmp_path / "x.mp3"), "--all", "--no-sidecars"])
    assert result.exit_code == 2 and "cannot go with --no-sidecars" in result.output


@pytest.mark.parametrize("flag, encoder", [("--opus", "libopus"), ("--m4b", "aac"), ("--all", "aac")])
def test_a_deliverable_whose_encoder_ffmpeg_lacks_is_refused_before_speech(monkeypatch, tmp_path, flag, encoder):
    real = shutil.which("ffmpeg")
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nif [ "$2" = "-encoders" ]; then "{real}" "$@" | grep -v " {encoder} "; '
                    f'else exec "{real}" "$@"; fi\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    tools.require.cache_clear()
    encoders.ffmpeg_encoders.cache_clear()
    out = tmp_path / "out"
    try:
        result = runner.invoke(app, ["render", str(SEED), "-o", str(out / "x.mp3"), flag,
                                     "--cache-dir", str(tmp_path / "cache")])
    finally:
        tools.require.cache_clear()
        encoders.ffmpeg_encoders.cache_clear()
    assert result.exit_code == 2
    need = {"aac": "--m4b", "libopus": "--opus"}[encoder]
    assert result.output == (f"Error: this ffmpeg ({fake}) has no {encoder} encoder, which {need} needs: install "
                             "an ffmpeg built with it (Debian's ffmpeg has it)\n")
    assert not out.exists() and not (tmp_path / "cache").exists()  # nothing spoken, nothing written


def test_m4b_past_255_chapters_warns_in_one_line_before_speech(tmp_path):
    src = tmp_path / "quiz.txt"
    src.write_text("Welcome to the quiz.\n" + "".join(f"Q: Question {n}?\nA: Answer {n}.\n" for n in range(300)),
                   encoding="utf-8")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")  # so that the render stops at its checks, after the warning
    result = runner.invoke(app, ["render", str(src), "-o", str(blocker / "quiz.mp3"), "--m4b"])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert [ln for ln in lines if "Nero" in ln] == [f"Warning: {chapter_warning(301)}"]
    assert lines[-1].startswith(f"Error: cannot write to {blocker}")


# --- the feed as podcast apps' own parsers read it ------------------------------------------------

PODCAST = "{https://podcastindex.org/namespace/1.0}"


def test_gpodder_sees_the_chapters_inline_and_feedparser_the_same_as_the_mp3s(seed_all):
    import feedparser
    import podcastparser

    result, files = seed_all
    marks = read_chapters(result.path)
    with open(files["feed.xml"], "rb") as f:
        episode = podcastparser.parse("https://example.org/feed.xml", f)["episodes"][0]
    # gPodder reads Podlove Simple Chapters, to the whole second
    assert episode["chapters"] == [{"start": m.start_ms // 1000, "title": m.title} for m in marks]
    assert [e["mime_type"] for e in episode["enclosures"]] == ["audio/mpeg"]
    entry = feedparser.parse(str(files["feed.xml"])).entries[0]
    assert entry.psc_chapters["version"] == "1.2"
    psc = [(round(c["start_parsed"].total_seconds() * 1000), c["title"]) for c in entry.psc_chapters["chapters"]]
    assert psc == [(m.start_ms, m.title) for m in marks]
    # ... and they are the JSON chapters, too
    chapters = json.loads(files["seed.chapters.json"].read_text(encoding="utf-8"))["chapters"]
    assert psc == [(round(c["startTime"] * 1000), c["title"]) for c in chapters]


def test_feed_lists_json_then_vtt_then_srt_and_the_opus_as_alternate_enclosure(seed_all):
    from xml.etree import ElementTree as ET

    result, files = seed_all
    item = ET.parse(files["feed.xml"]).getroot().find("channel/item")
    assert [(t.get("type"), t.get("url")) for t in item.findall(f"{PODCAST}transcript")] == [
        ("application/json", "seed.transcript.json"), ("application/json", "seed.words.json"),
        ("text/vtt", "seed.vtt"), ("application/x-subrip", "seed.srt")]
    assert item.find("enclosure").get("url") == "seed.mp3"
    (alternate,) = item.findall(f"{PODCAST}alternateEnclosure")
    assert alternate.get("type") == "audio/ogg; codecs=opus"
    assert int(alternate.get("length")) == files["seed.opus"].stat().st_size
    assert alternate.get("bitrate") == "32000"
    assert [s.get("uri") for s in alternate.findall(f"{PODCAST}source")] == ["seed.opus"]


def test_a_feed_without_opus_has_no_alternate_enclosure(seed_published):
    from xml.etree import ElementTree as ET

    item = ET.parse(seed_published["feed.xml"]).getroot().find("channel/item")
    assert item.find(f"{PODCAST}alternateEnclosure") is None
    assert len(item.find("{http://podlove.org/simple-chapters}chapters")) == 8


def test_batch_writes_the_deliverables_the_show_asks_for(tmp_path):
    from audio.batch import BatchOptions, run_batch

    src = tmp_path / "src"
    src.mkdir()
    (src / "mini.txt").write_text("An introduction.\nQ: Is this short?\nA: Yes, it is.\n", encoding="utf-8")
    show = tmp_path / "show.toml"
    show.write_text('[show]\ntitle = "Mini Show"\nbase_url = "https://example.org/mini"\n'
                    "epub = true\nopus = true\n", encoding="utf-8")
    out = tmp_path / "out"
    report = run_batch([src], BatchOptions(out_dir=out, show=show, cache_dir=tmp_path / "cache"))
    assert [r.status for r in report.rows] == ["rendered"]
    names = {p.name for p in out.iterdir()}
    assert {"mini.mp3", "mini.epub", "mini.opus"} <= names and "mini.m4b" not in names
    feed = (out / "feed.xml").read_text(encoding="utf-8")
    assert '<podcast:source uri="https://example.org/mini/mini.opus" />' in feed
    assert '<psc:chapter start="00:00:00.000" title="Introduction" />' in feed
    from .epubtools import book_clips

    clips, _, total, _ = book_clips(out / "mini.epub")
    assert clips[0].begin_ms == 0 and clips[-1].end_ms == total
    again = run_batch([src], BatchOptions(out_dir=out, show=show, cache_dir=tmp_path / "cache"))
    assert [r.status for r in again.rows] == ["up to date"]
    show.write_text(show.read_text(encoding="utf-8").replace("opus = true", "opus = false"), encoding="utf-8")
    third = run_batch([src], BatchOptions(out_dir=out, show=show, cache_dir=tmp_path / "cache"))
    assert [r.status for r in third.rows] == ["rendered"]  # what is written beside the MP3 changed
    assert "alternateEnclosure" not in (out / "feed.xml").read_text(encoding="utf-8")
