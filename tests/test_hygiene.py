"""Text hygiene: control characters, ESC sequences, noncharacters and bidi overrides reach no output."""

from __future__ import annotations

import html
import json
import re
import subprocess
import unicodedata
from xml.etree import ElementTree as ET

import pytest
from mutagen.id3 import ID3
from typer.testing import CliRunner

from audio.cli import app
from audio.errors import InputError
from audio.parse import decode_text

runner = CliRunner()

# Each class, as it may come: raw in the transcript, or as an escape in a format or the manifest.
CLASSES = {
    "C0 control": "\x01", "bell": "\x07", "backspace": "\x08", "DEL": "\x7f", "C1 control": "\x9b",
    "ESC CSI colour": "\x1b[31m", "ESC OSC title": "\x1b]0;pwned\x07", "ESC two-character": "\x1bc",
    "lone ESC": "\x1b",
    "noncharacter U+FFFE": "\ufffe", "noncharacter U+FDD0": "\ufdd0", "noncharacter U+1FFFF": "\U0001ffff",
    "right-to-left override": "\u202e", "left-to-right embedding": "\u202a", "first strong isolate": "\u2068",
    "pop directional isolate": "\u2069",
}
ALL = "".join(CLASSES.values())
_BIDI_CONTROLS = {"LRE", "RLE", "PDF", "LRO", "RLO", "LRI", "RLI", "FSI", "PDI"}


def offending(text: str) -> list[str]:
    """What no output may hold, judged by Unicode's own tables, not audio.hygiene's."""
    bad = [c for c in text if (unicodedata.category(c) == "Cc" and c not in "\t\n\r")
           or 0xFDD0 <= ord(c) <= 0xFDEF or ord(c) & 0xFFFE == 0xFFFE
           or unicodedata.bidirectional(c) in _BIDI_CONTROLS]
    leftovers = [s for s in ("[31m", "[1m", "[0m", "pwned") if s in text]  # an ESC sequence's tail, left behind
    return bad + leftovers


def _json_strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_json_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _json_strings(v)]
    return []


def _unescape_js(text: str) -> str:
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


TRANSCRIPT = (
    "---\n"
    'title: "The river\\a and \\e[1mthe\\e[0m sea\\u202e"\n'  # YAML escapes: BEL, ESC sequences, an override
    'description: "Floods\\x7f\\u2066, dams and farms."\n'
    "---\n\n"
    f"Welcome to the show{CLASSES['C0 control']} about rivers{CLASSES['ESC OSC title']}.\n\n"
    f"HOST: Why do rivers{CLASSES['bell']} flood{CLASSES['ESC CSI colour']} in spring{CLASSES['noncharacter U+FFFE']}?\n\n"
    f"GUEST: Snow melts{CLASSES['right-to-left override']} upstream{CLASSES['DEL']} and the water{CLASSES['C1 control']} "
    f"rises{CLASSES['noncharacter U+1FFFF']}.\n\n"
    f"HOST: Can dams{CLASSES['ESC two-character']} help{CLASSES['left-to-right embedding']}?\n\n"
    f"GUEST: They can{CLASSES['first strong isolate']} hold{CLASSES['pop directional isolate']} "
    f"some{CLASSES['lone ESC']} of it{CLASSES['backspace']} back{CLASSES['noncharacter U+FDD0']}.\n"
)
MANIFEST = r'''[episode]
author = "River\u001b[31m Radio\u202e"
show = "Water\uFFFE Talk\u0007"

[[speakers]]
id = "host"
name = "Ho\u2066st\u2069"
labels = ["HOST"]
voice = "pyttsx3:gmw/en-us"
role = "host"

[[speakers]]
id = "guest"
name = "Guest\u001b"
labels = ["GUEST"]
voice = "pyttsx3:gmw/en-gb-x-rp+m1"

[chapter_titles]
3 = "Dams\u0008 and\u009b farms"
'''


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, clip_cache):
    folder = tmp_path_factory.mktemp("hygiene")
    (folder / "rivers.md").write_text(TRANSCRIPT, encoding="utf-8")
    (folder / "rivers.toml").write_text(MANIFEST, encoding="utf-8")
    result = runner.invoke(app, ["render", str(folder / "rivers.md"), "-o", str(folder / "rivers.mp3"),
                                 "--cache-dir", str(clip_cache)])
    return folder, result


def test_every_class_is_in_the_transcript_as_written():
    assert all(TRANSCRIPT.count(c) >= 1 for c in CLASSES.values())


def test_the_render_is_clean_in_every_output(rendered):
    folder, result = rendered
    assert result.exit_code == 0, result.output
    # the one warning line, before the render's own lines
    warnings = [line for line in result.output.splitlines() if line.startswith("Warning: removed")]
    assert warnings == ["Warning: removed 31 control character(s), ESC sequence(s), noncharacter(s) or bidi "
                        "override(s), which no output carries (`episode inspect` lists each)"]
    outputs = sorted(p for p in folder.iterdir() if p.name.startswith("rivers.") and p.suffix not in (".md", ".toml"))
    outputs += [folder / "feed.xml", folder / "index.html"]
    names = {p.name for p in outputs}
    assert {"rivers.mp3", "rivers.vtt", "rivers.srt", "rivers.chapters.json", "rivers.transcript.json",
            "rivers.words.json", "rivers.chapters.vtt", "feed.xml", "index.html"} <= names
    for path in outputs:
        if path.suffix in (".jpg", ".png", ".mp3"):
            continue
        text = path.read_text(encoding="utf-8")
        seen = [text, html.unescape(text), _unescape_js(text)]
        if path.suffix == ".json":
            seen += _json_strings(json.loads(text))
        if path.suffix == ".xml":
            root = ET.fromstring(path.read_bytes())  # numeric references (&#x1b;) come back as characters
            seen += [t for el in root.iter() for t in (el.text or "", el.tail or "", *el.attrib.values())]
        assert not [b for s in seen for b in offending(s)], path.name
    # the MP3's tags, every frame, as mutagen and ffprobe read them
    tags = ID3(folder / "rivers.mp3")
    texts = []
    for frame in tags.values():
        text = getattr(frame, "text", [])
        texts += ([text] if isinstance(text, str) else [str(t) for t in text]) + [getattr(frame, "desc", "")]
        for sub in getattr(frame, "sub_frames", {}).values():
            texts += [str(t) for t in sub.text]
    assert "The river and the sea" in texts and "River Radio" in texts and "Water Talk" in texts
    assert "Dams and farms" in texts  # a [chapter_titles] title, from the manifest
    assert any(t.startswith("Host: Welcome to the show about rivers.") for t in texts)  # the USLT transcript
    assert not [b for t in texts for b in offending(t)]
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-show_format", "-of", "json",
                            str(folder / "rivers.mp3")], capture_output=True, check=True, text=True)
    assert not offending(" ".join(_json_strings(json.loads(probe.stdout))))
    vtt = re.sub(r"<\d\d:[\d:.]+> ?", "", (folder / "rivers.vtt").read_text(encoding="utf-8"))  # word times out
    assert "<v Host>Why do rivers flood in spring?" in vtt and "<v Guest>Snow melts upstream and the water" in vtt


def test_inspect_lists_each_removal_with_its_line(tmp_path):
    (tmp_path / "rivers.md").write_text(TRANSCRIPT, encoding="utf-8")
    (tmp_path / "rivers.toml").write_text(MANIFEST, encoding="utf-8")
    result = runner.invoke(app, ["inspect", str(tmp_path / "rivers.md")])
    assert result.exit_code == 0, result.output
    check = result.output.split("Check:\n", 1)[1].splitlines()
    assert check[:3] == ["  line 6: removed a control character (U+0001)",
                         "  line 6: removed an ESC sequence ('\\x1b]0;pwned\\x07')",
                         "  line 8: removed a control character (U+0007)"]
    assert "  line 8: removed a Unicode noncharacter (U+FFFE)" in check
    assert "  line 10: removed a bidirectional override (U+202E, right-to-left override)" in check
    assert "  line 10: removed a control character (U+009B)" in check
    assert "  line 10: removed a Unicode noncharacter (U+1FFFF)" in check
    assert "  line 12: removed an ESC sequence ('\\x1bc')" in check
    assert "  line 14: removed a bidirectional isolate (U+2068, first strong isolate)" in check
    assert "  line 14: removed an ESC sequence ('\\x1b')" in check
    assert "  line 14: removed a control character (U+0008)" in check
    # escapes the front matter decoded, after the reader
    assert "  transcript's metadata title: removed an ESC sequence ('\\x1b[1m')" in check
    assert "  transcript's metadata description: removed a control character (U+007F)" in check
    # the manifest's strings, by key
    assert "  manifest [episode] author: removed an ESC sequence ('\\x1b[31m')" in check
    assert "  manifest [speakers][0] name: removed a bidirectional isolate (U+2066, left-to-right isolate)" in check
    assert "  manifest [chapter_titles] 3: removed a control character (U+009B)" in check
    assert len([line for line in check if "removed" in line]) == 31
    assert "Episode: The river and the sea (" in result.output


@pytest.mark.parametrize("data, message", [
    (b"HOST: Hi\x00 there.\n", "looks binary (NUL byte at offset 8), not text"),
    ("\ufeffHOST: Hi\x00.\n".encode("utf-16"), "looks binary (NUL at line 1), not text"),
    (b"HOST: caf\xe9\n", "is not UTF-8: invalid byte 0xe9 at byte offset 9"),
])
def test_a_nul_or_invalid_utf8_stays_a_refusal(data, message):
    with pytest.raises(InputError, match=re.escape(message)):
        decode_text(data, source="t.txt")


def test_clean_text_is_the_same_object_class_and_keeps_what_belongs():
    kept = "Tab\tand CRLF\r\nright-to-left \u05e9\u05dc\u05d5\u05dd \u200f mark, \u00e9, emoji \U0001f600\n"
    text = decode_text(kept.encode("utf-8"))
    assert text == kept and text.removals == ()
    assert decode_text("a\x0cb\x0bc\n".encode()) == "a\nb\nc\n"  # a form feed or vertical tab ends a line
