"""`episode init` and what `episode inspect` flags: exact messages and exit codes."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audio.cli import app
from audio.episode import load_episode
from audio.manifest import load_manifest

CORPUS = Path(__file__).resolve().parent / "corpus"
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def page(tmp_path):
    src = tmp_path / "web-page.txt"
    shutil.copy(CORPUS / "web-page.txt", src)
    return src


def test_init_writes_what_was_inferred(page):
    result = run("init", page)
    dest = page.with_suffix(".toml")
    assert result.exit_code == 0, result.output
    assert result.output == (f"Wrote {dest}: Tomás Rivera (guest), Mark Hannah (host); 3 chapters\n"
                             "4 decisions to check: they are listed at the top of web-page.toml\n")
    text = dest.read_text(encoding="utf-8")
    assert 'title = "The Long Road Home"  # from line 3\n' in text
    assert 'date = "2024-03-03"  # from line 15\n' in text
    assert "number = 4  # from line 3\n" in text
    assert 'labels = ["MARK HANNAH", "HANNAH"]  # as written in the transcript\n' in text
    assert 'role = "host"  # introduces the show, line 21\n' in text
    assert text.count('# gender = ""') == 2  # for the user to say; never guessed
    assert "#   line 9: dropped as page clutter (a list of links)" in text
    data = tomllib.loads(text)
    assert [s["id"] for s in data["speakers"]] == ["rivera", "hannah"]
    # the manifest, now beside the transcript, reads it the same way
    inferred = load_episode(page, find_manifest=False)
    with_manifest = load_episode(page)
    assert with_manifest.manifest.metadata == inferred.manifest.metadata
    assert [(t.speaker_id, t.text) for t in with_manifest.turns] == [(t.speaker_id, t.text) for t in inferred.turns]
    assert [s.voice for s in load_manifest(dest).speakers] == [s.voice for s in inferred.manifest.speakers]


def test_init_never_overwrites_without_force(page):
    dest = page.with_suffix(".toml")
    dest.write_text("# my own edits\n", encoding="utf-8")
    result = run("init", page)
    assert result.exit_code == 2
    assert result.output == f"Error: {dest} already exists: edit it, or use --force to replace it\n"
    assert dest.read_text(encoding="utf-8") == "# my own edits\n"
    result = run("init", page, "--force")
    assert result.exit_code == 0, result.output
    assert dest.read_text(encoding="utf-8").startswith("# Episode manifest for web-page.txt")


def test_init_says_why_the_host_is_the_host(tmp_path):
    src = tmp_path / "talk.txt"
    src.write_text("ANN: I think so.\nBEN: Why?\nANN: Because.\nBEN: Where, exactly?\nANN: Here.\n", encoding="utf-8")
    assert run("init", src).exit_code == 0
    assert 'role = "host"  # asks the most questions (2), line 2\n' in src.with_suffix(".toml").read_text("utf-8")


def test_init_over_a_folder_is_one_line(tmp_path):
    src = tmp_path / "talk.txt"
    src.write_text("ANN: Hi?\nBEN: Hello.\n", encoding="utf-8")
    (tmp_path / "talk.toml").mkdir()
    result = run("init", src, "--force")
    assert result.exit_code == 2
    assert result.output == f"Error: cannot write {tmp_path / 'talk.toml'}: Is a directory\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.toml", "talk.txt"]  # no temporary file left


def test_init_of_a_transcript_without_labels(tmp_path):
    src = tmp_path / "plain.txt"
    shutil.copy(CORPUS / "no-labels.txt", src)
    result = run("init", src)
    assert result.exit_code == 0, result.output
    assert result.stderr == ("Warning: no speaker labels found: the whole transcript is read as narration "
                             "in one voice\n")
    manifest = load_manifest(src.with_suffix(".toml"))
    assert [(s.id, s.role, s.labels) for s in manifest.speakers] == [("narrator", "narrator", ())]
    assert manifest.narrator == "narrator"
    assert [t.speaker_id for t in load_episode(src).turns] == ["narrator", "narrator"]


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.txt", "transcript not found: {path}"),
    (lambda d: (d / "folder.txt").mkdir() or d / "folder.txt", "{path} is a folder, not a transcript"),
    (lambda d: (d / "latin.txt").write_bytes("HOST: caf\xe9?\n".encode("latin-1")) and d / "latin.txt",
     "{path} is not UTF-8: invalid byte 0xe9 at byte offset 9"),
    (lambda d: (d / "bad.vtt").write_text("WEBVTT\n\n00:01 --> 00:02\nHi.\n") and d / "bad.vtt",
     "{path}: line 3: broken cue timing '00:01 --> 00:02' (expected HH:MM:SS.mmm --> HH:MM:SS.mmm)"),
    (lambda d: (d / "talk.toml").write_text("x = 1\n") and d / "talk.toml",
     "{path} is a .toml file: give the transcript, not a manifest"),
])
def test_init_refuses_what_it_cannot_read(tmp_path, make, message):
    path = make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run("init", path)
    assert result.exit_code == 2
    assert result.output == f"Error: {message.format(path=path)}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_init_refuses_a_file_it_may_not_read(page, monkeypatch):
    def denied(self):  # fault injection: the tests run as root, whom chmod does not stop
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(Path, "read_bytes", denied)
    result = run("init", page)
    assert result.exit_code == 2
    assert result.output == f"Error: cannot read {page}: Permission denied\n"
    assert not page.with_suffix(".toml").exists()


def test_inspect_flags_doubtful_decisions_with_their_lines(page):
    result = run("inspect", page)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == ["Read as: text+web page", "Episode: The Long Road Home (2024-03-03, episode 4)"]
    assert lines[lines.index("Check:"):] == [
        "Check:",
        "  line 9: dropped as page clutter (a list of links): Listen Here: Apple Podcasts | Spotify | Overcast | …",
        "  line 11: dropped as page clutter (a subscribe or listen line): Subscribe to the newsletter",
        "  line 41: dropped as page clutter (a subscribe or listen line): Share this:",
        "  line 42: dropped as page clutter (a link alone on its line): https://example.org/episodes/4",
    ]


@pytest.mark.parametrize("name, check", [
    ("panel.txt", ["  line 9: label 'AUDIENCE MEMBER' is used once: taken as a speaker"]),
    ("otter-speakers.txt", ["  line 4: label 'Speaker 3' has no text: skipped",
                            "  line 4: speaker 'Speaker 3' has no sentences: left out"]),
])
def test_inspect_flags_labels_used_once_and_speakers_without_sentences(name, check):
    result = run("inspect", CORPUS / name)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[lines.index("Check:") + 1:] == check


def test_inspect_of_a_clean_transcript_flags_nothing():
    result = run("inspect", CORPUS / "zoom.vtt")
    assert result.exit_code == 0
    assert "Check:" not in result.output and result.output.startswith("Read as: webvtt\n")
