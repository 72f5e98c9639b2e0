"""Transcripts as people have them: the corpus in tests/corpus, each file
with the speakers, turns, spoken text, chapters and metadata its
``.expected.json`` says (written by hand from the transcript), and the
formats' own rules and refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from audio.episode import load_episode
from audio.errors import ParseError
from audio.formats import detect_format, read_document
from audio.parse import parse_transcript

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES = sorted(p for p in CORPUS.iterdir() if not p.name.endswith(".expected.json"))
FOUND_FIELDS = ("title", "show", "author", "date", "description", "language", "episode_number")
# what must never reach the speech engine: timings, markup, voice tags, links, footers
NOT_SPEECH_RE = re.compile(r"-->|<v[ .>]|</?[a-z]+>|\*\*|(?:^|\s)#|\[\d|\d:\d\d|https?://|www\.|Transcribed by"
                           r"|WEBVTT|&amp;|\[(?:MUSIC|inaudible|crosstalk)|\(laughs\)|\]\(|^>>|\|")


def expected(path: Path) -> dict:
    return json.loads((path.parent / f"{path.name}.expected.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def episodes():
    return {path.name: load_episode(path) for path in CASES}


def test_corpus_is_complete():
    assert len(CASES) >= 12
    assert all((p.parent / f"{p.name}.expected.json").is_file() for p in CASES)
    kinds = {detect_format(p.read_text(encoding="utf-8"), p.name) for p in CASES}
    assert kinds == {"text", "markdown", "webvtt", "srt", "podcast-json"}


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_speakers_and_turns(path, episodes):
    episode, want = episodes[path.name], expected(path)
    assert episode.format == want["format"]
    assert [{"id": s.id, "name": s.name, "role": s.role} for s in episode.manifest.speakers] == want["speakers"]
    got = [{"speaker": t.speaker_id, "line": t.line_no, **({"narration": True} if t.narration else {}),
            **({"break": True} if t.section_break else {}), "text": t.text} for t in episode.turns]
    assert got == want["turns"]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_spoken_text_is_only_speech(path, episodes):
    """What the speech engine is given (no manifest, so no lexicon) is the expected speech, nothing else."""
    jobs = [job.text for job in episodes[path.name].speech_jobs()]
    assert " ".join(jobs) == " ".join(t["text"] for t in expected(path)["turns"])
    assert [text for text in jobs if NOT_SPEECH_RE.search(text)] == []


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_chapters_metadata_and_doubts(path, episodes):
    episode, want = episodes[path.name], expected(path)
    assert [{"turn": c.turn_index + 1, "title": c.title} for c in episode.chapters] == want["chapters"]
    assert episode.metadata.title == want["title"]
    found = {f: getattr(episode.found, f) for f in FOUND_FIELDS if getattr(episode.found, f)}
    assert found == want["found"]
    for field in ("date", "description", "show", "author", "episode_number"):
        if field in found:  # no manifest: what the transcript says is the episode's metadata
            assert getattr(episode.metadata, field) == found[field]
    assert [d.line_no for d in episode.decisions if d.doubtful] == want["doubtful"]
    assert list(episode.warnings) == want["warnings"]
