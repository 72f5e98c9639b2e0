"""The read-aloud EPUB: EPUBCheck, the Media Overlay clips against the MP3, the metadata, and axe-core."""

from __future__ import annotations

import wave
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from audio.art import generate_cover
from audio.assemble import assemble, chapter_marks
from audio.episode import load_episode
from audio.outputs.overlay import Clip, check_clips, overlay_chapters
from audio.outputs.publish import publish
from audio.outputs.tag import mp3_duration_ms
from audio.render import RenderOptions, render

from .epubtools import OPF, book_clips, epubcheck

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
AXE = ROOT / ".venv" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
XHTML = "{http://www.w3.org/1999/xhtml}"
TRANSCRIPTS = sorted(p for p in CORPUS.iterdir() if (CORPUS / f"{p.name}.expected.json").is_file())


@pytest.fixture(scope="module")
def seed_book(seed_render):
    written = publish(seed_render, formats=("epub",), cover=generate_cover("Flashpoint Iran"))
    assert [p.name for p in written] == ["seed.epub"]
    return written[0]


@pytest.fixture(scope="module")
def panel_book(tmp_path_factory, clip_cache):
    """A three-speaker newsroom transcript (three engines, one per speaker), rendered with its book."""
    episode = load_episode(CORPUS / "newsroom.docx")
    assert len(episode.manifest.speakers) == 3
    result = render(episode, tmp_path_factory.mktemp("newsroom") / "newsroom.mp3", RenderOptions(cache_dir=clip_cache))
    (book,) = publish(result, formats=("epub",))
    return result, book


def test_epubcheck_passes_the_seed_book(seed_book):
    assert epubcheck(seed_book) == []


def test_epubcheck_passes_a_three_speaker_book(panel_book):
    assert epubcheck(panel_book[1]) == []


@pytest.mark.parametrize("which", ["seed", "panel"])
def test_clips_cover_the_mp3_end_to_end_and_durations_add_up(which, seed_render, seed_book, panel_book):
    result, book = (seed_render, seed_book) if which == "seed" else panel_book
    clips, durations, total, srcs = book_clips(book)
    mp3_ms = mp3_duration_ms(result.path)
    assert check_clips(clips, mp3_ms).ok, check_clips(clips, mp3_ms).first_problem
    assert clips[0].begin_ms == 0 and clips[-1].end_ms == mp3_ms
    assert total == mp3_ms
    assert len(durations) == len(result.chapters)
    assert abs(sum(durations.values()) - total) <= 1000
    # one <par> per sentence, in order, each starting at its sentence's first sound (a chapter's first at the chapter)
    assert len(clips) == len(result.sentences)
    chapter_starts = {m.start_ms for m in result.chapters}
    for clip, sentence in zip(clips, result.sentences, strict=True):
        assert clip.begin_ms == sentence.start_ms or clip.begin_ms in chapter_starts
        assert clip.end_ms >= sentence.end_ms  # the pause after a sentence is its own
    assert len(set(srcs)) == len(srcs)


def _documents(book: Path) -> dict[str, ET.Element]:
    with zipfile.ZipFile(book) as z:
        return {n.removeprefix("EPUB/"): ET.fromstring(z.read(n)) for n in z.namelist() if n.endswith(".xhtml")}


def test_content_documents_hold_each_sentence_once_with_the_speaker_before_each_turn(seed_render, seed_book):
    docs = _documents(seed_book)
    chapters = sorted(n for n in docs if n.startswith("chapter-"))
    assert len(chapters) == len(seed_render.chapters)
    names = {s.id: s.name for s in seed_render.episode.manifest.speakers}
    sentences, turns = [], []
    for name, (doc, mark) in zip(chapters, ((docs[n], m) for n, m in zip(chapters, seed_render.chapters))):
        assert doc.find(f".//{XHTML}h1").text == mark.title
        for p in doc.iter(f"{XHTML}p"):
            spans = list(p)
            assert spans[0].get("class") == "speaker"
            turns.append(spans[0].text.removesuffix(":"))
            sentences += [(name, s.get("id"), s.text) for s in spans[1:]]
    assert [t for _, _, t in sentences] == [s.text for s in seed_render.sentences]
    expected_turns = []
    for s in seed_render.sentences:
        if s.sentence_index == 0:
            expected_turns.append(names[s.speaker_id])
    assert turns == expected_turns
    clips, _, _, srcs = book_clips(seed_book)
    assert srcs == [f"{n}#{i}" for n, i, _ in sentences]  # every <text> points at its sentence's element


def test_package_metadata_cover_navigation_and_active_class(seed_render, seed_book):
    with zipfile.ZipFile(seed_book) as z:
        assert z.namelist()[0] == "mimetype" and z.getinfo("mimetype").compress_type == zipfile.ZIP_STORED
        opf = ET.fromstring(z.read("EPUB/package.opf"))
        css = z.read("EPUB/style.css").decode()
        nav = ET.fromstring(z.read("EPUB/nav.xhtml"))
        chapter = z.read("EPUB/chapter-001.xhtml").decode()
    props: dict[str, list[str]] = {}
    for meta in opf.iter(f"{OPF}meta"):
        if not meta.get("refines"):
            props.setdefault(meta.get("property"), []).append(meta.text)
    assert set(props["schema:accessMode"]) == {"textual", "auditory"}
    assert set(props["schema:accessModeSufficient"]) == {"textual", "auditory"}
    assert "synchronizedAudioText" in props["schema:accessibilityFeature"]
    assert {"structuralNavigation", "tableOfContents"} <= set(props["schema:accessibilityFeature"])
    assert props["schema:accessibilityHazard"] == ["none"]
    assert "highlighted" in props["schema:accessibilitySummary"][0]
    active = props["media:active-class"][0]
    assert f".{active} {{" in css and 'href="style.css"' in chapter
    items = {i.get("id"): i for i in opf.iter(f"{OPF}item")}
    assert items["audio"].get("media-type") == "audio/mpeg"
    assert items["cover"].get("properties") == "cover-image"
    assert items["nav"].get("properties") == "nav"
    toc = [a.text for a in nav.iter(f"{XHTML}a")]
    assert toc == [m.title for m in seed_render.chapters]
    with zipfile.ZipFile(seed_book) as z:
        assert z.read("EPUB/audio.mp3") == seed_render.path.read_bytes()


def test_book_is_replaced_atomically_and_is_the_same_bytes_each_time(seed_render, seed_book):
    before = seed_book.read_bytes()
    (again,) = publish(seed_render, formats=("epub",), cover=generate_cover("Flashpoint Iran"))
    assert again.read_bytes() == before
    leftovers = [p.name for p in seed_book.parent.iterdir() if p.name.startswith(".seed.epub")
                 or ".part.epub" in p.name]
    assert leftovers == []


# --- the clip invariants, as a pure function, and over every corpus transcript ---------------------


def test_check_clips_counts_each_fault():
    assert check_clips([Clip("a", 0, 10), Clip("b", 10, 20)], 20).ok
    gap = check_clips([Clip("a", 0, 10), Clip("b", 12, 20)], 20)
    assert (gap.gaps, gap.overlaps) == (1, 0) and "2 ms before b" in gap.first_problem
    assert check_clips([Clip("a", 5, 20)], 20).gaps == 1
    assert check_clips([Clip("a", 0, 15)], 20).gaps == 1
    overlap = check_clips([Clip("a", 0, 12), Clip("b", 10, 20)], 20)
    assert (overlap.gaps, overlap.overlaps) == (0, 1)
    past = check_clips([Clip("a", 0, 25)], 20)
    assert past.past_end == 1 and "past the audio's end" in past.first_problem
    assert check_clips([Clip("a", 0, 10), Clip("b", 10, 10), Clip("c", 10, 20)], 20).empty == 1


def _silent_clips(episode, folder: Path) -> list[Path]:
    """One clip per sentence, as long as it would take to say (60 ms a character), at 24 kHz: a tone.

    The timeline's shape (sentences, pauses, turns, chapters) is the
    transcript's; only the speech is stood in for, which the clip
    invariants do not depend on.
    """
    clips = []
    for n, job in enumerate(episode.speech_jobs()):
        samples = int(24_000 * 0.06 * max(1, len(job.text)))
        tone = (3000 * np.sin(np.arange(samples) * 0.06)).astype("<i2")
        path = folder / f"{n}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(24_000)
            w.writeframes(tone.tobytes())
        clips.append(path)
    return clips


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=lambda p: p.name)
def test_clips_are_contiguous_for_every_corpus_transcript(transcript, tmp_path):
    episode = load_episode(transcript)
    assembly = assemble(episode.turns, episode.chapters, _silent_clips(episode, tmp_path), episode.manifest.pauses)
    duration = assembly.duration_ms
    marks = chapter_marks(episode.chapters, assembly.sentences, duration)
    names = {s.id: s.name for s in episode.manifest.speakers}
    chapters = overlay_chapters(assembly.sentences, marks, duration, names, episode.metadata.title)
    clips = [c for ch in chapters for c in ch.clips]
    result = check_clips(clips, duration)
    assert result.ok, result.first_problem
    assert len(clips) == len(assembly.sentences) == sum(len(t.sentences) for t in episode.turns)
    assert [ch.title for ch in chapters] == [m.title for m in marks]
    assert sum(ch.duration_ms for ch in chapters) == duration
    spoken = [text for ch in chapters for p in ch.passages for _, text in p.sentences]
    assert spoken == [s for t in episode.turns for s in t.sentences]


def test_a_chapter_without_sentences_gets_its_heading_clip():
    from audio.assemble import ChapterMark, SentenceTiming

    sentences = [SentenceTiming(0, 0, "a", "One.", 300, 900), SentenceTiming(1, 0, "b", "Two.", 5000, 5600)]
    marks = [ChapterMark(0, "chp0", "Intro", 0, 1000), ChapterMark(1, "chp1", "Music", 1000, 4750),
             ChapterMark(2, "chp2", "Talk", 4750, 6000)]
    chapters = overlay_chapters(sentences, marks, 6000, {"a": "Ann", "b": "Bo"})
    assert [c.clips for c in chapters] == [(Clip("s1", 0, 1000),), (Clip("c2", 1000, 4750),),
                                           (Clip("s2", 4750, 6000),)]
    assert chapters[1].passages == ()


def test_a_chapter_of_no_length_has_no_page():
    from audio.assemble import ChapterMark, SentenceTiming

    sentences = [SentenceTiming(0, 0, "a", "One.", 300, 900), SentenceTiming(1, 0, "a", "Two.", 1500, 1900)]
    marks = [ChapterMark(0, "chp0", "Cold open", 0, 0), ChapterMark(1, "chp1", "Intro", 0, 1200),
             ChapterMark(2, "chp2", "Talk", 1200, 2500), ChapterMark(3, "chp3", "Credits", 2500, 2500)]
    chapters = overlay_chapters(sentences, marks, 2500, {"a": "Ann"})
    assert [c.title for c in chapters] == ["Intro", "Talk"]
    assert check_clips([c for ch in chapters for c in ch.clips], 2500).ok


# --- a content document opened as a page --------------------------------------------------------


def test_content_document_as_a_page_passes_axe(panel_book, tmp_path):
    from playwright.sync_api import sync_playwright

    with zipfile.ZipFile(panel_book[1]) as z:
        z.extractall(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            for name in ("chapter-001.xhtml", "chapter-002.xhtml", "nav.xhtml"):
                page = browser.new_page()
                page.goto((tmp_path / "EPUB" / name).as_uri())
                assert page.evaluate("document.contentType") == "application/xhtml+xml"
                assert page.locator("span.speaker").count() > 0 or name == "nav.xhtml"
                page.add_script_tag(path=str(AXE))
                violations = page.evaluate("axe.run().then(r => r.violations.map(v => v.id + ': ' + v.help))")
                assert violations == [], name
                # as a reading system highlights the sentence being read
                page.evaluate("document.querySelector('[id^=s]')?.classList.add('-epub-media-overlay-active')")
                violations = page.evaluate("axe.run().then(r => r.violations.map(v => v.id + ': ' + v.help))")
                assert violations == [], name
        finally:
            browser.close()
