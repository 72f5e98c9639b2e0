"""Stage directions and sound cues: what a transcript puts in brackets but no one says.

Newsrooms and transcription services write what is not speech between
brackets, each in their own style: radio in capitals between parentheses
(``(SOUNDBITE OF MUSIC)``, ``(LAUGHTER)``, ``(CROSSTALK)``), services in
lower case between square brackets (``[laughs]``, ``[crosstalk]``,
``[inaudible 00:12:03]``, ``[music]``), transcribers' notes (``(ph)``,
``[sic]``, ``(As character)``) and music notes (``♪ ... ♪``).  An editor's
insertion is the speaker's meaning, supplied, and is spoken: "beyond the
borders of [Iran]", "[a ceremony at the burial place of Qassem Soleimani]".

The two are told apart by what the brackets hold, not by a list of
examples.  Brackets hold a stage direction when what is inside is

1. a description of a sound or clip: "SOUNDBITE OF ...", "SOUND OF ...";
2. a transcriber's note: a word for speech that cannot be given (inaudible,
   crosstalk, ph, sic, a language spoken), a timestamp, "As NAME";
3. a short description (six words at most) that names a sound or a vocal
   event by its kind: music and its forms, reactions of the voice or the
   room (laughter, sighs, applause), sources of sound (a door, a phone,
   traffic).  A description starts as one, not as part of a sentence: a
   determiner, a pronoun or a preposition first ("[the music]", "[a bell
   for them]") makes it an insertion; Title Case that names no sound
   ("[Sound Transit]") is a name;
4. radio's convention: words in capitals inside text that is not in
   capitals, unless a lone short word (an acronym: "[NATO]", "[IRGC]").

Anything else between brackets is an insertion and stays.  A direction that
is a sound to play (music, a theme, an outro, a sound or a clip) is a *cue*,
kept so a later stage can play something there; reactions and notes are
dropped.  ``♪`` and what is between two of them are music.
"""

from __future__ import annotations

import functools
import re

from collections.abc import Callable

from .base import TIMESTAMP, Dropped, Label, Paragraph

# one bracketed span, without nesting: the candidates
_SPAN_RE = re.compile(r"\[([^\[\]\n]{0,160})\]|\(([^()\n]{0,160})\)|♪[^♪\n]*♪|♪")
_TIMESTAMP_RE = re.compile(rf"(?:^|[\s,;:-]+){TIMESTAMP}(?:\s*-->?\s*{TIMESTAMP})?(?=$|[\s,;:-])")
_ONLY_TIMESTAMP_RE = re.compile(rf"^\s*{TIMESTAMP}(?:\s*-->?\s*{TIMESTAMP})?\s*$")
_WORD_RE = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_DIARISED_RE = re.compile(r"^(?:speaker|spk|spkr)[ _-]?\d+$", re.I)

# The kinds of things directions name, as word families (a stem and its forms).
_MUSIC = r"music(?:al)?|songs?|instrumentals?|melod(?:y|ies|ic)|tunes?|jingles?|themes?|stingers?|bumpers?|interludes?|fanfare|♪"
_THEME = r"themes?|intro|opening"
_OUTRO = r"outro|closing|ending|credits"
_REACTION = (r"laugh\w*|chuckl\w*|giggl\w*|sigh(?:s|ing|ed)?|cough\w*|sniff\w*|snort\w*|gasp\w*|groan\w*|grunt\w*"
             r"|sob(?:s|bing|bed)?|cr(?:y|ies|ying)|weep\w*|wail\w*|moan\w*|howl\w*|whisper\w*|yell(?:s|ing|ed)?"
             r"|shout\w*|scream\w*|murmur\w*|mumbl\w*|exhal\w*|inhal\w*|breath\w*|throat|applau\w*"
             r"|clap(?:s|ping|ped)?|cheer(?:s|ing|ed)?|boo(?:s|ing|ed)?|jeer\w*|smil(?:e|es|ing)|grin(?:s|ning)?"
             r"|nod(?:s|ding)?|shrug\w*|pause[sd]?|pausing|silence|silent|hesitat\w*|stammer\w*|stutter\w*"
             r"|sing(?:s|ing)?|hum(?:s|ming)?|whistl\w*|yawn\w*|chatter\w*|crosstalk|cross-talk|overtalk"
             r"|overlapping|interpos\w*|interrupt\w*|speechless")
_NOTE = (r"inaudible|unintelligible|indistinct|indiscernible|unclear|garbled|muffled|incomprehensible|ph|sic|sp"
         r"|redacted|expletive|bleep\w*|censored|untranscribed|untranslated|unrecognized")
_NOTE_PHRASE_RE = re.compile(
    r"^(?:(?:speaking )?(?:in )?(?:a )?foreign language|technical (?:difficult\w*|problems?|issues?|glitch\w*)"
    r"|audio (?:cuts? (?:out|off)|drops?(?: out)?|gap|glitch\w*|break|ends|resumes|unavailable|missing|distorted)"
    r"|(?:break|gap) in (?:the )?(?:audio|recording|tape)|no audio|off[- ]?mic(?:rophone)?|voice[- ]?over"
    r"|translat\w*|(?:speaking )?(?:through|via|with) (?:an? )?(?:interpreter|translator)"
    r"|end of (?:audio|recording|transcript|tape|clip)|(?:recording|transcript(?:ion)?) (?:ends|resumes|begins|stops)"
    r"|simultaneous (?:translation|interpretation))$", re.I)
# Words that are a sound by themselves ...
_SOUND = (r"sounds?|noises?|soundbites?|sfx|static|gunfire|gunshots?|explosions?|blasts?|thunder\w*|beep\w*"
          r"|buzz(?:es|ing|er)?|sirens?|alarms?|knock(?:s|ing|ed)?|footsteps?|chim(?:e|es|ing)|bells?|gongs?"
          r"|ring(?:s|ing)?|ringtones?|horns?|honk\w*|bark(?:s|ing)?|birdsong|whoosh\w*|rumbl\w*|crackl\w*"
          r"|rustl\w*|creak\w*|splash\w*|crash\w*|thuds?|bangs?|slams?|clicks?|clicking|clink\w*|typing"
          r"|tick(?:s|ing)|drip\w*|ambien\w*|traffic|rain(?:s|ing|fall)?|wind|newsreel|voicemail|soundtrack|sot|nat")
# ... and things that make one, a sound when something is said of them ("[door slams]", "[archived broadcast]").
_SOURCE = (r"doors?|phones?|telephones?|cars?|trains?|planes?|helicopters?|birds?|dogs?|crowds?|audience|water"
           r"|glass(?:es)?|clocks?|engines?|radio|television|tv|video|tapes?|clips?|broadcasts?|recordings?"
           r"|archiv\w*|dial|tone|machines?|keyboards?|gavel|storm|atmosphere|waves")
_LANGUAGES = frozenset("""spanish french german italian portuguese arabic farsi persian dari pashto urdu hindi bengali
punjabi mandarin cantonese chinese japanese korean vietnamese thai russian ukrainian polish turkish hebrew greek
swahili amharic somali tagalog indonesian malay dutch swedish norwegian danish finnish hungarian czech romanian
serbian croatian bosnian albanian kurdish armenian georgian haitian creole yiddish latin tamil telugu gujarati
marathi nepali burmese khmer lao hausa yoruba igbo zulu xhosa quechua navajo welsh irish gaelic catalan basque
sign""".split())
# A description starts as one; these words start a phrase of the sentence instead.
_PHRASE_STARTS = frozenset("""a an the this that these those his her its their our my your he she it they we i you
him them us me who which what of in on at to for with from by about into onto over under after before and or but so
is was are were be been being has have had do does did not no some any all every each another other such
than then there here one two three""".split())
_ARTICLES = frozenset({"a", "an", "the"})


def _family(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"^(?:{pattern})$")


_FAMILIES = {name: _family(p) for name, p in (("music", _MUSIC), ("theme", _THEME), ("outro", _OUTRO),
                                               ("reaction", _REACTION), ("note", _NOTE), ("sound", _SOUND),
                                               ("source", _SOURCE))}
_SOUND_OF_RE = re.compile(r"^(?:(?:sound ?bites?|sfx)(?: of\b|:)?|(?:sounds?|sound effects?|audio|clip|tape|recording"
                          r"|excerpt)(?: of\b|:))\s*(?P<rest>.*)$", re.I | re.S)
_AS_RE = re.compile(r"^As (?!(?:I|we|you|he|she|it|they|if|well|far|long|much|soon|of|for|a|an|the|to|in)\b)[A-Z]")
_SPEAKING_RE = re.compile(r"^(?:speaking|speaks|in|through|via) (?:an? )?(?P<what>[\w' -]+)$", re.I)

_NO_SPACE = frozenset(",.;:!?)]}…”’%")
DIRECTION = "direction"  # dropped: a reaction or a transcriber's note
CUE_KINDS = ("theme", "music", "outro", "sound")


def _kinds(words: list[str]) -> set[str]:
    """The families the (casefolded) words belong to."""
    return {name for word in words for name, family in _FAMILIES.items() if family.match(word)}


def _verb_like(word: str) -> bool:
    """slams, chirping, closed: something happening ("[door slams]")."""
    return len(word) > 3 and word.endswith(("s", "ing", "ed")) and word not in _PHRASE_STARTS


def _described(found: set[str], words: list[str]) -> str | None:
    """What a description naming *found* is: a cue kind, DIRECTION, or None (it names no sound)."""
    if "note" in found:
        return DIRECTION
    if "music" in found:
        if "outro" in found:
            return "outro"
        if "theme" in found:
            return "theme"
        return "music"
    if "reaction" in found:
        return DIRECTION  # the voice or the room: laughter, applause, sighs, crosstalk
    if "sound" in found:
        return "sound"
    if "source" in found and (len(words) > 1 and any(_verb_like(w) or _kinds([w]) - {"source"} for w in words)
                              or len([w for w in words if _FAMILIES["source"].match(w)]) > 1):
        return "sound"
    return None


@functools.lru_cache(maxsize=4096)  # a transcript repeats its few directions and insertions
def classify(inner: str, capitals_around: bool = False) -> str | None:
    """What brackets around *inner* hold: None for speech (an insertion), DIRECTION, or a cue kind.

    *capitals_around*: the text around is in capitals itself (caption
    files written all in capitals), so capitals say nothing.
    """
    content = inner.strip()
    if not content:
        return None
    if content.startswith("♪") or content.endswith("♪"):
        return "music"
    if _ONLY_TIMESTAMP_RE.match(content):
        return DIRECTION  # a timestamp
    if _DIARISED_RE.match(content):
        return None  # "[SPEAKER_00]": a label, read as one
    if _NOTE_PHRASE_RE.match(content) or _AS_RE.match(content) or content.casefold() == "as character":
        return DIRECTION  # [foreign language], (As Darth Vader): whose voice a clip is in
    sound_of = _SOUND_OF_RE.match(content)
    if sound_of is not None and (sound_of.group("rest") or content.isupper()):
        words = [w.casefold() for w in _WORD_RE.findall(sound_of.group("rest"))]
        kind = _described(_kinds(words), words)
        return "sound" if kind is None else kind  # (SOUNDBITE OF ARCHIVED BROADCAST): a clip, a sound
    stripped = _TIMESTAMP_RE.sub(" ", content).strip(" ,;:-")  # "[inaudible 00:12:03]"
    if not stripped or stripped in ("?", "??", "sp?", "ph?"):
        return DIRECTION
    words = _WORD_RE.findall(stripped)
    if not words or len(words) > 6:
        return None
    folded = [w.casefold() for w in words]
    speaking = _SPEAKING_RE.match(stripped)
    if speaking is not None and speaking.group("what").split()[0].casefold() in _LANGUAGES | {"foreign"}:
        return DIRECTION  # [speaking Spanish], [in Arabic]
    capitals = stripped.isupper() and sum(c.isalpha() for c in stripped) >= 2
    if folded[0] in _ARTICLES and len(folded) > 2 and _verb_like(folded[-1]) and not capitals:
        folded, words = folded[1:], words[1:]  # "[a door slams]": still a description
    elif folded[0] in _PHRASE_STARTS and not capitals:
        return None  # "[the music]", "[a ceremony at ...]": part of the sentence
    found = _kinds(folded)
    if found:
        title_case = not capitals and len(words) > 1 and all(w[0].isupper() for w in words)
        if title_case and not all(_kinds([w]) or w in _PHRASE_STARTS for w in folded):
            return None  # "[Sound Transit]", "[Bell Labs]": a name
        kind = _described(found, folded)
        if kind is not None:
            return kind
    if capitals and not capitals_around and (len(words) > 1 and max(map(len, words)) >= 4 or len(words[0]) >= 6):
        return DIRECTION  # (BEGIN VIDEO TAPE), (CHEERING): radio's capitals
    return None


def split(text: str) -> list[str | tuple[str, str, int]] | None:
    """*text* as pieces: speech (str) and directions ``(kind, as written, offset)``; None when it has none.

    The speech pieces are the text between the directions, unchanged but
    for the space a removal would leave before punctuation.
    """
    if "[" not in text and "(" not in text and "♪" not in text:
        return None
    pieces: list[str | tuple[str, str, int]] = []
    last = 0
    capitals_around = None
    for match in _SPAN_RE.finditer(text):
        inner = match.group(1) if match.group(1) is not None else match.group(2)
        if inner is None:  # ♪ ... ♪ or a lone ♪: music, a theme or an outro if it says so
            words = [w.casefold() for w in _WORD_RE.findall(match.group())]
            kind = _described((_kinds(words) | {"music"}) - {"note"}, words)
        else:
            if capitals_around is None and inner.isupper():
                outside = _SPAN_RE.sub(" ", text)
                capitals_around = any(c.isalpha() for c in outside) and not any(c.islower() for c in outside)
            kind = classify(inner, bool(capitals_around))
            if kind is None:
                continue
        before = text[last:match.start()]
        after = text[match.end():match.end() + 1]
        if after and after in ",.;:!?…" and before.endswith((" ", "\t")):
            before = before.rstrip()
        pieces.append(before)
        pieces.append((kind, match.group(), match.start()))
        last = match.end()
        if after and after in ",;:" and not before.strip():
            last += 1  # "(LAUGHTER), so": the comma went with the direction
    if not pieces:
        return None
    pieces.append(text[last:])
    return pieces


def speech_paragraphs(line_no: int, text: str, label: Label | None, prefix: str, section_break: bool, heading: str,
                      dropped: list[Dropped], line_at: Callable[[int], int] | None = None) -> list[Paragraph]:
    """A paragraph as read, without its stage directions (into *dropped*, with their lines).

    A sound cue ends the paragraph and is one of its own; what follows it
    is a paragraph without a label, which goes on with the same speaker.
    *line_at* gives the line of an offset in *text* (a paragraph joined from
    several lines).
    """
    pieces = split(text)
    if pieces is None:
        return [Paragraph(line_no, text, label, prefix, section_break, heading)]

    def joined(speech: list[str]) -> str:
        out = ""
        for piece in speech:  # adjacent once what was between them went: "shift" "." -> "shift."
            if out and piece and not out[-1].isspace() and not piece[0].isspace() and piece[0] not in _NO_SPACE:
                out += " "
            out += piece
        return " ".join(out.split())

    out: list[Paragraph] = []
    speech: list[str] = []
    first = True  # the paragraph's own label, break and heading are still to be given out
    for piece in pieces:
        if isinstance(piece, str):
            speech.append(piece)
            continue
        kind, written, offset = piece
        n = line_at(offset) if line_at is not None else line_no
        if kind == DIRECTION:
            dropped.append(Dropped(n, written, "a stage direction"))
            continue
        words = joined(speech)
        if words or first and label is not None:
            out.append(Paragraph(line_no, words, label, prefix, section_break, heading) if first
                       else Paragraph(n, words))
            first = False
        speech = []
        # a cue first keeps the paragraph's break and heading, for the speech after it
        out.append(Paragraph(n, written, None, "", section_break and first, heading if first else "", kind))
        line_no = n
    words = joined(speech)
    if words or first and (label is not None or section_break or heading):
        # (a paragraph that was all directions still gives its break and heading to the next)
        out.append(Paragraph(line_no, words, label, prefix, section_break, heading) if first
                   else Paragraph(line_no, words))
    return out
