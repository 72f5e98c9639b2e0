"""Sidecar files read back with independent readers, and the player page in Chromium."""

from __future__ import annotations

import functools
import http.server
import json
import re
import statistics
import threading
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import srt
import webvtt

from audio import align as al
from audio.outputs.captions import MAX_LINE_CHARS
from audio.outputs.tag import read_chapters

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / ".venv" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"


def _seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def _transcript_text(seed_render):
    return " ".join(" ".join(t.sentences) for t in seed_render.episode.turns)


def test_vtt_cues(seed_render, seed_published):
    vtt = webvtt.read(str(seed_published["seed.vtt"]))
    assert len(vtt) > 50
    previous_end = 0.0
    names = {"VOA", "Aaron Zelin"}
    texts = []
    for cue in vtt:
        lines = re.sub(r"<\d\d:\d\d:\d\d\.\d\d\d>", "", cue.raw_text.replace("</v>", "")).split("\n")
        assert len(lines) <= 2
        assert cue.voice in names
        plain = [line.split(">", 1)[-1] if line.startswith("<v ") else line for line in lines]
        assert all(len(line) <= MAX_LINE_CHARS for line in plain)
        assert _seconds(cue.start) >= previous_end - 1e-6
        assert _seconds(cue.end) - _seconds(cue.start) <= 7.5
        assert _seconds(cue.end) <= seed_render.duration_ms / 1000
        previous_end = _seconds(cue.end)
        texts.append(" ".join(plain).replace("&amp;", "&"))
    assert " ".join(texts) == _transcript_text(seed_render)


def test_srt_matches_vtt(seed_render, seed_published):
    subs = list(srt.parse(seed_published["seed.srt"].read_text(encoding="utf-8")))
    vtt = webvtt.read(str(seed_published["seed.vtt"]))
    assert len(subs) == len(vtt)
    for sub, cue in zip(subs, vtt):
        assert abs(sub.start.total_seconds() - _seconds(cue.start)) < 1e-3
        assert abs(sub.end.total_seconds() - _seconds(cue.end)) < 1e-3
    first_lines = [s.content.split("\n")[0] for s in subs]
    assert first_lines[0].startswith("VOA: More than a week")
    assert sum(line.startswith(("VOA: ", "Aaron Zelin: ")) for line in first_lines) == 15


def test_chapters_json_matches_id3_to_the_millisecond(seed_render, seed_published):
    data = json.loads(seed_published["seed.chapters.json"].read_text())
    assert data["version"] == "1.2.0"
    id3 = read_chapters(seed_render.path)
    assert [(round(c["startTime"] * 1000), round(c["endTime"] * 1000), c["title"]) for c in data["chapters"]] == [
        (m.start_ms, m.end_ms, m.title) for m in id3]


def test_transcript_json(seed_render, seed_published):
    data = json.loads(seed_published["seed.transcript.json"].read_text())
    assert data["version"] == "1.0.0"
    segments = data["segments"]
    assert {s["speaker"] for s in segments} == {"VOA", "Aaron Zelin"}
    assert all(s["startTime"] < s["endTime"] for s in segments)
    assert " ".join(s["body"] for s in segments) == _transcript_text(seed_render)


def test_feed(seed_render, seed_published):
    ns = {"itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd", "podcast": "https://podcastindex.org/namespace/1.0"}
    root = ET.parse(seed_published["feed.xml"]).getroot()
    assert root.tag == "rss" and root.get("version") == "2.0"
    item = root.find("channel/item")
    for tag in ("title", "description", "pubDate", "guid"):
        assert item.findtext(tag)
    enclosure = item.find("enclosure")
    assert enclosure.get("type") == "audio/mpeg"
    assert int(enclosure.get("length")) == seed_render.path.stat().st_size
    assert enclosure.get("url") == "seed.mp3"
    seconds = round(seed_render.duration_ms / 1000)
    assert item.findtext("itunes:duration", namespaces=ns) == f"00:{seconds // 60:02d}:{seconds % 60:02d}"
    assert item.findtext("itunes:author", namespaces=ns) == "VOA"
    captions = [t for t in item.findall("podcast:transcript", ns) if t.get("type") == "text/vtt"]
    assert captions and captions[0].get("rel") == "captions" and captions[0].get("url") == "seed.vtt"
    chapters = item.find("podcast:chapters", ns)
    assert chapters.get("type") == "application/json+chapters" and chapters.get("url") == "seed.chapters.json"


def test_feed_chapters_inline_as_gpodder_and_feedparser_read_them(seed_render, seed_published):
    """Podlove Simple Chapters in the item, as the MP3's CHAP frames: gPodder's parser reads no other kind."""
    import feedparser
    import podcastparser
    from mutagen.id3 import ID3

    tags = ID3(seed_render.path)
    chap = sorted((f.start_time, f.sub_frames["TIT2"].text[0]) for f in tags.getall("CHAP"))
    with open(seed_published["feed.xml"], "rb") as f:
        gpodder = podcastparser.parse("file:feed.xml", f)
    (episode,) = gpodder["episodes"]
    # gPodder keeps whole seconds of a start; the feed has the milliseconds (below)
    assert [(c["start"], c["title"]) for c in episode["chapters"]] == [(ms // 1000, t) for ms, t in chap]
    parsed = feedparser.parse(seed_published["feed.xml"].read_bytes())
    entry = parsed.entries[0]
    assert [c["title"] for c in entry.psc_chapters["chapters"]] == [t for _, t in chap]
    assert entry.psc_chapters["version"] == "1.2"
    raw = seed_published["feed.xml"].read_text(encoding="utf-8")
    assert 'xmlns:psc="http://podlove.org/simple-chapters"' in raw
    assert '<psc:chapter start="00:00:00.000" title=' in raw
    # transcripts JSON first, then VTT, then SRT: AntennaPod takes the first kind it knows
    ns = {"podcast": "https://podcastindex.org/namespace/1.0"}
    item = ET.parse(seed_published["feed.xml"]).getroot().find("channel/item")
    assert [t.get("type") for t in item.findall("podcast:transcript", ns)] == [
        "application/json", "application/json", "text/vtt", "application/x-subrip"]
    psc = item.findall("{http://podlove.org/simple-chapters}chapters/{http://podlove.org/simple-chapters}chapter")
    assert [(c.get("start"), c.get("title")) for c in psc] == [
        (f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}", t) for ms, t in chap]


@pytest.mark.parametrize("which", ["default voices (hibari, piper)", "--engine pyttsx3"])
def test_cue_starts_agree_with_whisper(request, which):
    """Captions start where their words are heard, for every engine: median under 250 ms, none over 500."""
    from audio.outputs.captions import build_cues

    suffix = "_pyttsx3" if "pyttsx3" in which else ""
    seed_render = request.getfixturevalue(f"seed_render{suffix}")
    seed_heard = request.getfixturevalue(f"seed_heard{suffix}")
    names = {s.id: s.name for s in seed_render.episode.manifest.speakers}
    cues = build_cues(seed_render.sentences, names)
    ref = al.reference_tokens([c.text for c in cues])
    alignment = al.align(ref, al.hypothesis_tokens(seed_heard.words))
    offsets = []
    for n, cue in enumerate(cues):
        idx = [i for i, t in enumerate(ref) if t.turn_index == n]
        heard = next((alignment.hyp[alignment.ref_to_hyp[i]].start_ms for i in idx[:1] if alignment.correct[i]), None)
        if heard is not None:
            offsets.append(abs(heard - cue.start_ms))
    assert len(offsets) >= 0.75 * len(cues)  # cues whose first word Whisper heard right
    assert statistics.median(offsets) < 250
    assert max(offsets) <= 500


def test_split_cues_start_at_their_first_words_sound(seed_render):
    from audio.outputs.captions import build_cues

    for s in seed_render.sentences:
        assert len(s.word_starts_ms) == len(s.text.split())
        assert s.word_starts_ms[0] == s.start_ms
        assert list(s.word_starts_ms) == sorted(s.word_starts_ms) and s.word_starts_ms[-1] < s.end_ms
    cues = build_cues(seed_render.sentences, {})
    starts = {(s.text, ms) for s in seed_render.sentences for ms in s.word_starts_ms}
    split = [c for c in cues if not any(c.start_ms == s.start_ms for s in seed_render.sentences)]
    assert len(split) >= 20
    assert all(any(c.start_ms == ms and c.text in text for text, ms in starts) for c in split)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


def _open(browser, url):
    page = browser.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    return page, errors


def test_player_page_offline(browser, seed_render, seed_published):
    page, errors = _open(browser, seed_published["index.html"].resolve().as_uri())
    tracks = page.evaluate("Array.from(document.getElementById('player').textTracks)"
                           ".filter(t => t.cues).map(t => [t.kind, t.cues.length])")
    assert ["captions", len(webvtt.read(str(seed_published["seed.vtt"])))] in tracks
    assert ["chapters", 8] in tracks
    page.click("#chapters li:nth-child(3) button")
    page.wait_for_function("!document.getElementById('player').seeking")
    current = page.evaluate("document.getElementById('player').currentTime")
    assert abs(current - seed_render.chapters[2].start_ms / 1000) < 0.05
    page.wait_for_selector("#transcript .now")
    page.select_option("#speed", "1.5")
    assert page.evaluate("document.getElementById('player').playbackRate") == 1.5
    # keyboard: tab to a chapter button and press Enter
    page.focus("#chapters li:nth-child(2) button")
    page.keyboard.press("Enter")
    page.wait_for_function("!document.getElementById('player').seeking")
    assert abs(page.evaluate("document.getElementById('player').currentTime")
               - seed_render.chapters[1].start_ms / 1000) < 0.05
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("axe.run().then(r => r.violations.map(v => v.id + ': ' + v.help))")
    assert violations == []
    assert errors == []


def test_player_page_over_http_loads_the_vtt(browser, seed_published):
    folder = seed_published["index.html"].parent
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page, errors = _open(browser, f"http://127.0.0.1:{server.server_address[1]}/index.html")
        page.wait_for_function("document.getElementById('captions').readyState === 2")
        count = page.evaluate("document.getElementById('captions').track.cues.length")
        assert count == len(webvtt.read(str(seed_published["seed.vtt"])))
        assert errors == []
    finally:
        server.shutdown()
