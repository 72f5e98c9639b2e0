"""The command line: success paths and one-line errors with exit codes."""

from __future__ import annotations

import json

import feedparser
import pytest
from mutagen.id3 import ID3, PictureType
from PIL import Image
from typer.testing import CliRunner

from audio.art import cached_cover, generate_cover
from audio.cli import app

from .conftest import SEED

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_inspect_seed():
    result = run("inspect", SEED)
    assert result.exit_code == 0
    assert "voa          VOA                  host     hibari:heart @ speed 1" in result.output
    assert "zelin        Aaron Zelin          guest    piper:en_US-joe-medium @ speed 1" in result.output
    assert "8. What do you think IS will do next vis-a-vis Iran?" in result.output
    result = run("inspect", SEED, "--engine", "pyttsx3")
    assert result.exit_code == 0
    assert "zelin        Aaron Zelin          guest    pyttsx3:gmw/en-gb-x-rp+m1 @ 155 wpm" in result.output
    assert "spoken: So long as eye ess has" in result.output  # espeak-ng's own lexicon shows


def test_chapters_of_the_rendered_seed(seed_render):
    result = run("chapters", seed_render.path)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "00:00:00.000  Introduction"
    assert len(lines) == 8


def test_voices_lists_every_engines_voices():
    result = run("voices")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    heart = next(ln for ln in lines if "hibari:heart " in ln)
    assert "en-US" in heart and "female" in heart and "24000 Hz" in heart and " installed" in heart
    emma = next(ln for ln in lines if "hibari:emma " in ln)
    assert "not installed" in emma  # it would need a download
    joe = next(ln for ln in lines if "piper:en_US-joe-medium " in ln)
    assert "male" in joe and "22050 Hz" in joe and " installed" in joe
    assert any("pyttsx3:gmw/en-us " in ln and "22050 Hz" in ln for ln in lines)
    assert "variants (append as VOICE+VARIANT):" in result.output and " m3 " in result.output
    for engine, licence in [("hibari", "Apache-2.0"), ("piper", "CC0"), ("pyttsx3", "GPL-3.0")]:
        assert any(ln.startswith(f"{engine}:") and licence in ln for ln in lines), engine


def test_render_small_transcript(tmp_path):
    src = tmp_path / "mini.txt"
    src.write_text("An introduction.\nQ: Is this short?\nA: Yes, it is.\nQ: Done?\nA: Done.\n", encoding="utf-8")
    out = tmp_path / "out" / "mini.mp3"
    result = run("render", src, "-o", out, "--cache-dir", tmp_path / "cache", "--no-sidecars")
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}" in result.output and "3 chapters" in result.output
    chapters = run("chapters", out)
    assert chapters.output.splitlines()[1].endswith("Is this short?")
    assert [p.name for p in out.parent.iterdir()] == ["mini.mp3"]
    result = run("render", src, "-o", out, "--cache-dir", tmp_path / "cache", "--skip", "feed", "--skip", "srt",
                 "--base-url", "https://example.org/ep")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "index.html", "mini.chapters.json", "mini.chapters.vtt", "mini.mp3", "mini.transcript.json", "mini.vtt",
        "mini.words.json"]
    # Without an image in the manifest, the cover is made from the show's title (here the
    # transcript's), embedded as the front cover, and with the feed it is written beside.
    cover = generate_cover("Mini")
    assert [(f.type, f.data == cover.data) for f in ID3(str(out)).getall("APIC")] == [(PictureType.COVER_FRONT, True)]
    assert [p.read_bytes() == cover.data for p in (tmp_path / "cache" / "covers").iterdir()] == [True]
    result = run("render", src, "-o", out, "--cache-dir", tmp_path / "cache", "--base-url", "https://example.org/ep")
    assert result.exit_code == 0, result.output
    assert (out.parent / "mini.jpg").read_bytes() == cover.data
    with Image.open(out.parent / "mini.jpg") as image:
        assert (image.format, image.size) == ("JPEG", (3000, 3000))
    assert feedparser.parse(str(out.parent / "feed.xml")).feed.image.href == "https://example.org/ep/mini.jpg"


def test_generated_cover_is_kept_in_the_cache(tmp_path):
    covers = tmp_path / "cache" / "covers"
    made = generate_cover("Mini")
    assert cached_cover("Mini", covers).data == made.data
    (kept,) = covers.iterdir()
    assert kept.read_bytes() == made.data
    other = generate_cover("Other").data
    kept.write_bytes(other)  # what is kept is read, not drawn again
    assert cached_cover("Mini", covers).data == other
    kept.write_bytes(other[:-100])  # a cut copy is drawn again, and kept whole
    assert cached_cover("Mini", covers).data == made.data == kept.read_bytes()
    assert cached_cover("Other", covers).data == other and len(list(covers.iterdir())) == 2
    (tmp_path / "blocked").write_text("")  # a cache that cannot be made costs only the drawing
    assert cached_cover("Mini", tmp_path / "blocked" / "covers").data == made.data
    assert cached_cover("Mini", None).data == made.data


def test_render_refuses_a_bad_base_url_before_rendering(tmp_path):
    result = run("render", SEED, "-o", tmp_path / "x.mp3", "--base-url", "notaurl")
    assert result.exit_code == 2
    assert result.output == "Error: --base-url [show]: base_url 'notaurl' is not an http(s) address\n"
    assert list(tmp_path.iterdir()) == []


def test_render_unknown_sidecar_format(tmp_path):
    result = run("render", SEED, "-o", tmp_path / "x.mp3", "--skip", "pdf")
    assert result.exit_code == 2
    assert result.output == "Error: --skip takes one of vtt, srt, chapters, transcript, words, feed, player, not 'pdf'\n"
    assert not (tmp_path / "x.mp3").exists()


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    ("VOA: caf\u00e9".encode("latin-1"), "is not UTF-8: invalid byte 0xe9 at byte offset 8"),
    (b"VOA:\nZelin:\n", "transcript has labels but no speech"),
])
def test_render_bad_transcripts(tmp_path, content, message):
    src = tmp_path / "bad.txt"
    src.write_bytes(content)
    out = tmp_path / "bad.mp3"
    result = run("render", src, "-o", out)
    assert result.exit_code == 2
    assert result.output.strip().endswith(message)
    assert result.output.count("\n") == 1
    assert not out.exists()


def test_render_missing_file(tmp_path):
    result = run("render", tmp_path / "nope.txt")
    assert result.exit_code == 2
    assert result.output == f"Error: transcript not found: {tmp_path / 'nope.txt'}\n"


def test_render_unknown_voice(tmp_path):
    result = run("render", SEED, "-o", tmp_path / "x.mp3", "--voice", "zelin=xx-nope")
    assert result.exit_code == 2
    assert result.output == "Error: voice 'xx-nope' is not installed (see `episode voices`)\n"


def test_render_unknown_speaker_and_bad_voice_syntax(tmp_path):
    result = run("render", SEED, "-o", tmp_path / "x.mp3", "--voice", "smith=gmw/en-us")
    assert result.exit_code == 2
    assert result.output == "Error: --voice names unknown speaker 'smith' (known: voa, zelin)\n"
    result = run("render", SEED, "--voice", "zelin")
    assert result.exit_code == 2
    assert result.output == "Error: --voice takes SPEAKER=VOICE, not 'zelin'\n"


def test_render_bad_manifest(tmp_path):
    manifest = tmp_path / "m.toml"
    manifest.write_text('[episode]\ntitle = "T"\n[[speakers]]\nid = "voa"\nvoice = "gmw/en-us"\nrate_wpm = 0\n')
    result = run("render", SEED, "-m", manifest, "-o", tmp_path / "x.mp3")
    assert result.exit_code == 2
    assert result.output == f"Error: {manifest}: speakers[0]: rate_wpm 0 is outside 80..450 words per minute\n"


def test_render_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run("render", SEED, "-o", blocker / "x.mp3")
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: cannot write to {blocker}:")


def test_missing_tool_has_install_hint(monkeypatch, tmp_path):
    import os
    import shutil

    from audio import tools
    from audio.engines import pyttsx3

    for name in ("ffmpeg", "ffprobe"):  # everything the render needs but espeak-ng
        os.symlink(shutil.which(name), tmp_path / name)
    tools.require.cache_clear()
    pyttsx3.fingerprint.cache_clear()
    monkeypatch.setenv("PATH", str(tmp_path))
    try:
        result = run("render", SEED, "--engine", "pyttsx3", "-o", tmp_path / "x.mp3")
    finally:
        tools.require.cache_clear()
    assert result.exit_code == 2
    assert result.output == ("Error: espeak-ng is not installed: run `sudo apt-get install espeak-ng` "
                             "(or ./scripts/setup.sh)\n")


def test_chapters_of_a_non_mp3(tmp_path):
    bogus = tmp_path / "x.mp3"
    bogus.write_bytes(b"hello")
    result = run("chapters", bogus)
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {bogus} is not a readable MP3")


def test_verify_exit_codes(tmp_path):
    src = tmp_path / "talk.txt"
    src.write_text("Welcome to the show about gardens.\nHOST: What do you grow in your garden?\n"
                   "GUEST: I grow tomatoes, beans and potatoes every summer.\n"
                   "HOST: Thank you for coming.\nGUEST: Thank you for having me.\n", encoding="utf-8")
    out = tmp_path / "talk.mp3"
    assert run("render", src, "-o", out, "--cache-dir", tmp_path / "cache").exit_code == 0
    report = tmp_path / "report.json"
    passed = run("verify", out, "--json", report)
    assert passed.exit_code == 0, passed.output
    assert passed.output.rstrip().endswith("PASS")
    assert f"word timing of {tmp_path / 'talk.words.json'}: " in passed.output  # found beside the MP3
    assert json.loads(report.read_text())["passed"] is True
    other = tmp_path / "other.txt"
    other.write_text("HOST: Tell me about the weather on Mars.\nGUEST: It is cold and dusty.\n", encoding="utf-8")
    failed = run("verify", out, "--transcript", other)
    assert failed.exit_code == 1
    assert "FAIL: overall WER" in failed.output


def test_verify_bad_input(tmp_path):
    result = run("verify", tmp_path / "none.mp3")
    assert result.exit_code == 2
    assert result.output == f"Error: audio not found: {tmp_path / 'none.mp3'}\n"
    bogus = tmp_path / "x.mp3"
    bogus.write_bytes(b"not audio")
    result = run("verify", bogus)
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {bogus}: cannot read ID3 tags") or \
        result.output.startswith(f"Error: {bogus} carries no transcript")


def test_verify_words_file_missing(seed_render, tmp_path):
    result = run("verify", seed_render.path, "--words", tmp_path / "none.words.json")
    assert result.exit_code == 2
    assert result.output == f"Error: word timeline not found: {tmp_path / 'none.words.json'}\n"


def test_verify_unknown_model(seed_render, tmp_path):
    result = run("verify", seed_render.path, "--model", tmp_path / "no-such-model")
    assert result.exit_code == 2
    assert result.output.startswith("Error: cannot load Whisper model")


def test_render_unlabelled_transcript_as_narration(tmp_path):
    src = tmp_path / "plain.txt"
    src.write_text("Just words and no labels at all. A second sentence.\n", encoding="utf-8")
    out = tmp_path / "plain.mp3"
    result = run("render", src, "-o", out, "--cache-dir", tmp_path / "cache", "--no-sidecars")
    assert result.exit_code == 0, result.output
    assert result.stderr == ("Warning: no speaker labels found: the whole transcript is read as narration "
                             "in one voice\n")
    assert out.is_file()
