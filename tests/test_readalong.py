"""Read-along: word timing in the words JSON, the WebVTT captions and the player page.

The seed is rendered once for the session (conftest); Whisper tiny.en's
words of it are transcribed once (``seed_heard``).
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import statistics
import threading
from xml.etree import ElementTree as ET

import pytest
import webvtt

from audio.assemble import SentenceTiming
from audio.errors import VerifyError
from audio.lexicon import plain
from audio.outputs.captions import Cue, to_vtt, vtt_payload
from audio.outputs.wordtiming import TimedWord, heard_starts, measure, read_words, timed_words, word_ends, word_starts
from audio.report import render_table
from audio.verify import Thresholds, evaluate, reference_from_tags, verify
from tests.test_publish import AXE, CHROMIUM, _open, _seconds, _transcript_text

STAMP = re.compile(r"<(\d\d:\d\d:\d\d\.\d\d\d)>")


@pytest.fixture(scope="module")
def seed_words(seed_published):
    return read_words(seed_published["seed.words.json"])


def _p90(values):
    return statistics.quantiles(sorted(values), n=10, method="inclusive")[-1]


# --- the words JSON ---------------------------------------------------------------------------------------------

def test_words_json_has_one_segment_per_written_word_inside_its_cue(seed_render, seed_published):
    data = json.loads(seed_published["seed.words.json"].read_text(encoding="utf-8"))
    assert data["version"] == "1.0.0"
    words = data["segments"]
    assert [w["body"] for w in words] == _transcript_text(seed_render).split()
    starts = [w["startTime"] for w in words]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(w["startTime"] < w["endTime"] for w in words)
    assert words[-1]["endTime"] <= seed_render.duration_ms / 1000
    # each cue of the sentence-level transcript holds its words, in order, within its own times
    cues = json.loads(seed_published["seed.transcript.json"].read_text(encoding="utf-8"))["segments"]
    it = iter(words)
    for cue in cues:
        for body in cue["body"].split():
            w = next(it)
            assert (w["body"], w["speaker"]) == (body, cue["speaker"])
            assert cue["startTime"] <= w["startTime"] < w["endTime"] <= cue["endTime"], (w, cue)
    assert next(it, None) is None


def test_feed_lists_the_words_transcript(seed_published):
    ns = {"podcast": "https://podcastindex.org/namespace/1.0"}
    item = ET.parse(seed_published["feed.xml"]).getroot().find("channel/item")
    json_transcripts = [t.get("url") for t in item.findall("podcast:transcript", ns)
                        if t.get("type") == "application/json"]
    assert json_transcripts == ["seed.transcript.json", "seed.words.json"]


# --- the WebVTT word timestamps ---------------------------------------------------------------------------------

def test_vtt_word_timestamps_parse_back_to_the_word_timeline(seed_published, seed_words):
    cues = webvtt.read(str(seed_published["seed.vtt"]))
    it = iter(seed_words)
    stamped = 0
    for cue in cues:
        payload = re.sub(r"^<v [^>]*>|</v>$", "", cue.raw_text).replace("\n", " ")
        start, end = _seconds(cue.start), _seconds(cue.end)
        previous = start
        for n, token in enumerate(payload.split(" ")):
            w = next(it)
            m = STAMP.match(token)
            assert (m is None) == (n == 0), token  # every word after a cue's first carries one
            word = STAMP.sub("", token).replace("&amp;", "&")
            assert word == w.text
            at = w.start_ms / 1000
            if m:
                at = _seconds(m.group(1))
                assert abs(at - w.start_ms / 1000) < 5e-4
                assert previous < at < end  # WebVTT: after the cue start and the stamp before, before the end
                stamped += 1
            else:
                assert abs(at - start) < 5e-4
            previous = at
    assert next(it, None) is None
    assert stamped == len(seed_words) - len(cues)
    # SRT stays as it was
    assert not STAMP.search(seed_published["seed.srt"].read_text(encoding="utf-8"))


def test_a_word_sharing_its_start_gets_no_timestamp():
    cue = Cue(index=1, start_ms=1000, end_ms=3000, speaker="A", text="one two three four", turn_index=0,
              first_of_turn=True, word_starts_ms=(1000, 1500, 1500, 3000))
    assert vtt_payload(cue) == "<v A>one <00:00:01.500>two three four</v>"
    assert to_vtt([cue]).splitlines()[4] == vtt_payload(cue)


def test_word_starts_without_engine_marks_share_the_sentence_by_characters():
    s = SentenceTiming(0, 0, "a", "I am here today", start_ms=1000, end_ms=2600)
    starts = word_starts(s)
    assert starts == (1000, 1200, 1500, 2000)  # 2, 3, 5 and 6 characters with their spaces, of 16
    assert word_ends(s, starts) == (1200, 1500, 2000, 2600)
    # marks that collide are moved apart, so every word has a span
    s = SentenceTiming(0, 0, "a", "a b c d", start_ms=0, end_ms=100, word_starts_ms=(0, 40, 40, 100))
    assert word_starts(s) == (0, 40, 41, 99)


# --- word timing against Whisper ----------------------------------------------------------------------------------

def test_word_starts_agree_with_whisper(seed_words, seed_heard):
    timing = measure(seed_words, seed_heard, source="seed.words.json")
    assert timing.words == 1034
    assert timing.heard_right >= 0.85 * timing.words
    assert timing.median_ms <= 120
    assert timing.p90_ms <= 350
    assert timing.median_ms <= timing.p90_ms <= timing.max_ms == abs(timing.worst[0].heard_start_ms
                                                                      - timing.worst[0].start_ms)


@pytest.mark.parametrize("speaker, engine", [("VOA", "hibari"), ("Aaron Zelin", "piper")])
def test_word_starts_agree_with_whisper_for_each_neural_engine(seed_render, seed_words, seed_heard, speaker, engine):
    """The seed's default voices: VOA speaks through hibari, Zelin through Piper; each engine's marks hold."""
    voice = next(s.voice for s in seed_render.episode.manifest.speakers if s.name == speaker)
    assert voice.startswith(f"{engine}:")
    heard = heard_starts(seed_words, seed_heard)
    deltas = sorted(abs(h - w.start_ms) for w, h in zip(seed_words, heard) if h is not None and w.speaker == speaker)
    assert len(deltas) >= 300
    assert statistics.median(deltas) <= 120
    assert _p90(deltas) <= 350


def test_word_starts_agree_with_whisper_through_pyttsx3(seed_render_pyttsx3, seed_heard_pyttsx3):
    episode = seed_render_pyttsx3.episode
    words = timed_words(seed_render_pyttsx3.sentences, {s.id: s.name for s in episode.manifest.speakers})
    timing = measure(words, seed_heard_pyttsx3)
    assert timing.heard_right >= 0.8 * timing.words
    assert timing.median_ms <= 120
    assert timing.p90_ms <= 350


def test_verify_reports_word_timing_and_fails_a_shifted_timeline(seed_render, seed_heard, seed_words):
    turns, chapters = reference_from_tags(seed_render.path)
    report = evaluate(turns, chapters, seed_heard, audio=str(seed_render.path),
                      word_timing=measure(seed_words, seed_heard, source="seed.words.json"))
    assert report.passed, report.failures
    data = report.to_json()["word_timing"]
    assert data["median_ms"] == report.word_timing.median_ms and data["p90_ms"] == report.word_timing.p90_ms
    table = render_table(report)
    assert f"|Δ start| median {report.word_timing.median_ms:>5} ms  (limit 120 ms)" in table
    assert f"|Δ start| 90th   {report.word_timing.p90_ms:>5} ms  (limit 350 ms)" in table
    # a timeline 0.4 s late everywhere is caught
    late = [TimedWord(w.text, w.start_ms + 400, w.end_ms + 400, w.speaker) for w in seed_words]
    shifted = evaluate(turns, chapters, seed_heard, word_timing=measure(late, seed_heard, source="late.json"))
    assert 280 <= shifted.word_timing.median_ms <= 520
    assert f"word starts are a median {shifted.word_timing.median_ms} ms from where they are heard " \
           "(limit 120 ms)" in shifted.failures
    strict = evaluate(turns, chapters, seed_heard, Thresholds(max_word_p90_ms=report.word_timing.p90_ms - 1),
                      word_timing=report.word_timing)
    assert strict.failures == (f"word starts are {report.word_timing.p90_ms} ms from where they are heard at the "
                               f"90th percentile (limit {report.word_timing.p90_ms - 1} ms)",)


def test_verify_reads_the_words_file_beside_the_audio(seed_render, tmp_path, monkeypatch):
    mp3 = shutil.copy(seed_render.path, tmp_path / "ep.mp3")
    (tmp_path / "ep.words.json").write_text('{"segments": [{"body": "x"}]}', encoding="utf-8")

    def no_whisper(*args, **kwargs):
        raise AssertionError("Whisper ran before the words file was refused")
    monkeypatch.setattr("audio.verify.recognise", no_whisper)
    with pytest.raises(VerifyError, match=r"ep\.words\.json is not a transcript JSON with timed segments$"):
        verify(mp3)  # found beside it, and refused before Whisper runs


def test_respelled_words_span_their_whole_spoken_form(seed_render_pyttsx3, seed_heard_pyttsx3):
    """A written word the lexicon respells ("IS" read "eye ess", "ISKP" read "I-S-K-P") starts where
    its respelling starts and ends where the next written word is heard to begin.  Through pyttsx3,
    whose lexicon respells the most words of the seed."""
    episode = seed_render_pyttsx3.episode
    lexicon = {plain(k): v for k, v in episode.lexicon_of("zelin")}
    assert lexicon == {plain(k): v for k, v in episode.lexicon_of("voa")}  # one engine, one lexicon
    seed_words = timed_words(seed_render_pyttsx3.sentences, {s.id: s.name for s in episode.manifest.speakers})
    heard = heard_starts(seed_words, seed_heard_pyttsx3)
    bodies = {w.text for w in seed_words}
    assert not bodies & {"eye", "ess", "I-S-K-P", "Ee-rahn"}  # the words are the written ones
    deltas, respelled = [], 0
    for k, w in enumerate(seed_words):
        key = re.sub(r"^[\"(\[]+|[\"\].,?!:;)]+$", "", plain(w.text))
        if len(lexicon.get(key, "").split()) < 2:
            continue  # only the words read as more words than written: "IS" -> "eye ess"
        respelled += 1
        if heard[k] is not None:
            deltas.append(abs(heard[k] - w.start_ms))
        if k + 1 < len(seed_words) and seed_words[k + 1].start_ms == w.end_ms and heard[k + 1] is not None:
            deltas.append(abs(heard[k + 1] - w.end_ms))  # the next word of the sentence starts as this one ends
    assert respelled >= 25 and len(deltas) >= 40
    assert statistics.median(deltas) <= 120
    assert _p90(deltas) <= 350


def test_timed_words_follow_the_timeline_and_name_speakers(seed_render, seed_words):
    names = {s.id: s.name for s in seed_render.episode.manifest.speakers}
    words = timed_words(seed_render.sentences, names)
    assert [(w.text, w.start_ms, w.end_ms, w.speaker) for w in words] == [
        (w.text, w.start_ms, w.end_ms, w.speaker) for w in seed_words]
    for s in seed_render.sentences:
        mine = [w for w in words if s.start_ms <= w.start_ms < s.end_ms]
        assert [w.start_ms for w in mine] == list(s.word_starts_ms)  # the engine's marks, as placed by assemble
        assert mine[-1].end_ms == s.end_ms


# --- the player page in Chromium ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"])
        yield b
        b.close()


@pytest.fixture()
def player(browser, seed_published):
    page, errors = _open(browser, seed_published["index.html"].resolve().as_uri())
    yield page
    page.close()
    assert errors == []


NOW = "(() => { const el = document.querySelector('#transcript .now'); return el && +el.dataset.start; })()"
TIME = "document.getElementById('player').currentTime"
ACTIVE = ("(() => { const el = document.activeElement;"
          " return el.dataset && el.dataset.start ? +el.dataset.start : el.id || el.tagName; })()")
SETTLED = "!document.getElementById('player').seeking"


def _seek(page, seconds):
    page.evaluate(f"document.getElementById('player').currentTime = {seconds}")
    # Chromium keeps media time in microseconds, truncated: 64.401 s reads back as 64.400999
    page.wait_for_function(f"{SETTLED} && Math.abs({TIME} - {seconds}) < 2e-6")


def test_seeking_to_a_word_highlights_it(player, seed_words):
    for k in (0, 200, 517, len(seed_words) - 1):
        start = seed_words[k].start_ms / 1000
        _seek(player, start)
        player.wait_for_function(f"{NOW} === {start}")
        assert player.evaluate("document.querySelectorAll('#transcript .now').length") == 1
        assert player.evaluate("document.querySelector('#transcript .now').getAttribute('aria-current')") == "true"
        if k:  # just before its start, the word before it is the one spoken
            _seek(player, start - 0.002)
            player.wait_for_function(f"{NOW} === {seed_words[k - 1].start_ms / 1000}")


def test_clicking_a_word_seeks_there(player, seed_words):
    for k in (12, 640):
        player.click(f"#transcript [data-start='{seed_words[k].start_ms / 1000}']")
        player.wait_for_function(f"{SETTLED} && {NOW} === {seed_words[k].start_ms / 1000}")
        assert player.evaluate(TIME) == pytest.approx(seed_words[k].start_ms / 1000, abs=2e-6)
        assert player.evaluate(ACTIVE) == seed_words[k].start_ms / 1000  # it holds the transcript's tab stop


def test_highlight_follows_playback_from_half_to_double_speed(player, seed_words):
    starts = [w.start_ms / 1000 for w in seed_words]

    def spoken(t):
        return max([s for s in starts if s <= t + 5e-4], default=None)

    for rate in ("0.5", "2"):
        player.select_option("#speed", rate)
        _seek(player, starts[100])
        player.evaluate("document.getElementById('player').play()")
        seen = set()
        for _ in range(15):
            player.wait_for_timeout(200)
            t0, now, t1 = player.evaluate(f"[{TIME}, {NOW}, {TIME}]")
            # the highlight is at most one frame behind the audio
            assert spoken(t0 - 0.04 * float(rate)) <= now <= spoken(t1), (rate, t0, now)
            seen.add(now)
        player.evaluate("document.getElementById('player').pause()")
        assert player.evaluate("document.getElementById('player').playbackRate") == float(rate)
        assert len(seen) >= 3  # it moved on word by word


def test_the_transcript_works_by_keyboard_alone(player, seed_render, seed_words):
    first = seed_words[0].start_ms / 1000
    tabs = 0
    while player.evaluate(ACTIVE) != first:
        player.keyboard.press("Tab")
        tabs += 1
        assert tabs < 40, "the transcript is not reachable with Tab"
    # the whole transcript is one tab stop: the next Tab leaves it, Shift+Tab comes back to the same word
    player.keyboard.press("Tab")
    assert not player.evaluate("document.getElementById('transcript').contains(document.activeElement)")
    player.keyboard.press("Shift+Tab")
    assert player.evaluate(ACTIVE) == first
    for _ in range(3):
        player.keyboard.press("ArrowRight")
    assert player.evaluate(ACTIVE) == seed_words[3].start_ms / 1000
    player.keyboard.press("ArrowLeft")
    assert player.evaluate(ACTIVE) == seed_words[2].start_ms / 1000
    player.keyboard.press("Enter")
    player.wait_for_function(f"{SETTLED} && {NOW} === {seed_words[2].start_ms / 1000}")
    assert player.evaluate(TIME) == pytest.approx(seed_words[2].start_ms / 1000, abs=2e-6)
    turns = [s.start_ms / 1000 for s in seed_render.sentences if s.sentence_index == 0]
    player.keyboard.press("ArrowDown")  # by paragraph: a turn each
    assert player.evaluate(ACTIVE) == turns[1]
    player.keyboard.press("ArrowDown")
    player.keyboard.press("ArrowRight")
    player.keyboard.press("ArrowUp")  # to the start of this turn, then the one before
    assert player.evaluate(ACTIVE) == turns[2]
    player.keyboard.press("ArrowUp")
    assert player.evaluate(ACTIVE) == turns[1]
    player.keyboard.press("End")
    assert player.evaluate(ACTIVE) == seed_words[-1].start_ms / 1000
    player.keyboard.press(" ")
    player.wait_for_function(f"{NOW} === {seed_words[-1].start_ms / 1000}")
    player.keyboard.press("Home")
    assert player.evaluate(ACTIVE) == first
    # the controls above it, by keyboard too: speed and follow-along
    player.keyboard.press("Shift+Tab")
    while player.evaluate(ACTIVE) != "speed":
        player.keyboard.press("Shift+Tab")
    player.keyboard.press("Home")
    assert player.evaluate("document.getElementById('player').playbackRate") == 0.5
    player.keyboard.press("Tab")
    assert player.evaluate(ACTIVE) == "follow"
    player.keyboard.press("Space")
    assert player.evaluate("document.getElementById('follow').checked") is False


def test_follow_along_keeps_the_spoken_line_in_view(player, seed_words):
    player.emulate_media(reduced_motion="reduce")  # then the page jumps instead of gliding
    in_view = ("(() => { const r = document.querySelector('#transcript .now').getBoundingClientRect();"
               " return r.top >= document.querySelector('.bar').getBoundingClientRect().bottom"
               " && r.bottom <= innerHeight; })()")
    for k in (-40, 30, 400):
        _seek(player, seed_words[k].start_ms / 1000)
        player.wait_for_function(f"{NOW} === {seed_words[k].start_ms / 1000}")
        player.wait_for_function(in_view, timeout=2000)
    # reduced motion: one jump, no glide (a smooth scroll would still be under way 50 ms on)
    _seek(player, seed_words[-100].start_ms / 1000)
    player.wait_for_function(in_view, timeout=2000)
    settled = player.evaluate("scrollY")
    player.wait_for_timeout(50)
    assert player.evaluate("scrollY") == settled
    player.uncheck("#follow")
    _seek(player, seed_words[5].start_ms / 1000)
    player.wait_for_function(f"{NOW} === {seed_words[5].start_ms / 1000}")
    player.wait_for_timeout(300)
    assert player.evaluate("scrollY") == settled and not player.evaluate(in_view)
    player.check("#follow")  # switched back on, it brings the spoken word into view
    player.wait_for_function(in_view, timeout=2000)


def test_axe_finds_no_violations_while_a_word_is_highlighted_and_focused(player, seed_words):
    _seek(player, seed_words[300].start_ms / 1000)
    player.wait_for_function(f"{NOW} === {seed_words[300].start_ms / 1000}")
    player.click(f"#transcript [data-start='{seed_words[301].start_ms / 1000}']")
    player.wait_for_function(f"{NOW} === {seed_words[301].start_ms / 1000}")
    player.add_script_tag(path=str(AXE))
    violations = player.evaluate("axe.run().then(r => r.violations.map(v => v.id + ': ' + v.help))")
    assert violations == []


def test_chromium_reads_the_word_timestamps_of_the_vtt(browser, seed_published, seed_words):
    folder = seed_published["index.html"].parent
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page, errors = _open(browser, f"http://127.0.0.1:{server.server_address[1]}/index.html")
        page.wait_for_function("document.getElementById('captions').readyState === 2")
        # the browser's own WebVTT parser: each timestamp becomes a processing instruction
        stamps = page.evaluate("""Array.from(document.getElementById('captions').track.cues).map(c => {
            const walker = document.createTreeWalker(c.getCueAsHTML(), NodeFilter.SHOW_PROCESSING_INSTRUCTION);
            const out = [];
            while (walker.nextNode()) { out.push(walker.currentNode.data); }
            return [c.startTime, out]; })""")
        page.close()
        assert errors == []
    finally:
        server.shutdown()
    cue_starts = {round(start * 1000) for start, _ in stamps}
    parsed = [round(_seconds(s) * 1000) for _, out in stamps for s in out]
    expected = [w.start_ms for w in seed_words if w.start_ms not in cue_starts]
    assert len(parsed) == len(expected)
    assert all(abs(a - b) <= 1 for a, b in zip(parsed, expected))  # Chromium prints them truncated to the ms
