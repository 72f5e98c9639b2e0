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
from audio.formats import detect_format
from audio.parse import parse_transcript

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES = sorted(p for p in CORPUS.iterdir() if not p.name.endswith(".expected.json"))
FOUND_FIELDS = ("title", "show", "author", "date", "description", "language", "episode_number")
# what must never reach the speech engine: timings, markup, voice tags, links, footers
NOT_SPEECH_RE = re.compile(r"-->|<v[ .>]|</?[a-z]+>|\*\*|(?:^|\s)#|\[\d|\d:\d\d|https?://|www\.|Transcribed by"
                           r"|WEBVTT|&amp;|\[(?:MUSIC|inaudible|crosstalk)|\(laughs\)|\]\(|^>>|\|"
                           # radio's and the services' stage directions, diarisation ids, footers, page controls
                           r"|\((?:SOUNDBITE|Soundbite|LAUGHTER|laughter|SIGHS|As character|ph\)|Through)|\[(?:THEME|OUTRO"
                           r"|Music|music|laughs|Applause)|♪|SPEAKER_|rush deadline|All rights reserved|Ctrl|<c>|HOST:"
                           r"|BYLINE|Historian, Lakeside|Mr\. |Ms\. |Subscribe|Donate|©")


def expected(path: Path) -> dict:
    return json.loads((path.parent / f"{path.name}.expected.json").read_text(encoding="utf-8"))


def _format_of(path: Path) -> str:
    if path.suffix == ".docx":
        from audio.formats.docx import document_kind

        return document_kind(path.read_bytes(), path.name)
    return detect_format(path.read_text(encoding="utf-8"), path.name)


@pytest.fixture(scope="module")
def episodes():
    return {path.name: load_episode(path) for path in CASES}


def test_corpus_is_complete():
    assert len(CASES) >= 34
    assert all((p.parent / f"{p.name}.expected.json").is_file() for p in CASES)
    kinds = {_format_of(p) for p in CASES}
    assert kinds == {"text", "markdown", "webvtt", "srt", "podcast-json", "html", "docx"}


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_speakers_and_turns(path, episodes):
    episode, want = episodes[path.name], expected(path)
    assert episode.format == want["format"]
    assert [{"id": s.id, "name": s.name, "role": s.role, **({"description": s.description} if s.description else {})}
            for s in episode.manifest.speakers] == want["speakers"]
    got = [{"speaker": t.speaker_id, "line": t.line_no, **({"narration": True} if t.narration else {}),
            **({"break": True} if t.section_break else {}), "text": t.text} for t in episode.turns]
    assert got == want["turns"]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_spoken_text_is_only_speech(path, episodes):
    """What the speech engine is given (no manifest, so no lexicon) is the expected speech, nothing else."""
    jobs = [job.text for job in episodes[path.name].speech_jobs()]
    # (an editor's insertion is read without its brackets: "[the seed bank]" is said "the seed bank")
    assert " ".join(jobs) == " ".join(t["text"] for t in expected(path)["turns"]).replace("[", "").replace("]", "")
    assert [text for text in jobs if NOT_SPEECH_RE.search(text)] == []


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_chapters_metadata_and_doubts(path, episodes):
    episode, want = episodes[path.name], expected(path)
    assert [{"turn": c.turn_index + 1, "title": c.title} for c in episode.chapters] == want["chapters"]
    # where each sound cue goes: before the sentence it precedes (turn len+1: after the last)
    assert [{"line": c.line_no, "kind": c.kind, "text": c.text, "turn": c.turn_index + 1,
             "sentence": c.sentence_index + 1} for c in episode.cues] == want.get("cues", [])
    assert episode.metadata.title == want["title"]
    found = {f: getattr(episode.found, f) for f in FOUND_FIELDS if getattr(episode.found, f)}
    assert found == want["found"]
    for field, key in (("date", "date"), ("description", "description"), ("show", "show"), ("author", "author"),
                       ("episode_number", "number")):
        if field in found:  # no manifest: what the transcript says is the episode's metadata
            assert getattr(episode.metadata, key) == found[field]
    assert [d.line_no for d in episode.decisions if d.doubtful] == want["doubtful"]
    assert list(episode.warnings) == want["warnings"]


# ---------------------------------------------------------------- rendered: captions say only the speech

RENDERED = ["words.json", "no-labels.txt", "captions.srt"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, clip_cache):
    """Three small corpus files rendered end to end: (result, .vtt, every sidecar written)."""
    from audio.outputs.publish import publish
    from audio.render import RenderOptions, render

    out = {}
    folder = tmp_path_factory.mktemp("corpus-render")
    for name in RENDERED:
        result = render(load_episode(CORPUS / name), folder / f"{Path(name).stem}.mp3",
                        RenderOptions(cache_dir=clip_cache))
        written = publish(result, formats=("vtt", "srt", "transcript"))
        out[name] = (result, next(p for p in written if p.suffix == ".vtt"), written)
    return out


def _runs(names: list[str]) -> list[str]:
    return [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]


@pytest.mark.parametrize("name", RENDERED)
def test_rendered_captions_are_the_expected_speech(name, rendered):
    import html

    import webvtt

    want = expected(CORPUS / name)
    captions = list(webvtt.read(str(rendered[name][1])))
    spoken = " ".join(html.unescape(" ".join(c.text.split())) for c in captions)
    assert spoken == " ".join(t["text"] for t in want["turns"])
    names = {s["id"]: s["name"] for s in want["speakers"]}
    assert _runs([c.voice for c in captions]) == _runs([names[t["speaker"]] for t in want["turns"]])


@pytest.mark.parametrize("sidecar", [".vtt", ".srt", ".transcript.json"])
@pytest.mark.parametrize("name", RENDERED)
def test_rendered_captions_read_back_as_the_same_turns(name, sidecar, rendered):
    """Our own WebVTT, SRT and JSON transcript, read as transcripts: the same speakers say the same words."""
    want = expected(CORPUS / name)
    path = next(p for p in rendered[name][2] if p.name.endswith(sidecar) and not p.name.endswith(".chapters.vtt"))
    parsed = parse_transcript(path.read_text(encoding="utf-8"), source=path.name)
    names = {s.id: s.name for s in parsed.speakers}
    want_names = {s["id"]: s["name"] for s in want["speakers"]}
    merged: list[list[str]] = []  # captions do not keep a section break: one speaker's turns run together
    for t in want["turns"]:
        if merged and merged[-1][0] == want_names[t["speaker"]]:
            merged[-1][1] += " " + t["text"]
        else:
            merged.append([want_names[t["speaker"]], t["text"]])
    assert [[names[t.speaker_id], t.text] for t in parsed.turns] == merged


def test_a_section_break_is_a_longer_pause(rendered):
    """`* * *` between two narration paragraphs: the chapter pause, where sentences get the sentence pause."""
    from audio.manifest import Pauses

    sentences = rendered["no-labels.txt"][0].sentences
    gaps = {(b.turn_index, b.sentence_index): b.start_ms - a.end_ms for a, b in zip(sentences, sentences[1:])}
    assert gaps[(1, 0)] >= Pauses().chapter_pause_ms
    assert max(gap for key, gap in gaps.items() if key[1] > 0) < Pauses().turn_pause_ms


# ---------------------------------------------------------------- recognised by content

@pytest.mark.parametrize("text, name, fmt", [
    ("WEBVTT\n\n00:01.000 --> 00:02.000\n<v A>Hi.</v>\n", "captions.txt", "webvtt"),
    ("1\n00:00:01,000 --> 00:00:02,000\nA: Hi.\n", "notes.txt", "srt"),
    ('{"version": "1.0.0", "segments": []}', "transcript.txt", "podcast-json"),
    ("---\ntitle: T\n---\nA: Hi.\n", "t.txt", "markdown"),
    ("# A heading\n\nA: Hi.\n", "t.txt", "markdown"),
    ("**Ann:** Hello.\n**Bob:** Hi.\n", "t", "markdown"),
    ("VOA: Hi.\nZelin: Hello.\n", "t.md", "markdown"),  # the extension is a hint where content fits both
    ("VOA: Hi.\nZelin: Hello.\n", "t.txt", "text"),
    ("[00:00:03] Ann: Hi.\n", "t.txt", "text"),  # brackets, but not JSON
    ("{Music} Ann: Hi.\nBob: Hello.\n", "t.txt", "text"),
    ("{Music} Ann: Hi.\n", "t.json", "podcast-json"),  # refused by the reader, naming the line
    ("Ann: Hi.\n", "t.vtt", "webvtt"),  # refused by the reader, naming the line
])
def test_format_detected_by_content(text, name, fmt):
    assert detect_format(text, name) == fmt


# ---------------------------------------------------------------- refused, naming the line

BAD_FILES = [
    ("broken.vtt", "WEBVTT\n\n1\n00:00:01.000 --> 00:00:0x.500\n<v A>Hi.</v>\n",
     "line 4: broken cue timing '00:00:01.000 --> 00:00:0x.500' (expected HH:MM:SS.mmm --> HH:MM:SS.mmm)"),
    ("arrow.vtt", "WEBVTT\n\n1\n00:00:01.000 -> 00:00:02.500\n<v A>Hi.</v>\n",
     "line 4: broken cue timing '00:00:01.000 -> 00:00:02.500' (expected HH:MM:SS.mmm --> HH:MM:SS.mmm)"),
    ("backwards.vtt", "WEBVTT\n\n00:00:02.000 --> 00:00:01.000\n<v A>Backwards.</v>\n",
     "line 3: cue ends before it starts: '00:00:02.000 --> 00:00:01.000'"),
    ("headless.vtt", "Hello there.\n", "line 1: not WebVTT: the first line must be 'WEBVTT', not 'Hello there.'"),
    ("merged.vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v A>Hi.</v>\n00:00:02.000 --> 00:00:03.000\n",
     "line 5: a cue timing inside a cue's text (a blank line missing?)"),
    ("broken.srt", "1\n00:00:01,000 --> 00:00:02,000\nHOST: Hi.\n\n2\n00:00:03,000 -> 00:00:04,000\nGUEST: Hello.\n",
     "line 6: broken cue timing '00:00:03,000 -> 00:00:04,000' (expected HH:MM:SS,mmm --> HH:MM:SS,mmm)"),
    ("hours.srt", "1\n00:00:01,000 --> 00:61:02,000\nHOST: Hi.\n",
     "line 2: broken cue timing '00:00:01,000 --> 00:61:02,000' (expected HH:MM:SS,mmm --> HH:MM:SS,mmm)"),
    ("untimed.srt", "1\n00:00:01,000 --> 00:00:02,000\nHOST: Hi.\n\n2\nGUEST: Hello.\n", "line 5: cue 2 has no timing line"),
    ("mixed.srt", "1\n00:00:01,900 --> 00:00:01.500\nHOST: Hi.\n\n2\n00:00:02,000 --> 00:00:03,000\nHOST: Bye.\n",
     "line 2: cue ends before it starts: '00:00:01,900 --> 00:00:01.500'"),
    ("chapters.json", '{"version": "1.2.0", "chapters": [{"startTime": 0, "title": "Intro"}]}\n',
     'line 1: JSON that is not a Podcasting 2.0 transcript: no "segments" list (it looks like a chapters file)'),
    ("comma.json", '{\n  "segments": [\n    {"speaker": "A", "body": "Hi."}\n    {"speaker": "B"}\n  ]\n}\n',
     "line 4: not valid JSON: Expecting ',' delimiter (column 5)"),
    ("nobody.json", '{\n  "segments": [\n    {"speaker": "A", "body": "Hi."},\n    {"speaker": "B", "startTime": 1}\n  ]\n}\n',
     'line 4: segment 2 has no "body" text'),
    ("list.json", "[1, 2, 3]\n", 'line 1: JSON that is not a Podcasting 2.0 transcript: no "segments" list'),
    ("times.json", '{"segments": [\n{"body": "Hi.", "startTime": "soon"}\n]}\n',
     "line 2: segment 1: 'startTime' is not a number of seconds"),
    ("front.md", "---\ntitle: [unclosed\n---\n\nA: Hi.\n",
     "line 2: front matter is not valid YAML: expected ',' or ']', but got '<stream end>'"),
]


def test_crlf_captions_are_known_by_content():
    """Line ends are made one kind before the format is detected: most SRT files end lines in CRLF."""
    text = "1\r\n00:00:01,000 --> 00:00:02,000\r\nANN: Hi.\r\n\r\n2\r\n00:00:02,500 --> 00:00:03,000\r\nBEN: Yo.\r\n"
    parsed = parse_transcript(text, source="captions.txt")
    assert parsed.format == "srt"
    assert [t.text for t in parsed.turns] == ["Hi.", "Yo."]


def test_srt_times_may_mix_comma_and_point():
    """SRT readers take "," or "." before the milliseconds, stamp by stamp; "," sorts before "." as text."""
    text = "1\n00:00:01.500 --> 00:00:01,900\nHOST: Hi.\n\n2\n00:00:02,000 --> 00:00:03.000\nHOST: Bye.\n"
    assert [t.text for t in parse_transcript(text, source="mixed.srt").turns] == ["Hi. Bye."]


@pytest.mark.parametrize("name, content, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_malformed_files_are_refused(tmp_path, name, content, message):
    from typer.testing import CliRunner

    from audio.cli import app

    src = tmp_path / name
    src.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(app, ["render", str(src), "-o", str(tmp_path / "out" / "x.mp3")])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {src}: {message}") and result.output.count("\n") == 1
    assert [p.name for p in tmp_path.iterdir()] == [name]  # nothing written


def test_refusal_names_the_line_without_the_cli():
    with pytest.raises(ParseError, match=r"^talk\.srt: line 2: broken cue timing"):
        parse_transcript("1\n00:00:01 --> 00:00:02\nHi.\n", source="talk.srt")


# ---------------------------------------------------------------- speakers

@pytest.mark.parametrize("label, name", [
    ("MARK HANNAH", "Mark Hannah"), ("JOHN McDONALD", "John McDonald"), ("CONOR O'BRIEN", "Conor O'Brien"),
    ("ANA DE LA CRUZ", "Ana de la Cruz"), ("PIET VAN DER BERG", "Piet van der Berg"),
    ("AHMED AL-MASRI", "Ahmed al-Masri"), ("JEAN-PAUL SARTRE", "Jean-Paul Sartre"), ("TOMÁS RIVERA", "Tomás Rivera"),
    ("HENRY VIII", "Henry VIII"), ("MARTIN LUTHER KING JR.", "Martin Luther King Jr."), ("VOA", "VOA"),
    ("NPR", "NPR"), ("BOB", "Bob"), ("Mark Hannah", "Mark Hannah"), ("DeShawn Jones", "DeShawn Jones"),
])
def test_capitals_shown_in_title_case(label, name):
    from audio.speakers import display_name

    assert display_name(label) == name


@pytest.mark.parametrize("name, sid", [
    ("Tomás", "tomas"), ("Jürgen Weiß", "jurgen-weiss"), ("Łukasz Żak", "lukasz-zak"), ("Conor O'Brien", "conor-obrien"),
    ("Søren Kierkegaard", "soren-kierkegaard"), ("Zoë Ça", "zoe-ca"), ("محمد", "speaker"),
])
def test_ids_are_ascii_slugs_that_keep_letters(name, sid):
    from audio.speakers import slug

    assert slug(name) == sid


def test_page_words_are_not_speakers():
    parsed = parse_transcript("A talk about maps.\nListen Here: on the radio, every Sunday\nTranscript:\n"
                              "Episode 4: A Title\nHOST: Hello?\nGUEST: Hi.\nNote: this answer was edited.\n"
                              "HOST: Bye?\nGUEST: Bye.\n")
    assert [(s.name, s.role) for s in parsed.speakers] == [("Host", "host"), ("Guest", "guest")]
    assert [t.text for t in parsed.turns] == ["Hello?", "Hi. Note: this answer was edited.", "Bye?", "Bye."]
    assert (parsed.metadata.title, parsed.metadata.episode_number) == ("A Title", 4)
    assert parsed.metadata.description == "A talk about maps."
    assert [(d.line_no, d.message) for d in parsed.decisions if d.doubtful] == [
        (2, "dropped as page clutter (a subscribe or listen line): Listen Here: on the radio, every Sunday")]


def test_a_lone_weak_label_is_text():
    parsed = parse_transcript("HOST: Why?\nGUEST: Because.\nSmith: said so.\nHOST: Really?\nGUEST: Yes.\n")
    assert [s.name for s in parsed.speakers] == ["Host", "Guest"]
    assert parsed.turns[1].text == "Because. Smith: said so."
    assert [(d.line_no, d.message) for d in parsed.decisions if d.doubtful] == [
        (3, "'Smith:' is used once as a label: read as text, not as a speaker")]


def test_the_host_asks_the_questions_not_the_first_speaker():
    parsed = parse_transcript("ANN: I grew up by the sea.\nBEN: Where, exactly?\nANN: In Cork.\n"
                              "BEN: And now?\nANN: Inland.\n")
    assert [(s.name, s.role) for s in parsed.speakers] == [("Ann", "guest"), ("Ben", "host")]
    assert [(c.turn_index, c.title) for c in parsed.chapters] == [(0, "Introduction"), (1, "Where, exactly?"),
                                                                   (3, "And now?")]


def test_manifest_wins_and_the_transcript_fills_its_gaps(tmp_path):
    import shutil

    src = tmp_path / "kitchens.md"
    shutil.copy(CORPUS / "web-page.md", src)
    (tmp_path / "kitchens.toml").write_text(
        '[episode]\ntitle = "The manifest\'s title"\nauthor = "Food Radio"\n\n'
        '[[speakers]]\nid = "conor"\nname = "Conor"\nlabels = ["CONOR O\'BRIEN"]\nvoice = "gmw/en-us"\nrole = "host"\n\n'
        '[[speakers]]\nid = "ana"\nname = "ANA"\nlabels = ["ANA DE LA CRUZ"]\nvoice = "gmw/en-gb-x-rp"\n\n'
        '[[speakers]]\nid = "jim"\nname = "Jim"\nlabels = ["JIM McDONALD"]\nvoice = "gmw/en-us+m3"\n', encoding="utf-8")
    episode = load_episode(src)
    meta = episode.metadata
    assert (meta.title, meta.author) == ("The manifest's title", "Food Radio")  # the manifest wins
    assert (meta.date, meta.number) == ("2024-04-12", 12)  # the transcript fills what it left out
    assert meta.description.startswith("Chef Ana de la Cruz")
    assert [episode.speaker(t.speaker_id).name for t in episode.turns[:3]] == ["Conor", "ANA", "Jim"]
    (tmp_path / "kitchens.toml").write_text(
        '[episode]\ntitle = "T"\ndate = "2025-01-01"\ndescription = ""\n\n'
        '[[speakers]]\nid = "c"\nlabels = ["CONOR O\'BRIEN", "ANA DE LA CRUZ", "JIM McDONALD"]\nvoice = "gmw/en-us"\n',
        encoding="utf-8")
    meta = load_episode(src).metadata
    assert (meta.date, meta.description) == ("2025-01-01", "")  # given, even empty: not filled


def test_a_manifest_without_a_title_takes_the_transcripts(tmp_path):
    """Every [episode] key the manifest leaves out, the title too, comes from the front matter."""
    import shutil

    src = tmp_path / "bread.md"
    shutil.copy(CORPUS / "markdown-front-matter.md", src)
    speakers = ('[[speakers]]\nid = "lena"\nname = "Lena Fischer"\nlabels = ["Lena Fischer"]\nvoice = "gmw/en-us"\n'
                'role = "host"\n\n[[speakers]]\nid = "omar"\nname = "Omar Haddad"\nlabels = ["Omar Haddad"]\n'
                'voice = "gmw/en-gb-x-rp"\n')
    (tmp_path / "bread.toml").write_text(speakers, encoding="utf-8")  # no [episode] table at all
    meta = load_episode(src).metadata
    assert (meta.title, meta.show, meta.date, meta.number) == (
        "Bread, Salt and Borders", "The Kitchen Table", "2024-05-17", 12)
    assert meta.description == "A baker and a historian on what crosses borders with food."
    (tmp_path / "bread.toml").write_text('[episode]\nauthor = "Food Radio"\n\n' + speakers, encoding="utf-8")
    meta = load_episode(src).metadata
    assert (meta.title, meta.author, meta.show) == ("Bread, Salt and Borders", "Food Radio", "The Kitchen Table")
    # a transcript that names no title: the file name's, as without a manifest; the show is the title
    plain = tmp_path / "kitchen-talk.txt"
    plain.write_text("Lena Fischer: Welcome.\nOmar Haddad: Thank you.\nLena Fischer: Goodbye.\n", encoding="utf-8")
    (tmp_path / "kitchen-talk.toml").write_text(speakers, encoding="utf-8")
    meta = load_episode(plain).metadata
    assert (meta.title, meta.show) == ("Kitchen talk", "Kitchen talk")
