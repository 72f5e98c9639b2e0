"""Temporary files: a render removes what killed renders of the same MP3 left, never a running render's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from audio.episode import load_episode
from audio.files import remove_stale, temporary_beside
from audio.outputs.tag import read_chapters
from audio.render import RenderOptions, render

ROOT = Path(__file__).resolve().parent.parent
SHORT = "An introduction.\nHOST: A question?\nGUEST: An answer.\n"
MANIFEST = ('[[speakers]]\nid = "host"\nname = "Host"\nlabels = ["HOST"]\nvoice = "pyttsx3:gmw/en-us"\nrole = "host"\n\n'
            '[[speakers]]\nid = "guest"\nname = "Guest"\nlabels = ["GUEST"]\nvoice = "pyttsx3:gmw/en-gb-x-rp+m1"\n')
# A render whose speech engine never answers: it holds its temporary MP3 until it is killed.
HUNG = """
import sys
from audio.episode import load_episode
from audio.render import RenderOptions, render
render(load_episode(sys.argv[1]), sys.argv[2],
       RenderOptions(use_cache=False, tts_command=(sys.executable, "-c", "import time; time.sleep(600)")))
"""


def _hung_render(src: Path, dest: Path) -> tuple[subprocess.Popen, Path]:
    """A render of *dest* stuck in its speech, and its temporary MP3 once it is there."""
    proc = subprocess.Popen([sys.executable, "-c", HUNG, str(src), str(dest)], cwd=ROOT, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        mine = [p for p in dest.parent.glob(f".{dest.stem}.~*-{proc.pid}.*.part.mp3")]
        if mine:
            return proc, mine[0]
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_killed_renders_leftover_goes_and_a_running_renders_stays(tmp_path, clip_cache):
    src = tmp_path / "talk.txt"
    src.write_text(SHORT, encoding="utf-8")
    (tmp_path / "talk.toml").write_text(MANIFEST, encoding="utf-8")
    dest = tmp_path / "out" / "talk.mp3"
    dest.parent.mkdir()
    running, writing = _hung_render(src, dest)
    try:
        killed, leftover = _hung_render(src, dest)  # (its own start kept the running render's file)
        assert writing.exists()
        os.killpg(killed.pid, signal.SIGKILL)  # kill -9: nothing of it cleans up
        killed.wait()
        sidecar = dest.parent / f".talk.vtt.{leftover.name.split('.')[2]}.abcd1234"  # a sidecar it was writing
        sidecar.write_text("WEBVTT\n")
        other = dest.parent / ".other.~vm-1.abcd1234.part.mp3"  # another destination's: never ours to judge
        other.write_bytes(b"")
        assert leftover.exists() and writing.exists()
        result = render(load_episode(src), dest, RenderOptions(cache_dir=clip_cache))
        assert read_chapters(result.path)
        assert not leftover.exists() and not sidecar.exists()  # the killed render's
        assert writing.exists() and running.poll() is None  # the running render's: kept
        assert other.exists()
        assert sorted(p.name for p in dest.parent.iterdir()) == sorted([dest.name, writing.name, other.name])
    finally:
        os.killpg(running.pid, signal.SIGKILL)
        running.wait()


def test_names_carry_the_writer_and_only_the_dead_are_swept(tmp_path):
    dest = tmp_path / "ep.mp3"
    mine = temporary_beside(dest, ".part.mp3")
    assert mine.name.startswith(".ep.~") and f"-{os.getpid()}." in mine.name
    host = mine.name.split(".~")[1].split("-")[0]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = tmp_path / f".ep.chapters.json.~{host}-{dead.pid}.abcd1234"
    elsewhere = tmp_path / f".ep.~not{host}-{dead.pid}.abcd1234.part.mp3"  # another machine's, in a shared folder
    unrelated = tmp_path / f".epilogue.~{host}-{dead.pid}.abcd1234.part.mp3"
    for p in (gone, elsewhere, unrelated):
        p.write_bytes(b"")
    assert remove_stale(dest) == [gone]
    assert mine.exists() and elsewhere.exists() and unrelated.exists()
