"""Web pages and Word files as shows publish them, and what they must never do: run, fetch, or be
mistaken for text.  Bad documents are refused in one line, with exit 2 and nothing written."""

from __future__ import annotations

import http.server
import io
import re
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audio import align as al
from audio.cli import app
from audio.episode import load_episode
from audio.formats import detect_format
from audio.parse import parse_transcript

from .format_writers import as_docx

CORPUS = Path(__file__).resolve().parent / "corpus"
ACCEPTED = "episode reads text transcripts (.txt, .md, .vtt, .srt, .json, .html) and Word .docx files"


def _zip(entries: dict[str, bytes | str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def _broken_xml_docx() -> bytes:
    with zipfile.ZipFile(CORPUS / "newsroom.docx") as source:
        return _zip({i.filename: source.read(i.filename)[:2000] if i.filename == "word/document.xml"
                     else source.read(i.filename) for i in source.infolist()})


BAD_DOCUMENTS = [
    ("report.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", f" is a PDF: {ACCEPTED}"),
    ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), f" is a Word 97-2003 (.doc) or other OLE document: {ACCEPTED}"),
    ("story.odt", _zip({"mimetype": "application/vnd.oasis.opendocument.text", "content.xml": "<office/>"}),
     f" is an OpenDocument file (.odt): {ACCEPTED}; save it as .docx"),
    ("notes.zip", _zip({"notes.txt": "HOST: Hi."}), f" is a zip archive that is not a document: {ACCEPTED}"),
    ("cut.docx", as_docx([("Ann", "Hello.")])[:300], f" is not a valid Word file (a broken zip archive): {ACCEPTED}"),
    ("parts.docx", _zip({"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>"}),
     ": not a valid Word file (its parts are missing or broken)"),
    ("broken.docx", _broken_xml_docx(), ": not a valid Word file (broken XML: "),
    ("blank.docx", _zip({}), f" is not a valid Word file (a zip archive with no Word document in it): {ACCEPTED}"),
    ("empty.html", b"<html><head><script>var a = 'x';</script><style>p {}</style></head><body><nav>Menu</nav>"
                   b"<footer>(c) 2024</footer></body></html>",
     ": an HTML page with no text to read (nothing outside scripts, styles and the page's navigation)"),
]


@pytest.mark.parametrize("name, content, message", BAD_DOCUMENTS, ids=[b[0] for b in BAD_DOCUMENTS])
def test_bad_documents_are_refused_in_one_line(tmp_path, name, content, message):
    src = tmp_path / name
    src.write_bytes(content)
    result = CliRunner().invoke(app, ["render", str(src), "-o", str(tmp_path / "out" / "x.mp3")])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {src}{message}") and result.output.count("\n") == 1
    assert [p.name for p in tmp_path.iterdir()] == [name]  # nothing written


def test_a_word_file_with_no_text_is_refused(tmp_path):
    from audio.errors import ParseError

    import docx

    empty = tmp_path / "empty.docx"
    docx.Document().save(empty)
    with pytest.raises(ParseError, match=r"empty\.docx: a Word file with no text to read$"):
        load_episode(empty)


def test_a_word_file_is_known_by_its_bytes_whatever_its_name(tmp_path):
    """A .docx saved as .txt (a zip) is read as Word, never decoded as text; Word's core title is a fallback."""
    src = tmp_path / "transcript.txt"
    src.write_bytes((CORPUS / "newsroom.docx").read_bytes())
    episode = load_episode(src)
    assert episode.format == "docx"
    assert [s.name for s in episode.manifest.speakers] == ["Dana Kim", "John Reyes", "Unidentified Woman"]
    assert episode.metadata.title == "The Night Desk: Flood season"  # the Title paragraph, not the core "Untitled"


def test_a_page_without_speakers_is_narration_with_the_warning(tmp_path):
    src = tmp_path / "essay.html"
    src.write_bytes((CORPUS / "essay-page.html").read_bytes())
    result = CliRunner().invoke(app, ["inspect", str(src)])
    assert result.exit_code == 0
    assert "Warning: no speaker labels found: the whole transcript is read as narration in one voice" in result.output
    assert "Read as: html" in result.output


@pytest.mark.parametrize("text, name", [
    ("<!DOCTYPE html>\n<html><body><p>HOST: Hi.</p></body></html>", "page.txt"),
    ("<div class=\"transcript\"><p><b>HOST:</b> Hi.</p></div>", "copied.txt"),
    ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><body/></html>", "x"),
    ("HOST: Hi.\nGUEST: <b>Hello</b>.\n", "page.html"),  # the extension says which, for content that fits several
])
def test_html_is_known_by_content(text, name):
    assert detect_format(text, name) == "html"


def test_markdown_with_a_tag_is_still_markdown():
    assert detect_format("# Title\n\n**Ann:** Hi <br> there.\n", "talk.md") == "markdown"
    assert detect_format("HOST: I like <b>bold</b> moves.\n", "talk.txt") == "text"


def test_html_labels_headings_and_breaks():
    page = ("<html><head><title>Ep 3: Bees | Roof Radio</title></head><body><article><h1>Episode 3: Bees</h1>"
            "<p><b>Ada Lind</b>: Welcome to Roof Radio. Why bees?</p>"
            "<p><strong>TOM HUGHES:</strong></p><p>Because they were here first.</p>"
            "<h2>The hives</h2><p><b>Ada</b>: How many hives?</p><hr>"
            "<p><strong>TOM HUGHES:</strong> Twelve.<br>Maybe thirteen.</p>"
            "<p><b>Today</b> we learned a lot.</p>"
            "<table><tr><th>Speaker</th><th>Text</th></tr><tr><td>Ada Lind</td><td>Thank you, Tom.</td></tr></table>"
            "</article></body></html>")
    parsed = parse_transcript(page, source="bees.html")
    assert (parsed.metadata.title, parsed.metadata.episode_number, parsed.metadata.show) == ("Bees", 3, "Roof Radio")
    assert [(s.name, s.role) for s in parsed.speakers] == [("Ada Lind", "host"), ("Tom Hughes", "guest")]
    assert [(t.speaker_id, t.text, t.section_break) for t in parsed.turns] == [
        ("ada-lind", "Welcome to Roof Radio. Why bees?", False), ("tom-hughes", "Because they were here first.", False),
        ("ada-lind", "How many hives?", False), ("tom-hughes", "Twelve. Maybe thirteen. Today we learned a lot.", True),
        ("ada-lind", "Thank you, Tom.", False)]
    assert [(c.title, c.turn_index) for c in parsed.chapters] == [("Introduction", 0), ("The hives", 2)]


# ---------------------------------------------------------------- nothing in a page is run or fetched

class _Counting(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        _Counting.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"body { }")

    def log_message(self, *args):
        pass


@pytest.fixture()
def loopback_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Counting.requests = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_nothing_in_a_page_is_fetched_or_run(tmp_path, loopback_server):
    """A page full of external images, scripts, styles, frames and an external DTD: the page is read, and
    no request reaches a server listening at every address it names, and no socket is even opened."""
    url = loopback_server
    page = f"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "{url}/xhtml1-strict.dtd">
<html lang="en"><head><base href="{url}/">
<meta http-equiv="refresh" content="0; url={url}/refresh">
<title>Ferry day | Harbor Report</title>
<link rel="stylesheet" href="{url}/site.css"><link rel="preload" as="font" href="{url}/font.woff2">
<link rel="icon" href="{url}/favicon.ico"><link rel="prefetch" href="{url}/next.html">
<style>@import url("{url}/import.css"); body {{ background: url({url}/bg.png) }}</style>
<script src="{url}/app.js"></script>
<script>fetch("{url}/beacon"); document.write("<p>HOST: written by a script</p>");</script>
</head><body onload="fetch('{url}/onload')">
<img src="{url}/photo.jpg" srcset="{url}/photo-2x.jpg 2x"><picture><source srcset="{url}/p.webp"></picture>
<iframe src="{url}/frame.html"></iframe><object data="{url}/object.swf"></object><embed src="{url}/embed">
<video poster="{url}/poster.jpg" src="{url}/video.mp4"></video><audio src="{url}/audio.mp3"></audio>
<svg><image href="{url}/svg.png"/></svg>
<article><h1>Ferry day</h1>
<p><strong>HOST:</strong> The ferries run again. <img src="{url}/inline.gif" alt="a ferry"> Since when?</p>
<p><strong>GUEST:</strong> Since six. <a href="{url}/more">More</a> on that later.</p>
<p><strong>HOST:</strong> Thank you.</p>
</article></body></html>
"""
    src = tmp_path / "ferry.html"
    src.write_text(page, encoding="utf-8")
    network_events: list[str] = []
    main = threading.main_thread()
    watching = [True]

    def audit(event: str, args) -> None:
        if watching[0] and threading.current_thread() is main and event.startswith(
                ("socket.", "urllib.", "http.", "subprocess.", "os.system", "os.exec", "os.posix_spawn")):
            network_events.append(event)

    sys.addaudithook(audit)  # (an audit hook cannot be removed: it stops watching when the test ends)
    try:
        episode = load_episode(src)
        result = CliRunner().invoke(app, ["inspect", str(src)])
    finally:
        watching[0] = False
    assert result.exit_code == 0, result.output
    assert [t.text for t in episode.turns] == ["The ferries run again. Since when?", "Since six. More on that later.",
                                               "Thank you."]
    assert network_events == []
    assert _Counting.requests == []
    # the server was there to be asked: a request would have been counted
    import urllib.request

    with urllib.request.urlopen(f"{url}/check", timeout=5) as answer:
        assert answer.status == 200
    assert _Counting.requests == ["/check"]


# ---------------------------------------------------------------- inspect and init

def test_inspect_reports_cues_and_stage_directions_with_their_lines():
    result = CliRunner().invoke(app, ["inspect", str(CORPUS / "radio-newsroom.txt")])
    assert result.exit_code == 0, result.output
    out = result.output
    cues = out[out.index("Sound cues (not spoken):"):out.index("Not spoken:")].splitlines()[1:]
    assert cues == ["  line 5: music, before turn 1, sentence 2: (SOUNDBITE OF MUSIC)",
                    "  line 11: sound, before turn 2, sentence 3: (SOUNDBITE OF TRAFFIC)",
                    "  line 21: sound, before turn 6: (SOUNDBITE OF ARCHIVED BROADCAST)",
                    "  line 33: music, after the last turn: (SOUNDBITE OF MUSIC)"]
    dropped = out[out.index("Not spoken:"):out.index("Check:")].splitlines()[1:]
    assert dropped == ["  line 13: a stage direction: (ph)", "  line 15: a stage direction: (laughter)",
                       "  line 35: a footer: Copyright © 2024 Riverside Public Radio. All rights…",
                       "  line 37: a footer: Riverside Public Radio transcripts are created on a rush…"]
    assert "  jon-okafor " not in out and "  okafor       Jon Okafor" in out


def test_init_writes_roles_as_descriptions_and_the_manifest_reads_the_transcript(tmp_path):
    src = tmp_path / "radio.txt"
    src.write_bytes((CORPUS / "radio-older-style.txt").read_bytes())
    result = CliRunner().invoke(app, ["init", str(src)])
    assert result.exit_code == 0, result.output
    manifest = (tmp_path / "radio.toml").read_text(encoding="utf-8")
    assert 'description = "Historian, Lakeside College"  # the role in the label' in manifest
    assert 'description = "Mayor, Harmon Falls"' in manifest
    assert 'labels = ["SAMUEL ARDEN", "ARDEN"]' in manifest
    inferred = load_episode(src, find_manifest=False)
    with_manifest = load_episode(src)  # the manifest init wrote, beside it
    assert [(t.speaker_id, t.text) for t in with_manifest.turns] == [(t.speaker_id, t.text) for t in inferred.turns]
    assert with_manifest.speaker("arden").description == "Historian, Lakeside College"
    assert with_manifest.cues == inferred.cues


# ---------------------------------------------------------------- heard: the directions are not spoken

RADIO = """WEEKEND CONVERSATION

LEAH MARSH, HOST:

I'm Leah Marsh, and this is Weekend Conversation.

(SOUNDBITE OF MUSIC)

MARSH: The ferry to the island runs again today. Our reporter Jon Okafor was on the first crossing.

JON OKAFOR, BYLINE: The boat left at six (laughter), and it was full. Captain Ruth Abara (ph) has sailed it for twenty years.

(SOUNDBITE OF BOAT HORN)

OKAFOR: For Riverside Public Radio, I'm Jon Okafor.

Copyright © 2024 Riverside Public Radio. All rights reserved.

Riverside Public Radio transcripts are created on a rush deadline by a contractor. This text may not be in its final form.
"""


def test_a_rendered_radio_transcript_speaks_no_stage_direction(tmp_path, clip_cache):
    """Rendered with the real engines and heard by Whisper: the words match, and no soundbite, laughter,
    (ph), show title or footer is heard."""
    from audio.render import RenderOptions, render
    from audio.transcribe import recognise
    from audio.verify import evaluate, reference_from_tags

    src = tmp_path / "ferry.txt"
    src.write_text(RADIO, encoding="utf-8")
    episode = load_episode(src)
    assert [c.text for c in episode.cues] == ["(SOUNDBITE OF MUSIC)", "(SOUNDBITE OF BOAT HORN)"]
    result = render(episode, tmp_path / "ferry.mp3", RenderOptions(cache_dir=clip_cache))
    recognition = recognise(result.path)
    turns, chapters = reference_from_tags(result.path)
    report = evaluate(turns, chapters, recognition, audio=str(result.path))
    heard = recognition.text.lower()
    # Every word is spoken and heard, bar the names tiny.en does not know: with Piper's joe at its
    # measured pace it hears Jon Okafor as "John O'Cover" and Ruth Abara as "Ruth O'Barr" (8 of 52
    # words, 0.154; at joe's own pace 0.135). So: nothing lost, at most 20%, and each word heard
    # wrong one of the transcript's proper nouns (capitalised within a sentence).
    assert report.overall.deletions == 0 and report.overall.wer <= 0.2, (report.overall, heard)
    proper = {w for t in turns for w in al.normalise(" ".join(re.findall(r"(?<=[a-z,] )[A-Z][a-z]+", t.text)))}
    assert proper >= {"leah", "jon", "okafor", "abara"}, proper
    alignment = al.align(al.reference_tokens([t.text for t in turns]), al.hypothesis_tokens(recognition.words))
    wrong = {tok.text for tok, ok in zip(alignment.ref, alignment.correct, strict=True) if not ok}
    assert wrong <= proper, (wrong - proper, heard)
    for never in ("soundbite", "laughter", "copyright", "deadline", "reserved", "contractor", "byline", "host"):
        assert never not in heard
    assert episode.metadata.title == "WEEKEND CONVERSATION"
    assert [(s.name, s.role, s.description) for s in episode.manifest.speakers] == [
        ("Leah Marsh", "host", ""), ("Jon Okafor", "guest", "Reporter")]


@pytest.mark.parametrize("meta", ['<meta charset="windows-1252">', "<meta charset=ISO-8859-1>",
                                  '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'])
def test_a_page_in_the_charset_it_declares_is_read_in_it(tmp_path, meta):
    # older newsroom sites still save windows-1252; the bytes 0xe9 and 0x92 are é and a curly apostrophe there
    page = (f"<html><head>{meta}<title>Caf\u00e9 Talk</title></head><body><h1>Caf\u00e9 Talk</h1>"
            "<p><b>ADA LIND:</b> Welcome to the caf\u00e9\u2019s show.</p><p><b>TOM HUGHES:</b> Merci.</p>"
            "</body></html>").encode("cp1252")
    src = tmp_path / "cafe.html"
    src.write_bytes(page)
    episode = load_episode(src)
    assert episode.metadata.title == "Caf\u00e9 Talk"
    assert [t.text for t in episode.turns] == ["Welcome to the caf\u00e9\u2019s show.", "Merci."]


def test_a_page_whose_bytes_are_not_its_declared_charset_is_refused_in_one_line(tmp_path):
    src = tmp_path / "bad.html"
    page = b'<html><head><meta charset="shift_jis"></head><body><p><b>ADA:</b> \x81\x39</p></body></html>'
    src.write_bytes(page)
    result = CliRunner().invoke(app, ["inspect", str(src)])
    assert result.exit_code == 2
    offset = page.index(bytes([0x81]))
    assert result.output == (f"Error: {src} is not shift_jis as its page declares: invalid byte 0x81 "
                             f"at byte offset {offset}\n")
