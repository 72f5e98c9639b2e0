"""The rendered seed, read back by mutagen and by ffprobe."""

from __future__ import annotations

import numpy as np
import pyloudnorm
from mutagen.id3 import ID3, CTOCFlags
from mutagen.mp3 import MP3

from audio import tools
from audio.encode import decode
from audio.loudness import true_peak_dbtp
from audio.outputs.tag import ffprobe_chapters, read_chapters
from audio.render import RenderOptions, render


def test_chapters_read_back_with_mutagen(seed_render):
    tags = ID3(str(seed_render.path))
    assert tags.version[:2] == (2, 3)
    chaps = tags.getall("CHAP")
    assert len(chaps) == 8
    ctoc = tags.getall("CTOC")
    assert len(ctoc) == 1
    toc = ctoc[0]
    assert toc.flags & CTOCFlags.TOP_LEVEL and toc.flags & CTOCFlags.ORDERED
    assert toc.sub_frames.getall("TIT2")[0].text[0] == seed_render.episode.metadata.title
    by_id = {c.element_id: c for c in chaps}
    ordered = [by_id[cid] for cid in toc.child_element_ids]
    starts = [c.start_time for c in ordered]
    assert starts[0] == 0 and starts == sorted(starts) and len(set(starts)) == 8
    for prev, cur in zip(ordered, ordered[1:]):
        assert prev.end_time == cur.start_time
    assert ordered[-1].end_time == seed_render.duration_ms
    for c in ordered:
        assert (c.start_offset, c.end_offset) == (0xFFFFFFFF, 0xFFFFFFFF)
        assert c.sub_frames.getall("TIT2")
    assert [m.title for m in read_chapters(seed_render.path)] == [c.title for c in seed_render.episode.chapters]


def test_chap_frames_are_in_start_order_in_the_file(seed_render):
    data = seed_render.path.read_bytes()
    positions = []
    pos = data.find(b"CHAP")
    while pos != -1 and pos < 20000:
        element_end = data.index(b"\x00", pos + 10)
        positions.append(int.from_bytes(data[element_end + 1:element_end + 5], "big"))
        pos = data.find(b"CHAP", pos + 4)
    assert len(positions) == 8
    assert positions == sorted(positions)


def test_ffprobe_lists_the_same_chapters(seed_render):
    seen = ffprobe_chapters(seed_render.path)
    assert [(c["start_ms"], c["end_ms"], c["title"]) for c in seen] == [
        (m.start_ms, m.end_ms, m.title) for m in seed_render.chapters]


def test_chapters_start_just_before_their_question(seed_render):
    first_sentence = {s.turn_index: s.start_ms for s in seed_render.sentences if s.sentence_index == 0}
    for mark, chapter in zip(seed_render.chapters[1:], seed_render.episode.chapters[1:]):
        lead = first_sentence[chapter.turn_index] - mark.start_ms
        assert 0 <= lead <= 300


def test_metadata_and_transcript_tags(seed_render):
    tags = ID3(str(seed_render.path))
    meta = seed_render.episode.metadata
    assert tags["TIT2"].text[0] == meta.title
    assert tags["TALB"].text[0] == "Flashpoint Iran"
    assert tags["TPE1"].text[0] == "VOA"
    assert tags["TCON"].text[0] == "Podcast"
    assert tags["TLAN"].text[0] == "eng"
    raw = ID3(str(seed_render.path), translate=False)
    assert str(raw["TYER"].text[0]) == "2024" and "TDRC" not in raw
    assert tags.getall("COMM")[0].text[0] == meta.description
    lines = tags.getall("USLT")[0].text.splitlines()
    assert len(lines) == 15
    assert lines[0].startswith("VOA: More than a week after Iran")
    assert lines[2].startswith("Aaron Zelin: The Islamic State Khorasan Province")
    assert lines[-1].endswith("no matter what.")


def test_loudness_and_true_peak_of_the_decoded_mp3(seed_render):
    decoded = decode(seed_render.path, 44100).astype(np.float64)
    lufs = pyloudnorm.Meter(44100).integrated_loudness(decoded)
    assert abs(lufs - (-16.0)) <= 1.0
    assert true_peak_dbtp(decoded, 44100) <= -1.0
    assert abs(seed_render.loudness.integrated_lufs - lufs) < 0.01


def test_cbr_with_info_header_and_durations_agree(seed_render):
    info = MP3(str(seed_render.path)).info
    assert info.sample_rate == 44100 and info.channels == 1
    assert info.bitrate == 64000
    data = seed_render.path.read_bytes()
    assert b"Info" in data[:20000]  # the Xing header of a CBR file
    proc = tools.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                      str(seed_render.path)])
    ffprobe_s = float(proc.stdout)
    assert abs(ffprobe_s - info.length) < 0.05
    assert abs(seed_render.duration_ms / 1000 - info.length) < 0.002


def test_id3v24_on_request(tmp_path, seed_episode, clip_cache):
    result = render(seed_episode, tmp_path / "v4.mp3", RenderOptions(id3_version=4, cache_dir=clip_cache))
    tags = ID3(str(result.path))
    assert tags.version[:2] == (2, 4)
    assert [c["title"] for c in ffprobe_chapters(result.path)] == [m.title for m in result.chapters]
    assert str(tags["TDRC"].text[0]) == "2024-01-12"
    assert result.synthesis.synthesised == 0  # every clip came from the session's cache
