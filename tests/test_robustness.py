"""Bad input and faults: one clear error, no traceback, no partial or damaged output."""

from __future__ import annotations

import os
import re
import shutil
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from audio import tools
from audio.cli import app
from audio.episode import load_episode
from audio.errors import EncodeError, InputError, ParseError, SynthesisError
from audio.formats.labels import without_honorific
from audio.parse import parse_transcript
from audio.render import RenderOptions, render
from audio.speakers import display_name

from .conftest import SEED
from .format_writers import WRITERS

runner = CliRunner()

# ---------------------------------------------------------------- parser properties

BODY_WORDS = st.sampled_from(["the", "attack", "Iran", "IS", "it's", "U.S.", "[Iranian]", "“quoted”", "vis-a-vis",
                              "note:", "15", "café", "—", "well,", "so.", "Why?", "and", "(aside)", "q:"])
LABELS = st.sampled_from(["HOST:", "GUEST:", "Q:", "A:", "**Ann:**", "Bob Lee:", "VOA:"])


@st.composite
def transcripts(draw):
    paragraphs = draw(st.lists(st.tuples(st.one_of(st.none(), LABELS),
                                         st.lists(BODY_WORDS, min_size=0, max_size=12)), min_size=1, max_size=12))
    lines, words = [], []
    for label, body in paragraphs:
        if body and body[0][:1].isupper() and body[0].endswith(":"):
            body = ["and", *body]  # a capitalised "Word:" first would itself be a label
        lines.append(" ".join(([label] if label else []) + body))
        words += body
    blank = draw(st.booleans())
    return ("\n\n" if blank else "\n").join(lines), words


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(transcripts())
def test_labelled_text_keeps_every_word_in_order(case):
    text, words = case
    try:
        parsed = parse_transcript(text)
    except ParseError:
        return
    got = [w for t in parsed.turns for w in " ".join(t.sentences).split()]
    assert got == words


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_any_text_parses_or_raises_the_parse_error(text):
    try:
        parsed = parse_transcript(text)
    except ParseError:
        return
    got = [w for t in parsed.turns for w in " ".join(t.sentences).split()]
    source = text.split()
    # nothing invented, nothing doubled: the turn words are the input's, in order, less labels
    it = iter(source)
    assert all(any(w == s or s.endswith(w) or w in s for s in it) for w in got)
    assert len(got) <= len(source)


# ---------------------------------------------------------------- the other formats' properties

SPEAKER_NAMES = ["Ana Lima", "CHEN", "Dr. Kim", "Tomás Rivera", "Q", "Bob Lee"]
PLAIN_WORDS = st.sampled_from(["the", "attack", "Iran", "it's", "U.S.", "[Iranian]", "“quoted”", "vis-a-vis", "15",
                               "café", "—", "well,", "so.", "Why?", "and", "(aside)", "Tomás", "Okay"])


@st.composite
def conversations(draw):
    """Two or three speakers taking turns, each turn a few words."""
    names = draw(st.lists(st.sampled_from(SPEAKER_NAMES), min_size=2, max_size=3, unique=True))
    count = draw(st.integers(min_value=2, max_value=9))
    return [(names[i % len(names)], " ".join(draw(st.lists(PLAIN_WORDS, min_size=1, max_size=20))))
            for i in range(count)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversations(), st.sampled_from(sorted(WRITERS)))
def test_every_format_keeps_speakers_and_words_in_order(turns, writer_name):
    """Written as text, Markdown, a web page, an export, WebVTT, SRT or JSON: the same turns come back."""
    writer, extension = WRITERS[writer_name]
    parsed = parse_transcript(writer(turns), source=f"talk{extension}")
    names = {s.id: s.name for s in parsed.speakers}
    # an honorific is not part of the name ("Dr. Kim" is Kim)
    assert [(names[t.speaker_id], t.text.split()) for t in parsed.turns] == [
        (display_name(without_honorific(name)[0]), text.split()) for name, text in turns]


CAPTION_LINES = st.sampled_from([
    "00:00:01.000 --> 00:00:02.000", "00:00:01,000 --> 00:00:02,000", "00:01.000 --> 00:02.000", "1", "2",
    "00:00:02.000 --> 00:00:01.000", "00:00:0x.000 --> 00:00:02.000", "00:00:01,000 -> 00:00:02,000",
    "<v Ann>Hello there.</v>", "<v Bob>Why?", "Ann: hello.", ">> BOB: Hi.", "NOTE a note", "[MUSIC]", "-->",
    "plain words.", "{\\an8}<i>styled</i>", "&amp; more", ""])


@settings(max_examples=300, deadline=None)
@given(st.lists(CAPTION_LINES, max_size=30), st.sampled_from(["webvtt", "srt"]), st.booleans())
def test_any_caption_file_parses_or_raises_the_parse_error(lines, fmt, header):
    """Whole, broken or nonsensical cues: turns, or one ParseError that names a line."""
    text = ("WEBVTT\n\n" if header else "") + "\n".join(lines)
    try:
        parsed = parse_transcript(text, format=fmt)
    except ParseError as exc:
        assert re.match(r"transcript: line \d+: |transcript has ", str(exc)), str(exc)
        return
    assert all(not re.search(r"-->|<v |\[MUSIC\]", s) for t in parsed.turns for s in t.sentences)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300),
       st.sampled_from(["markdown", "webvtt", "srt", "podcast-json"]))
def test_any_text_in_any_format_parses_or_raises_the_parse_error(text, fmt):
    try:
        parse_transcript(text, format=fmt)
    except ParseError:
        pass


# ---------------------------------------------------------------- bad input files

def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("content, message", [
    (b"   \n\t \n", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "looks binary (NUL byte at offset 8), not text"),
    ("VOA: déjà".encode("latin-1"), "is not UTF-8: invalid byte 0xe9 at byte offset 6"),
])
def test_bad_transcript_files(tmp_path, content, message):
    src = tmp_path / "bad.txt"
    src.write_bytes(content)
    result = run("inspect", src)
    assert result.exit_code == 2
    assert result.output == f"Error: {src} {message}\n" or result.output == f"Error: {src}: {message}\n"


def test_utf16_with_bom_is_decoded(tmp_path):
    src = tmp_path / "u16.txt"
    src.write_bytes("VOA: Où est-il?\nZelin: Ici.\nVOA: Merci?\nZelin: De rien.\n".encode("utf-16"))
    result = run("inspect", src)
    assert result.exit_code == 0
    assert "Où est-il?" in result.output


def test_ten_megabyte_transcript(tmp_path):
    src = tmp_path / "big.txt"
    block = SEED.read_text(encoding="utf-8") + "\n"
    src.write_text(block * (10_000_000 // len(block.encode()) + 1), encoding="utf-8")
    assert src.stat().st_size >= 10_000_000
    episode = load_episode(src)
    assert len(episode.turns) > 20_000
    assert episode.turns[1].text == "What part of the IS group was responsible for the Kerman attack?"


@pytest.mark.parametrize("manifest, message", [
    ('[episode]\ntitle = "T"\ncolour = "red"\n[[speakers]]\nid = "voa"\nvoice = "gmw/en-us"\n',
     "[episode]: unknown key 'colour'"),
    ('[episode]\ntitle = "T"\n[[speakers]]\nid = "voa"\nvoice = "gmw/en-us"\n[[speakers]]\nid = "voa"\nvoice = "gmw/en-us"\n',
     "duplicate speaker id 'voa'"),
    ('[episode]\ntitle = "T"\n[[speakers]]\nid = "voa"\nvoice = "gmw/en-us"\nrate_wpm = 0\n',
     "speakers[0]: rate_wpm 0 is outside 80..450 words per minute"),
    ('[episode\ntitle = "T"\n', "invalid TOML"),
])
def test_bad_manifests_exit_2(tmp_path, manifest, message):
    path = tmp_path / "m.toml"
    path.write_text(manifest, encoding="utf-8")
    result = run("render", SEED, "-m", path, "-o", tmp_path / "x.mp3")
    assert result.exit_code == 2
    assert message in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "x.mp3").exists()


# ---------------------------------------------------------------- faults during a render

@pytest.fixture()
def good_file(tmp_path):
    dest = tmp_path / "out" / "episode.mp3"
    dest.parent.mkdir()
    dest.write_bytes(b"an earlier good episode")
    return dest


def _untouched(dest):
    assert dest.read_bytes() == b"an earlier good episode"
    assert [p.name for p in dest.parent.iterdir()] == ["episode.mp3"]


SHORT = "Intro.\nHOST: A question?\nGUEST: An answer.\n"


@pytest.fixture()
def short_episode(tmp_path):
    src = tmp_path / "short.txt"
    src.write_text(SHORT, encoding="utf-8")
    return load_episode(src)


@pytest.mark.parametrize("script, message", [
    ("import time; time.sleep(60)", "the speech worker hung"),
    ("import sys; sys.exit(9)", "the speech worker crashed (exit 9)"),
    ("import json, sys\nfor j in json.loads(sys.stdin.readline())['jobs']: open(j['path'], 'wb').close()\n"
     "print(json.dumps({'results': []}), flush=True)",
     "the audio file is not a valid WAV"),
])
def test_tts_faults_leave_the_destination_alone(short_episode, good_file, tmp_path, script, message):
    options = RenderOptions(cache_dir=tmp_path / "cache", tts_command=(sys.executable, "-c", script),
                            tts_timeout_s=2.0)
    with pytest.raises(SynthesisError, match=re.escape(message)):
        render(short_episode, good_file, options)
    _untouched(good_file)


def _fake_tools(tmp_path, ffmpeg_script: str | None):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("espeak-ng", "ffprobe"):
        os.symlink(shutil.which(name), bin_dir / name)
    if ffmpeg_script is not None:
        fake = bin_dir / "ffmpeg"
        fake.write_text(ffmpeg_script)
        fake.chmod(0o755)
    return bin_dir


def test_ffmpeg_missing(short_episode, good_file, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(_fake_tools(tmp_path, None)))
    tools.require.cache_clear()
    try:
        result = run("render", short_episode.source, "-o", good_file)
    finally:
        tools.require.cache_clear()
    assert result.exit_code == 2
    assert result.output == "Error: ffmpeg is not installed: run `sudo apt-get install ffmpeg` (or ./scripts/setup.sh)\n"
    _untouched(good_file)


def test_ffmpeg_failing(short_episode, good_file, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(_fake_tools(tmp_path, "#!/bin/sh\necho 'Unknown encoder libmp3lame' >&2\nexit 1\n")))
    tools.require.cache_clear()
    try:
        with pytest.raises(EncodeError, match="ffmpeg failed encoding MP3: Unknown encoder libmp3lame"):
            render(short_episode, good_file, RenderOptions(cache_dir=tmp_path / "cache"))
    finally:
        tools.require.cache_clear()
    _untouched(good_file)


def test_interrupt_during_render(short_episode, good_file, tmp_path, monkeypatch):
    import audio.streaming as streaming

    def interrupted(*args, **kwargs):  # Ctrl-C once speech is done, while the parts are mastered
        raise KeyboardInterrupt
    monkeypatch.setattr(streaming.StreamedAssembly, "result", interrupted)
    with pytest.raises(KeyboardInterrupt):
        render(short_episode, good_file, RenderOptions(cache_dir=tmp_path / "cache"))
    _untouched(good_file)
    result = run("render", short_episode.source, "-o", good_file, "--cache-dir", tmp_path / "cache")
    assert result.exit_code == 130
    assert result.output == "Error: interrupted; nothing was written\n"
    _untouched(good_file)


def test_unwritable_destination(short_episode, tmp_path):
    from audio.errors import OutputError

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match=f"cannot write to {re.escape(str(blocker))}"):
        render(short_episode, blocker / "x.mp3", RenderOptions(cache_dir=tmp_path / "cache"))
    assert blocker.read_text() == "x"


def test_input_errors_are_value_errors():
    # one root, and leaves that callers can also catch as builtins
    assert issubclass(InputError, ValueError) and issubclass(ParseError, InputError)
