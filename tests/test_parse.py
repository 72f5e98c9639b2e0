from __future__ import annotations

import pytest

from audio.errors import InputError, ParseError
from audio.manifest import Speaker
from audio.parse import decode_text, parse_transcript, shorten_title, split_sentences

from .conftest import SEED


def test_seed_turns_speakers_and_chapters(seed_episode):
    turns = seed_episode.turns
    assert [t.speaker_id for t in turns] == ["voa"] + ["voa", "zelin"] * 7
    assert turns[0].narration and not any(t.narration for t in turns[1:])
    questions = [t for t in turns if t.speaker_id == "voa" and not t.narration]
    assert len(questions) == 7
    assert all(q.text.endswith("?") for q in questions)
    chapters = seed_episode.chapters
    assert len(chapters) == 8
    assert chapters[0].title == "Introduction" and chapters[0].turn_index == 0
    assert [c.turn_index for c in chapters[1:]] == [q.index for q in questions]
    assert all(len(c.title) <= 50 for c in chapters)


def test_seed_long_form_label_and_continuations(seed_episode):
    turns = seed_episode.turns
    # "Aaron Zelin, Washington Institute ... senior fellow:" is Zelin
    assert turns[2].speaker_id == "zelin"
    assert turns[2].text.startswith("The Islamic State Khorasan Province")
    assert "senior fellow" not in turns[2].text
    # unlabelled paragraphs continue the previous answer
    assert turns[6].text.endswith("and all of his supporters.")
    assert "And they wanted to send a message of vengeance" in turns[6].text
    assert turns[12].text.endswith("on both sides.")
    # the whole intro (7 paragraphs) is one narration turn
    assert turns[0].text.startswith("More than a week after")
    assert turns[0].text.endswith("edited for brevity and clarity.")


def test_seed_words_survive_parsing(seed_episode):
    source = SEED.read_text(encoding="utf-8")
    for label in ("VOA:", "Zelin:", "Aaron Zelin, Washington Institute for Near East Policy senior fellow:"):
        source = source.replace(label, " ")
    parsed_words = " ".join(t.text for t in seed_episode.turns).split()
    assert parsed_words == source.split()


def test_no_manifest_infers_speakers_and_voices(tmp_path):
    from audio.episode import load_episode

    path = tmp_path / "talk.txt"
    path.write_text("Intro words here.\nHOST: First question?\nJANE DOE: An answer.\n"
                    "More of the answer.\nBOB: I disagree.\nHOST: Second question?\nJANE DOE: Fine.\n",
                    encoding="utf-8")
    ep = load_episode(path)
    names = [s.name for s in ep.manifest.speakers]
    assert names == ["Host", "Jane Doe", "Bob"]  # capitals shown in title case
    voices = [s.voice for s in ep.manifest.speakers]
    assert len(set(voices)) == 3 and all(voices)
    assert [c.title for c in ep.chapters] == ["Introduction", "First question?", "Second question?"]
    assert ep.turns[2].text == "An answer. More of the answer."


@pytest.mark.parametrize("text, speakers", [
    ("Q: Why now?\nA: Because.\nQ: Really?\nA: Yes.\n", ["Q", "A"]),
    ("**Alice:** Hello there.\n**Bob:** Hi.\n", ["Alice", "Bob"]),
    ("**Alice**: Hello there.\n**Bob**: Hi.\n", ["Alice", "Bob"]),
    ("Alice: Hello.\n\nBob: Hi.\n\nAlice: Again.\n\nBob: And again.\n", ["Alice", "Bob"]),
])
def test_other_label_styles(text, speakers):
    parsed = parse_transcript(text)
    assert [s.name for s in parsed.speakers] == speakers
    assert parsed.turns[0].text in {"Why now?", "Hello there.", "Hello."}


def test_colon_in_sentence_is_not_a_label():
    text = "VOA: Tell us.\nZelin: The options are few: arrests and sharing.\nVOA: And?\nZelin: Note: this matters.\n"
    parsed = parse_transcript(text)
    assert [t.speaker_id for t in parsed.turns] == ["voa", "zelin", "voa", "zelin"]
    assert parsed.turns[1].text == "The options are few: arrests and sharing."
    assert parsed.turns[3].text == "Note: this matters."


def test_blank_line_paragraphs_join_wrapped_lines():
    text = "HOST: A question that\nwraps onto a second line?\n\nGUEST: An answer\nthat wraps.\n"
    parsed = parse_transcript(text)
    assert [t.text for t in parsed.turns] == ["A question that wraps onto a second line?", "An answer that wraps."]


def test_manifest_rejects_unknown_strong_label():
    speakers = (Speaker("voa", "VOA", ("VOA",), "gmw/en-us", role="host"),)
    with pytest.raises(ParseError, match=r"line 2: label 'SMITH' names no speaker in the manifest"):
        parse_transcript("VOA: Hi?\nSMITH: Hello.\n", speakers=speakers)


def test_labels_without_text_are_an_error():
    with pytest.raises(ParseError, match="labels but no speech"):
        parse_transcript("VOA:\nZelin:\nVOA:\nZelin:\n")


def test_sentences_keep_abbreviations_and_quotes():
    assert split_sentences('It hit a U.S. drone base. Then "it ended." Dr. Kim left. Okay?') == [
        "It hit a U.S. drone base.", 'Then "it ended."', "Dr. Kim left.", "Okay?"]


def test_shorten_title_at_word_boundary():
    title = shorten_title("What part of the IS group was responsible for the Kerman attack?")
    assert title == "What part of the IS group was responsible for…"
    assert len(title) <= 50
    assert shorten_title("Short one?") == "Short one?"


def test_decode_text():
    assert decode_text("VOA: hé".encode("utf-16")) == "VOA: hé"
    assert decode_text("\ufeffVOA: hi".encode()) == "VOA: hi"
    with pytest.raises(InputError, match=r"not UTF-8: invalid byte 0xe9 at byte offset 6"):
        decode_text("VOA: hé".encode("latin-1"))
    with pytest.raises(InputError, match="is empty"):
        decode_text(b"  \n ")
    with pytest.raises(InputError, match="looks binary"):
        decode_text(b"VOA\x00\x01\x02")


def test_parsing_pauses_the_collector_and_gives_it_back():
    import gc
    import threading

    from audio.parse import _collector_paused

    assert gc.isenabled()
    inside, leave = threading.Event(), threading.Event()

    def other_parse():
        with _collector_paused():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other_parse)
    with _collector_paused():  # a parse here begins first and ends first...
        assert not gc.isenabled()
        thread.start()
        assert inside.wait(10)
    assert not gc.isenabled()  # ...while the other one still runs paused
    leave.set()
    thread.join()
    assert gc.isenabled()
    parse_transcript("A: Hi?\nB: Hello.\n")
    assert gc.isenabled()
    gc.disable()  # the caller's own choice is left alone
    try:
        parse_transcript("A: Hi?\nB: Hello.\n")
        assert not gc.isenabled()
    finally:
        gc.enable()


# ---------------------------------------------------------------- later references: one person, however labelled

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FIRST_NAMES = ["Pia", "Samuel", "Leah", "Omar", "Clara", "Tomás", "Ines", "Jon"]
SURNAMES = ["Sorel", "Arden", "Marsh", "Haddad", "Wren", "Okafor", "Kerr", "McDonald"]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(FIRST_NAMES), st.sampled_from(SURNAMES), st.booleans(), st.booleans(),
       st.lists(st.sampled_from(["full", "surname", "first", "honorific"]), min_size=2, max_size=6),
       st.sampled_from(["label", "narration", "self"]))
def test_surname_first_name_and_honorific_labels_are_one_person(first, last, capitals, female, forms, named):
    """``PIA SOREL:``, ``SOREL:``, ``PIA:`` and ``Ms. SOREL:`` are one speaker, Pia Sorel, whichever comes first,
    with the full name as a label, said in the narration before, or said by them ("I'm Pia Sorel")."""
    def cased(text: str) -> str:
        return text.upper() if capitals else text

    full = f"{first} {last}"
    label = {"full": full, "surname": last, "first": first, "honorific": f"{'Ms.' if female else 'Mr.'} {last}"}
    if named == "label":
        forms = [*forms, "full"]
    else:  # (a one-word label in mixed case, used once, is text: "Note:"; newsroom labels are capitals)
        forms, capitals = [f for f in forms if f != "full"] + ["surname"], True
    lines = [f"My guest today is {full}." if named == "narration" else "Welcome to the show."]
    for n, form in enumerate(forms):
        lines.append(f"HOST: Question {n}?")
        said = f"I'm {full}, and it is good to be here." if named == "self" and n == 0 else f"Answer {n}."
        lines.append(f"{cased(label[form]) if form != 'honorific' else label[form].replace(last, cased(last))}: {said}")
    parsed = parse_transcript("\n".join(lines) + "\n")
    guests = [s for s in parsed.speakers if s.role == "guest"]
    assert [s.name for s in guests] == [full]
    assert len({t.speaker_id for t in parsed.turns if not t.narration and t.speaker_id != "host"}) == 1
