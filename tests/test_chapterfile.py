"""`episode chapters --set/--remove` on an existing MP3, and every reader agreeing."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import struct
import subprocess

import eyed3
import pytest
from mutagen.id3 import ID3
from typer.testing import CliRunner

from audio.cli import app
from audio.episode import load_episode
from audio.errors import TagError
from audio.outputs.chapterfile import remove_chapters, set_chapters
from audio.outputs.tag import ffprobe_chapters, read_chapters
from audio.render import RenderOptions, render

runner = CliRunner()
TITLE = "Qassem Soleimani – Kerman"


def _decode_chap(payload: bytes, version: int) -> tuple[int, int, str]:
    """A CHAP frame body (addendum 1.0): id, times, offsets, then a TIT2 sub-frame."""
    end_of_id = payload.index(b"\x00")
    start, end = struct.unpack(">II", payload[end_of_id + 1:end_of_id + 9])
    sub = payload[end_of_id + 17:]
    assert sub[:4] == b"TIT2"
    raw = sub[4:8]
    size = ((raw[0] << 21) | (raw[1] << 14) | (raw[2] << 7) | raw[3]) if version == 4 else int.from_bytes(raw, "big")
    body = sub[10:10 + size]
    text = body[1:].decode({0: "latin-1", 1: "utf-16", 2: "utf-16-be", 3: "utf-8"}[body[0]])
    return start, end, text.rstrip("\x00")


def audio_sha256(path) -> str:
    """Hash of everything after the ID3v2 tag: the MPEG frames."""
    data = path.read_bytes()
    size = 0
    if data[:3] == b"ID3":
        raw = data[6:10]
        size = 10 + ((raw[0] << 21) | (raw[1] << 14) | (raw[2] << 7) | raw[3])
    return hashlib.sha256(data[size:]).hexdigest()


@pytest.fixture(scope="module")
def small_episodes(tmp_path_factory, clip_cache):
    folder = tmp_path_factory.mktemp("readers")
    src = folder / "talk.txt"
    src.write_text(f"An introduction to the café.\nHOST: {TITLE}?\nGUEST: It was a long day.\n"
                   "HOST: What came next?\nGUEST: Nothing came next.\n", encoding="utf-8")
    episode = load_episode(src)
    return {v: render(episode, folder / f"v{v}.mp3", RenderOptions(id3_version=v, cache_dir=clip_cache))
            for v in (3, 4)}


@pytest.mark.parametrize("version", [3, 4])
def test_readers_agree(small_episodes, version):
    result = small_episodes[version]
    want = [(m.start_ms, m.end_ms, m.title) for m in result.chapters]
    assert want[1][2] == TITLE + "?"
    assert [(m.start_ms, m.end_ms, m.title) for m in read_chapters(result.path)] == want
    assert [(c["start_ms"], c["end_ms"], c["title"]) for c in ffprobe_chapters(result.path)] == want
    tag = eyed3.load(str(result.path)).tag
    assert tag.version[:2] == (2, version)
    assert [(c.times.start, c.times.end, c.title) for c in tag.chapters] == want
    toc = list(tag.table_of_contents)[0]
    assert toc.toplevel and toc.ordered and list(toc.child_ids) == [m.element_id.encode() for m in result.chapters]
    assert tag.title == result.episode.metadata.title
    # -G1:4 names repeated tags ID3v2_3:Copy1:..., so JSON keeps every CHAP
    out = subprocess.run(["exiftool", "-j", "-a", "-G1:4", "-u", "-b", str(result.path)], capture_output=True,
                         check=True).stdout
    pairs = [(k.replace(":Copy", ":").split(":")[0] + ":" + k.split(":")[-1], v)
             for k, v in json.loads(out)[0].items()]
    exif = dict(pairs)
    group = f"ID3v2_{version}"
    assert exif[f"{group}:Title"] == result.episode.metadata.title
    assert exif[f"{group}:Genre"] == "Podcast"
    year = exif.get(f"{group}:Year") or exif.get(f"{group}:RecordingTime")
    assert str(year).startswith(result.episode.metadata.date[:4])
    # ExifTool 12.57 extracts CHAP frames without decoding them: decode its bytes here
    chaps = [_decode_chap(base64.b64decode(v.split(":", 1)[1]), version)
             for k, v in pairs if k == f"{group}:ID3_CHAP"]
    assert sorted(chaps) == want


def test_set_and_remove_keep_audio_and_tags(small_episodes, tmp_path):
    target = tmp_path / "copy.mp3"
    shutil.copy(small_episodes[3].path, target)
    before = audio_sha256(target)
    chapters_txt = tmp_path / "chapters.txt"
    chapters_txt.write_text(f"00:00:00.000 Opening\n00:00:02.500 {TITLE}\n# a comment\n00:00:04 Close\n",
                            encoding="utf-8")
    result = runner.invoke(app, ["chapters", str(target), "--set", str(chapters_txt)])
    assert result.exit_code == 0, result.output
    assert result.output == f"Wrote 3 chapters to {target}\n"
    assert audio_sha256(target) == before
    assert [(c["start_ms"], c["title"]) for c in ffprobe_chapters(target)] == [
        (0, "Opening"), (2500, TITLE), (4000, "Close")]
    tags = ID3(str(target))
    assert tags.version[:2] == (2, 3)
    assert tags.getall("USLT") and tags["TIT2"].text[0] == small_episodes[3].episode.metadata.title
    js = tmp_path / "chapters.json"
    js.write_text(json.dumps({"version": "1.2.0", "chapters": [{"startTime": 0, "title": "One"},
                                                                {"startTime": 1.25, "title": "Two", "endTime": 3}]}))
    marks = set_chapters(target, js)
    assert [(m.start_ms, m.end_ms) for m in marks] == [(0, 1250), (1250, 3000)]
    assert audio_sha256(target) == before
    assert remove_chapters(target) == 2
    assert read_chapters(target) == () and ffprobe_chapters(target) == []
    assert audio_sha256(target) == before
    assert ID3(str(target)).getall("USLT")


@pytest.mark.parametrize("content, message", [
    ("00:00:05.000 B\n00:00:01.000 A\n", "chapters out of order: 'A' starts before 'B'"),
    ('{"chapters": [{"startTime": 0, "endTime": 3, "title": "A"}, {"startTime": 2, "title": "B"}]}',
     "chapters overlap: 'A' ends after 'B' starts"),
    ("00:00:00.000 A\n01:00:00.000 B\n", "chapter 'B' starts at 3600000 ms, past the end"),
    ("0:0:x Bad\n", "line 1: expected 'HH:MM:SS.mmm Title'"),
])
def test_bad_chapter_files_are_refused(small_episodes, tmp_path, content, message):
    target = tmp_path / "copy.mp3"
    shutil.copy(small_episodes[3].path, target)
    before = target.read_bytes()
    chapters = tmp_path / "c.txt"
    chapters.write_text(content, encoding="utf-8")
    result = runner.invoke(app, ["chapters", str(target), "--set", str(chapters)])
    assert result.exit_code == 2
    assert message in result.output and result.output.count("\n") == 1
    assert target.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_too_many_chapters_in_the_library(small_episodes, tmp_path):
    from audio.assemble import ChapterMark
    from audio.outputs.tag import check_chapters

    check_chapters([ChapterMark(n, f"c{n}", "t", n, n + 1) for n in range(256)])  # nested, not refused
    with pytest.raises(TagError, match=r"65026 chapters: an MP3's tables of contents hold at most 65025 \(255 tables"):
        check_chapters([ChapterMark(n, f"c{n}", "t", n, n + 1) for n in range(65026)])


def test_more_than_255_chapters_set_on_an_mp3_are_nested(small_episodes, tmp_path):
    target = tmp_path / "copy.mp3"
    shutil.copy(small_episodes[3].path, target)
    chapters = tmp_path / "c.txt"
    chapters.write_text("".join(f"00:00:00.{n:03d} C{n}\n" for n in range(256)), encoding="utf-8")
    result = runner.invoke(app, ["chapters", str(target), "--set", str(chapters)])
    assert result.exit_code == 0 and result.output == (
        "Warning: 256 chapters are more than one ID3 table of contents lists (255): they are nested in 2 tables "
        f"under the top-level one (every chapter is still a CHAP frame)\nWrote 256 chapters to {target}\n")
    assert [m.title for m in read_chapters(target)] == [f"C{n}" for n in range(256)]
    assert [c["title"] for c in ffprobe_chapters(target)] == [f"C{n}" for n in range(256)]
