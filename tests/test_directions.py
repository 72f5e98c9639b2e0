"""Stage directions, sound cues, footers and editors' insertions: what is spoken and what is not.

The property tests insert directions made from their kinds (soundbites of
anything, reactions in any case and brackets, transcribers' notes with a
timestamp, sources of sound doing something, music, music notes) and
footers into good transcripts (text, Markdown, a web page, a Word file):
none is ever spoken,
every word around them is, and each sound cue is kept where it was, before
the sentence it precedes.  Editors' insertions, even ones that name a
sound ("[the music]"), are always spoken.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audio.formats.directions import DIRECTION, classify
from audio.formats.labels import without_honorific
from audio.manifest import Speaker
from audio.parse import parse_transcript, split_sentences
from audio.speakers import display_name

from .format_writers import WRITERS, as_docx

NAMES = ["Ana Lima", "CHEN", "Tomás Rivera", "Bob Lee", "Mr. Ode Kay"]
WORDS = ["the", "attack", "Iran", "it's", "U.S.", "“quoted”", "vis-a-vis", "15", "café", "well,", "so.", "Why?",
         "and", "Tomás", "Okay", "music", "phone", "laughs"]  # words that name sounds are words too, outside brackets
# an editor's insertion: a name, or a phrase of the sentence (even one that names a sound)
INSERTIONS = st.one_of(
    st.sampled_from(["Iran", "the Taliban", "Kerman", "Islamic Revolutionary Guard Corps", "NATO", "IRGC", "U.S.",
                     "Sound Transit", "Bell Labs", "Spanish", "2019"]).map(lambda s: f"[{s}]"),
    st.builds(lambda det, noun: f"[{det} {noun}]", st.sampled_from(["the", "a", "his", "their", "this"]),
              st.sampled_from(["music", "phone", "ceremony at the burial place", "laughter", "crowd", "seed bank",
                               "border", "applause he got"])),
)
_CAPS = st.sampled_from([str.upper, str.lower, str.capitalize])
_BRACKETS = st.sampled_from([("(", ")"), ("[", "]")])
_STAMP = st.builds(lambda m, s: f"{m:02d}:{s:02d}", st.integers(0, 59), st.integers(0, 59))


def _bracket(text: str, pair: tuple[str, str]) -> str:
    return f"{pair[0]}{text}{pair[1]}"


# (as written, a sound cue?)
SOUND_CUES = st.one_of(
    st.builds(lambda words: (f"(SOUNDBITE OF {' '.join(words)})", True),
              st.lists(st.sampled_from(["ARCHIVED", "BROADCAST", "TRAFFIC", "MUSIC", "RAIN", "TRAIN", "SIRENS",
                                        "FILM", "SONG", "A", "THE", "PROTEST", "SPEECH", "CAR", "HORNS"]),
                       min_size=1, max_size=4)),
    st.builds(lambda adjective, case, pair: (_bracket(case(f"{adjective} music".strip()), pair), True),
              st.sampled_from(["", "theme", "outro", "upbeat", "soft", "dramatic", "closing", "intro"]), _CAPS,
              _BRACKETS),
    st.builds(lambda source, verb, case: (f"[{case(f'{source} {verb}')}]", True),
              st.sampled_from(["door", "phone", "dog", "bell", "car", "clock", "glass", "doors", "phones"]),
              st.sampled_from(["slams", "rings", "ringing", "barks", "creaks", "honking", "ticking", "shatters"]),
              st.sampled_from([str.lower, str.upper])),
    st.builds(lambda words: (" ".join(["♪", *words, "♪"]), True), st.lists(st.sampled_from(WORDS[:6]), max_size=5)),
)
DROPPED = st.one_of(
    st.builds(lambda word, case, pair: (_bracket(case(word), pair), False),
              st.sampled_from(["laughter", "laughs", "laughing", "applause", "crosstalk", "sighs", "chuckles",
                               "coughs", "clears throat", "cheering", "groans", "audience laughs", "crowd cheering"]),
              _CAPS, _BRACKETS),
    st.builds(lambda word, stamp, pair: (_bracket(f"{word} {stamp}".strip(), pair), False),
              st.sampled_from(["inaudible", "unintelligible", "crosstalk", "indistinct"]),
              st.one_of(st.just(""), _STAMP), _BRACKETS),
    st.sampled_from(["(ph)", "[sic]", "(As character)", "(As Darth Vader)", "[speaking Spanish]",
                     "(through interpreter)", "[foreign language]", "[?]", "(sp?)"]).map(lambda s: (s, False)),
)
DIRECTIONS = st.one_of(SOUND_CUES, DROPPED)
FOOTERS = st.builds(
    lambda org, year, form: form.format(org=org, year=year),
    st.sampled_from(["Riverside Public Radio", "NPR", "Field Day", "Harbor FM"]), st.integers(1990, 2030),
    st.sampled_from(["Copyright © {year} {org}. All rights reserved.",
                     "{org} transcripts are created on a rush deadline by a contractor. This text may not be in its "
                     "final form and may be updated or revised in the future.",
                     "Transcribed by {org}.", "This transcript was generated automatically and may contain errors.",
                     "Use Ctrl + F to search", "Search the transcript", "© {year} {org}"]))


@st.composite
def marked_turns(draw):
    """Turns of words with insertions, and directions put between words: ``(name, tokens)``, where a
    token is a word (str) or a direction ``(as written, a cue?)``."""
    names = draw(st.lists(st.sampled_from(NAMES), min_size=2, max_size=3, unique=True))
    turns = []
    for i in range(draw(st.integers(min_value=2, max_value=7))):
        tokens = draw(st.lists(st.one_of(st.sampled_from(WORDS), INSERTIONS, DIRECTIONS.map(tuple)),
                               min_size=1, max_size=16))
        if not any(isinstance(t, str) for t in tokens):
            tokens.append("words")
        turns.append((names[i % len(names)], tokens))
    return turns


def _written(tokens) -> str:
    return " ".join(t if isinstance(t, str) else t[0] for t in tokens)


def _spoken(tokens) -> list[str]:
    return " ".join(t for t in tokens if isinstance(t, str)).split()


def _expected_cues(turns) -> list[tuple[str, int, int]]:
    """(as written, turn, sentence) of each cue: before the first sentence after it."""
    out = []
    for index, (_, tokens) in enumerate(turns):
        before: list[str] = []  # the words since the turn began or the last cue
        sentences = 0
        for position, token in enumerate(tokens):
            if isinstance(token, str):
                before.append(token)
                continue
            if not token[1]:
                continue
            sentences += len(split_sentences(" ".join(before))) if before else 0
            before = []
            rest = [t for t in tokens[position + 1:] if isinstance(t, str)]
            out.append((token[0], index, sentences) if rest else (token[0], index + 1, 0))
    # a cue with no words after it in its turn comes before the next turn
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(marked_turns(), st.sampled_from(["text", "markdown", "html", "docx"]))
def test_directions_are_never_spoken_and_insertions_always_are(turns, fmt):
    written = [(name, _written(tokens)) for name, tokens in turns]
    if fmt == "docx":
        parsed = parse_transcript(as_docx(written), source="talk.docx")
    else:
        writer, extension = WRITERS[fmt]
        parsed = parse_transcript(writer(written), source=f"talk{extension}")
    names = {s.id: s.name for s in parsed.speakers}
    assert [(names[t.speaker_id], t.text.split()) for t in parsed.turns] == [
        (display_name(without_honorific(name)[0]), _spoken(tokens)) for name, tokens in turns]
    assert [(c.text, c.turn_index, c.sentence_index) for c in parsed.cues] == _expected_cues(turns)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(marked_turns(), st.lists(SOUND_CUES, max_size=3), st.lists(FOOTERS, max_size=3), st.lists(DROPPED, max_size=2))
def test_cues_on_their_own_lines_and_footers(turns, between, footers, reactions):
    """Cues alone on a line between turns, reactions alone on a line, footers at the end: a radio transcript."""
    lines = []
    expected_own = []
    for index, (name, tokens) in enumerate(turns):
        if index < len(between):
            lines.append(between[index][0])
            expected_own.append((between[index][0], index, 0))
        lines.append(f"{name}: {_written(tokens)}")
        if index < len(reactions):
            lines.append(reactions[index][0])
    lines += footers
    parsed = parse_transcript("\n\n".join(lines) + "\n")
    names = {s.id: s.name for s in parsed.speakers}
    assert [(names[t.speaker_id], t.text.split()) for t in parsed.turns] == [
        (display_name(without_honorific(name)[0]), _spoken(tokens)) for name, tokens in turns]
    inline = _expected_cues(turns)
    assert sorted((c.text, c.turn_index, c.sentence_index) for c in parsed.cues) == sorted(expected_own + inline)
    spoken = " ".join(t.text for t in parsed.turns)
    assert not any(footer in spoken for footer in footers)


# ---------------------------------------------------------------- the rule, on kinds the corpus does not hold

@pytest.mark.parametrize("inner, kind", [
    ("SOUNDBITE OF BAGPIPES", "sound"), ("SOUNDBITE OF SONG, \"HARVEST MOON\"", "music"),
    ("Soundbite of laughter", DIRECTION), ("SOUND OF WAVES", "sound"), ("sound effect: thunder", "sound"),
    ("THEME MUSIC UP AND UNDER", "theme"), ("closing theme", "outro"), ("jingle", "music"),
    ("kettle whistling", DIRECTION), ("typing", "sound"), ("phone buzzes", "sound"), ("crowd noise", "sound"),
    ("audience applauds", DIRECTION), ("snorts", DIRECTION), ("speaks Farsi", DIRECTION),
    ("unintelligible 01:02:03", DIRECTION), ("sic", DIRECTION), ("As Hamlet", DIRECTION),
    ("BELL RINGS", "sound"), ("GUNFIRE", "sound"), ("CHANTING", DIRECTION),
    # insertions
    ("Hamlet", None), ("the bells", None), ("a phone call from Tehran", None), ("Bell Atlantic", None),
    ("Persian", None), ("he", None), ("NATO", None), ("UNHCR", None), ("2024", None), ("and I mean it", None),
])
def test_what_brackets_hold(inner, kind):
    assert classify(inner) == kind


def test_capitals_say_nothing_in_a_file_written_in_capitals():
    """A caption file all in capitals: "[IRAN]" is an insertion there, "(LAUGHTER)" still a reaction."""
    parsed = parse_transcript("HOST: WHAT HAPPENED IN [KERMAN] (LAUGHTER)?\nGUEST: THE [ISLAMIC STATE] STRUCK.\n")
    assert [t.text for t in parsed.turns] == ["WHAT HAPPENED IN [KERMAN]?", "THE [ISLAMIC STATE] STRUCK."]


def test_the_seeds_insertions_are_spoken(seed_episode):
    spoken = " ".join(t.text for t in seed_episode.turns)
    for insertion in ("beyond the borders of [Iran]", "[a ceremony at the burial place of Qassem Soleimani in Kerman]",
                      "[Iranian]", "[Islamic Revolutionary Guard Corps]"):
        assert insertion in spoken
    assert seed_episode.cues == ()


# ---------------------------------------------------------------- where a cue goes

def test_cue_positions_are_exact():
    text = ("(SOUNDBITE OF MUSIC)\n\n"  # before everything: turn 0, sentence 0
            "HOST: Welcome. (SOUNDBITE OF TRAFFIC) This is the street. It is loud.\n\n"  # turn 0, sentence 1
            "GUEST: It is. [door slams] [laughs]\n\n"  # at the end of a turn: before the next turn
            "HOST: And then? ♪ la la ♪\n\n"  # the last turn's end: after the last turn
            "[OUTRO MUSIC]\n")
    parsed = parse_transcript(text)
    assert [t.sentences for t in parsed.turns] == [("Welcome.", "This is the street.", "It is loud."), ("It is.",),
                                                   ("And then?",)]
    assert [(c.line_no, c.kind, c.text, c.turn_index, c.sentence_index) for c in parsed.cues] == [
        (1, "music", "(SOUNDBITE OF MUSIC)", 0, 0), (3, "sound", "(SOUNDBITE OF TRAFFIC)", 0, 1),
        (5, "sound", "[door slams]", 2, 0), (7, "music", "♪ la la ♪", 3, 0), (9, "outro", "[OUTRO MUSIC]", 3, 0)]
    assert [(d.line_no, d.message) for d in parsed.decisions if d.message.startswith("a stage direction")] == [
        (5, "a stage direction, not spoken: [laughs]")]


def test_a_cue_inside_a_sentence_ends_it():
    """Music in mid-sentence: the words after it start a sentence of their own, before which the cue goes."""
    parsed = parse_transcript("HOST: And then we [music] went home. Fine.\nGUEST: Good.\n")
    assert parsed.turns[0].sentences == ("And then we", "went home.", "Fine.")
    assert [(c.turn_index, c.sentence_index) for c in parsed.cues] == [(0, 1)]


def test_cues_are_kept_with_a_manifest():
    speakers = (Speaker("host", "Host", ("HOST",), "hibari:heart", role="host"),
                Speaker("guest", "Guest", ("GUEST",), "piper:en_US-joe-medium"))
    parsed = parse_transcript("[THEME MUSIC]\nHOST: Hi?\nGUEST: Hello.\n(SOUNDBITE OF APPLAUSE)\n", speakers=speakers)
    assert [(c.kind, c.turn_index) for c in parsed.cues] == [("theme", 0)]  # applause is the room, not a sound to play
    assert [t.text for t in parsed.turns] == ["Hi?", "Hello."]


def test_a_caption_cue_between_one_voices_cues():
    vtt = ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Ann>We went down\n\n00:00:02.000 --> 00:00:03.000\n[MUSIC]\n\n"
           "00:00:03.000 --> 00:00:04.000\n<v Ann>to the sea.</v>\n\n00:00:04.000 --> 00:00:05.000\n<v Ben>Why?</v>\n")
    parsed = parse_transcript(vtt, source="talk.vtt")
    assert [t.sentences for t in parsed.turns] == [("We went down", "to the sea."), ("Why?",)]
    assert [(c.line_no, c.kind, c.turn_index, c.sentence_index) for c in parsed.cues] == [(7, "music", 0, 1)]


def test_a_text_with_only_cues_has_no_text():
    from audio.errors import ParseError

    with pytest.raises(ParseError, match="transcript has no text"):
        parse_transcript("(SOUNDBITE OF MUSIC)\n[THEME MUSIC]\n")


def test_long_unpunctuated_speech_is_cut_into_phrases():
    """Automatic captions have no stops: no sentence of hundreds of words goes to the speech engine."""
    words = [f"word{i}" for i in range(500)]
    parsed = parse_transcript("\n".join(" ".join(words[i:i + 7]) for i in range(0, 500, 7)) + "\n")
    sentences = parsed.turns[0].sentences
    assert " ".join(sentences).split() == words
    assert max(len(s.split()) for s in sentences) <= 60 and len(sentences) >= 500 // 60
