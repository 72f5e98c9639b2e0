"""Checked before speaking: what the transcript and manifest tell is refused before any engine starts;
more than 255 chapters are nested, and read back by ffprobe, mutagen and eyeD3."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import eyed3
import pytest
from typer.testing import CliRunner

from audio.cli import app
from audio.episode import load_episode
from audio.errors import EpisodeError
from audio.outputs.tag import ffprobe_chapters, read_chapters
from audio.parse import Chapter
from audio.precheck import MAX_CHAPTERS, chapter_groups
from audio.render import RenderOptions, render

runner = CliRunner()
QUESTIONS = 260
HOST = ('[[speakers]]\nid = "host"\nname = "Host"\nlabels = ["HOST"]\nvoice = "pyttsx3:gmw/en-us"\nrole = "host"\n\n'
        '[[speakers]]\nid = "guest"\nname = "Guest"\nlabels = ["GUEST"]\nvoice = "pyttsx3:gmw/en-gb-x-rp+m1"\n')


@pytest.fixture(scope="module")
def quiz(tmp_path_factory, clip_cache):
    """A quiz of 260 questions, one chapter each (the same short answer: little to speak)."""
    folder = tmp_path_factory.mktemp("quiz")
    body = "# Quiz night\n\n" + "".join(f"## Question {n}\n\nHOST: Number {n % 7}?\n\nGUEST: Yes.\n\n"
                                        for n in range(1, QUESTIONS + 1))
    (folder / "quiz.md").write_text(body, encoding="utf-8")
    (folder / "quiz.toml").write_text("[render]\nsentence_pause_ms = 0\nturn_pause_ms = 100\nchapter_pause_ms = 100\n\n"
                                      + HOST, encoding="utf-8")
    result = runner.invoke(app, ["render", str(folder / "quiz.md"), "-o", str(folder / "quiz.mp3"),
                                 "--cache-dir", str(clip_cache), "--no-sidecars"])
    return folder / "quiz.mp3", result


def test_more_than_255_chapters_are_nested_and_said_in_one_line(quiz):
    mp3, result = quiz
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == ("Warning: 260 chapters are more than one ID3 table of contents lists (255): they are nested "
                        "in 2 tables under the top-level one (every chapter is still a CHAP frame)")
    assert lines[1].startswith(f"Wrote {mp3} (") and ", 260 chapters, " in lines[1]
    want = [f"Question {n}" for n in range(1, QUESTIONS + 1)]
    # mutagen (our reader follows the nested tables)
    marks = read_chapters(mp3)
    assert [m.title for m in marks] == want
    assert all(a.end_ms <= b.start_ms for a, b in zip(marks, marks[1:]))
    # ffprobe reads the CHAP frames (in file order; it ignores tables of contents)
    assert [(c["start_ms"], c["end_ms"], c["title"]) for c in ffprobe_chapters(mp3)] == [
        (m.start_ms, m.end_ms, m.title) for m in marks]
    # eyeD3: a top-level table of two nested ones, 130 chapters each, in order
    tag = eyed3.load(str(mp3)).tag
    tocs = {toc.element_id: toc for toc in tag.table_of_contents}
    top = [toc for toc in tocs.values() if toc.toplevel]
    assert len(top) == 1 and top[0].ordered and top[0].child_ids == [b"toc1", b"toc2"]
    assert [len(tocs[c].child_ids) for c in top[0].child_ids] == [130, 130]
    chapters = {c.element_id: c for c in tag.chapters}
    nested = [chapters[cid].sub_frames.get(b"TIT2")[0].text for c in top[0].child_ids for cid in tocs[c].child_ids]
    assert nested == want
    assert [tocs[c].description for c in top[0].child_ids] == ["Chapters 1-130", "Chapters 131-260"]
    # `episode chapters` lists them all
    listed = runner.invoke(app, ["chapters", str(mp3)])
    assert listed.exit_code == 0 and len(listed.output.splitlines()) == QUESTIONS


def test_tables_are_even():
    assert [len(g) for g in chapter_groups(255)] == [255]
    assert [len(g) for g in chapter_groups(256)] == [128, 128]
    assert [len(g) for g in chapter_groups(511)] == [171, 170, 170]
    assert [len(g) for g in chapter_groups(MAX_CHAPTERS)] == [255] * 255


def _marking_worker(marker: Path) -> tuple[str, ...]:
    """The real speech worker, which first leaves *marker*: an engine started (fault injection's probe)."""
    script = ("import pathlib, runpy, sys; pathlib.Path(sys.argv[1]).touch(); sys.argv = sys.argv[1:]; "
              "runpy.run_module('audio.engines.worker', run_name='__main__')")
    return (sys.executable, "-c", script, str(marker))


@pytest.fixture()
def short(tmp_path):
    src = tmp_path / "short.txt"
    src.write_text("An introduction.\nHOST: A question?\nGUEST: An answer.\n", encoding="utf-8")
    (tmp_path / "short.toml").write_text(HOST, encoding="utf-8")
    return load_episode(src)


def _blocked(tmp_path: Path) -> Path:
    (tmp_path / "file").write_text("not a folder")
    return tmp_path / "file" / "out" / "x.mp3"


@pytest.mark.parametrize("change, where, message", [
    (lambda e, t: e, _blocked, "cannot write to {tmp}/file/out: {tmp}/file is a file, not a folder"),
    (lambda e, t: e, lambda t: t / "folder.mp3", "{tmp}/folder.mp3 is a folder; give an .mp3 file name"),
    (lambda e, t: replace(e, chapters=tuple(Chapter(i, f"C{i}", 0) for i in range(MAX_CHAPTERS + 1))), None,
     f"{MAX_CHAPTERS + 1} chapters: an MP3's tables of contents hold at most {MAX_CHAPTERS} (255 tables of 255)"),
    (lambda e, t: replace(e, manifest=replace(e.manifest, metadata=replace(e.metadata, image=str(t / "gone.png")))),
     None, "cover art not found: {tmp}/gone.png"),
    (lambda e, t: replace(e, manifest=e.manifest.with_voices({"guest": "piper:" + str(t / "missing.onnx")})), None,
     "voice piper:{tmp}/missing.onnx: no such model file"),
    (lambda e, t: replace(e, manifest=replace(e.manifest, metadata=replace(e.metadata, title=" "))), None,
     "the episode has no title"),
])
def test_refused_before_any_engine_starts(short, tmp_path, change, where, message):
    (tmp_path / "folder.mp3").mkdir()
    marker = tmp_path / "engine-started"
    options = RenderOptions(use_cache=False, tts_command=_marking_worker(marker))
    dest = where(tmp_path) if where else tmp_path / "x.mp3"
    with pytest.raises(EpisodeError) as caught:
        render(change(short, tmp_path), dest, options)
    assert message.format(tmp=tmp_path) in str(caught.value)
    assert not marker.exists()
    assert not list(tmp_path.rglob("*.part.mp3"))


def test_the_probe_sees_an_engine_start(short, tmp_path):
    """The same render, nothing wrong with it: the marking worker speaks, and is seen to."""
    marker = tmp_path / "engine-started"
    result = render(short, tmp_path / "x.mp3", RenderOptions(use_cache=False, tts_command=_marking_worker(marker)))
    assert marker.exists() and result.path.is_file() and len(result.chapters) == 2
