"""The Whisper round trip, with the real tiny.en model, and damage it must catch."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from mutagen.id3 import ID3

from audio.encode import decode, encode_mp3
from audio.outputs.tag import read_chapters
from audio.verify import RefTurn, evaluate, reference_from_tags, verify

RATE = 22050


@pytest.fixture(scope="module")
def seed_report(seed_render, seed_heard):
    turns, chapters = reference_from_tags(seed_render.path)
    return evaluate(turns, chapters, seed_heard, audio=str(seed_render.path))


@pytest.fixture(scope="module")
def seed_audio(seed_render):
    return decode(seed_render.path, RATE).copy()


def _turn_span_ms(seed_render, turn_index):
    sentences = [s for s in seed_render.sentences if s.turn_index == turn_index]
    return sentences[0].start_ms, sentences[-1].end_ms


def _write(samples, path):
    encode_mp3([samples.astype(np.float32)], RATE, path, bitrate_kbps=64)
    return path


def test_round_trip_passes_with_every_turn_in_order(seed_render, seed_report):
    report = seed_report
    assert report.passed, report.failures
    assert report.overall.words == 1051
    # the intelligibility targets: the clips, and so the whole render, are
    # the same on every run (pyttsx3 speaks each sentence in a fresh engine, the
    # neural engines with their noise seeded per sentence)
    assert report.overall.wer <= 0.08
    assert max(t.score.wer for t in report.turns) <= 0.25
    assert all(abs(t.drift_ms) <= 250 for t in report.turns if t.drift_ms is not None)
    assert [t.status for t in report.turns] == ["ok"] * 15
    assert set(report.speakers) == {"VOA", "Aaron Zelin"}
    assert len(report.chapters) == 8
    assert all(abs(c.drift_ms) <= 1500 for c in report.chapters)
    # heard turn starts follow the rendered ones
    heard = [t.heard_start_ms for t in report.turns if t.heard_start_ms is not None]
    assert heard == sorted(heard) and len(heard) >= 13


def test_report_json_round_trips(seed_report, tmp_path):
    from audio.report import render_table, write_json

    write_json(seed_report.to_json(), tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["passed"] is True
    assert data["overall"]["words"] == 1051
    assert abs(data["overall"]["wer"] - seed_report.overall.wer) < 1e-3
    assert len(data["turns"]) == 15 and len(data["chapters"]) == 8
    table = render_table(seed_report)
    assert "by speaker" in table and table.rstrip().endswith("PASS")


def test_cut_from_the_middle_names_the_turns(seed_render, seed_audio, tmp_path):
    start_ms = 200_000
    cut = _write(np.concatenate([seed_audio[:start_ms * RATE // 1000],
                                 seed_audio[(start_ms + 10_000) * RATE // 1000:]]), tmp_path / "cut.mp3")
    report = verify(cut, reference_from_tags(seed_render.path))
    hit = {s.turn_index for s in seed_render.sentences if s.start_ms < start_ms + 10_000 and s.end_ms > start_ms}
    flagged = {t.index for t in report.turns if t.status in ("missing", "incomplete")}
    assert flagged and flagged <= hit
    assert not report.passed


def test_swapped_chapters_are_out_of_order(seed_render, seed_audio, tmp_path):
    marks = seed_render.chapters
    a0, a1 = marks[2].start_ms * RATE // 1000, marks[3].start_ms * RATE // 1000
    b1 = marks[4].start_ms * RATE // 1000
    swapped = np.concatenate([seed_audio[:a0], seed_audio[a1:b1], seed_audio[a0:a1], seed_audio[b1:]])
    report = verify(_write(swapped, tmp_path / "swap.mp3"), reference_from_tags(seed_render.path))
    moved = {t.index for t in report.turns if t.status == "out-of-order"}
    chapter3 = set(range(seed_render.episode.chapters[2].turn_index, seed_render.episode.chapters[3].turn_index))
    chapter4 = set(range(seed_render.episode.chapters[3].turn_index, seed_render.episode.chapters[4].turn_index))
    assert moved in (chapter3, chapter4)
    assert any("out-of-order" in f for f in report.failures)


def test_turn_replaced_by_silence_is_missing(seed_render, seed_audio, tmp_path):
    start, end = _turn_span_ms(seed_render, 8)
    silenced = seed_audio.copy()
    silenced[start * RATE // 1000:end * RATE // 1000] = 0
    report = verify(_write(silenced, tmp_path / "silent.mp3"), reference_from_tags(seed_render.path))
    assert report.turns[8].status == "missing"
    assert [t.index for t in report.turns if t.status != "ok"] == [8]
    assert "turn(s) 9 missing" in report.failures


def test_shifted_chapters_drift_everywhere(seed_render, tmp_path):
    shifted = tmp_path / "shifted.mp3"
    shutil.copy(seed_render.path, shifted)
    tags = ID3(str(shifted))
    for chap in tags.getall("CHAP"):
        chap.start_time += 5000
        chap.end_time += 5000
    tags.save(str(shifted), v2_version=3)
    assert read_chapters(shifted)[0].start_ms == 5000
    report = verify(shifted)
    assert all(c.drift_ms is not None and -5800 <= c.drift_ms <= -4200 for c in report.chapters)
    assert any(f.startswith("chapter ") and "ms from its first words" in f for f in report.failures)


def test_a_different_transcript_fails(seed_render):
    other = [RefTurn("Host", "Welcome to the weekly cooking show where we bake bread."),
             RefTurn("Guest", "Thank you, today I will show you how to make a sourdough loaf at home.")]
    report = verify(seed_render.path, (other, []))
    assert not report.passed
    assert report.overall.wer > 0.9
    assert "the audio has no chapters: chapter timing not checked" in report.notes
