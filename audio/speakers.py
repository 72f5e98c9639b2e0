"""Stage 1b, speakers: which labels are people, their names and ids, and who hosts.

A label must look like a name (``formats/labels.py``) and behave like a
speaker: it recurs, or it alternates with other speakers.  Names written in
capitals are shown in title case (``MARK HANNAH`` -> Mark Hannah, with
``McDONALD``, ``O'BRIEN`` and particles such as de, van, al); a surname-only
label, a first-name label and an honorific with a surname (``Mr. ARDEN``)
join the full name used elsewhere (as a label, or introduced in the text
before it: "I'm Leah Marsh").  A label's role (``, HOST``, ``(Historian)``)
is the speaker's description, or makes them the host.  ``UNIDENTIFIED
MAN`` and the like are one-off voices: voiced, never joined to a name,
never the host.  Diarisation's ``SPEAKER_00`` ids become "Speaker 1",
"Speaker 2" in the order they first speak.  Ids are ASCII slugs that keep
their letters (Tomás -> tomas).  The host is chosen by ``audio/host.py``.
A manifest overrides all of this.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .formats.base import Paragraph
from .formats.labels import PARTICLES, is_anonymous, role_text
from .host import HOST_HEADS, HOST_ROLES, INTRO_TURNS, asks, choose_host, introduces_show
from .manifest import Speaker

__all__ = ["HOST_HEADS", "INTRO_TURNS", "Inference", "asks", "choose_host", "display_name", "infer_speakers",
           "introduces_show", "is_capitals", "renumber_diarised", "slug"]

_TRANSLIT = str.maketrans({"ß": "ss", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ł": "l",
                           "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "þ": "th", "ı": "i"})
_SHORT_NAMES = frozenset("AL ED JO BO ANN AMY EVA EVE IAN JOE LEE RAY ABE ADA ALI ELI IDA UMA AVA ZOE JAY KAY MAY GUY "
                         "ROY SUE LEO ARI OLA".split())
_CONTRACTION_TAILS = frozenset({"s", "t", "ll", "re", "ve", "d", "m"})
_NOT_FIRST_NAMES = frozenset("""the and but so with thanks thank dear mr mrs ms dr prof professor senator president
minister general director our my your his her their welcome hello hi hey today now here this that when where who why
how what said says meet mister miss judge chief saint host guest sir madam colonel captain""".split())
_NAME_SEARCH_PARAGRAPHS = 200


@dataclass(frozen=True)
class Inference:
    speakers: tuple[Speaker, ...]
    by_head: dict[str, Speaker]  # casefolded label head -> speaker
    notes: tuple[tuple[int, str, bool], ...]  # (line, message, doubtful)


def _acronym(word: str) -> bool:
    """VOA, NPR, BBC, III: short capitals that are not a name (BOB, TOM, ANN are)."""
    if len(word) > 3 or not word.isalpha() or word.upper() in _SHORT_NAMES:
        return word in ("IV", "VI", "VII", "VIII") or len(word) > 3 and not any(c in "AEIOUY" for c in word)
    vowels = [c in "AEIOUY" for c in word.upper()]
    return vowels not in ([False, True, False], [True, False, True])  # BOB and ANA read as names


def _title_word(word: str, first: bool, alone: bool) -> str:
    lower = word.lower()
    if not first and lower in PARTICLES:
        return lower
    if _acronym(word) if alone else word in ("II", "III", "IV", "VI", "VII", "VIII") or (
            word.isalpha() and not any(c in "AEIOUY" for c in word)):
        return word  # VOA alone; NPR or III in a longer name
    parts = re.split(r"([-'’])", word)
    out = []
    for j, part in enumerate(parts):
        low = part.lower()
        if part in ("-", "'", "’") or not part:
            out.append(part)
        elif j > 0 and parts[j - 1] in ("'", "’") and low in _CONTRACTION_TAILS:
            out.append(low)  # JOHN'S
        elif (j > 0 or not first) and j + 1 < len(parts) and parts[j + 1] == "-" and low in PARTICLES:
            out.append(low)  # al-Masri
        elif low.startswith("mc") and len(low) > 2:
            out.append("Mc" + low[2].upper() + low[3:])
        else:
            out.append(low[:1].upper() + low[1:])
    return "".join(out)


def is_capitals(name: str) -> bool:
    """Written in capitals (``MARK HANNAH``, ``JOHN McDONALD``, ``ANA de SOUZA``)."""
    if sum(c.isalpha() for c in name) < 2:
        return False
    for word in name.split():
        core = word[2:] if word.startswith("Mc") else word
        if word in PARTICLES or not any(c.isalpha() for c in core):
            continue
        if not core.isupper():
            return False
    return True


def display_name(head: str) -> str:
    """A label as a name to show: capitals become title case; short acronyms stay."""
    words = head.split()
    if not is_capitals(head):
        return head
    return " ".join(_title_word(w, i == 0, len(words) == 1) for i, w in enumerate(words))


def slug(name: str, fallback: str = "speaker") -> str:
    """An ASCII id that keeps a name's letters: ``Tomás Rivera`` -> ``tomas-rivera``."""
    text = unicodedata.normalize("NFKD", name.translate(_TRANSLIT).replace("'", "").replace("’", ""))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or fallback


def _introduced(surname: str, text: str) -> str | None:
    """The full name a one-word label was introduced with in *text* ("... my guest, Mark Hannah", "I'm Pia Sorel")."""
    # the surname in any case: captions write "Paul McDONALD" as the label does
    pattern = re.compile(r"\b([A-ZÀ-Þ][a-zß-ÿ]+(?:[ -][A-ZÀ-Þ][a-zß-ÿ]+)?(?:\s+[A-Z]\.)?)\s+(?i:"
                         + re.escape(surname) + r")\b")
    for match in pattern.finditer(text):
        first = match.group(1)
        if first.split()[0].lower() not in _NOT_FIRST_NAMES:
            return f"{first} {surname}"
    # a first name, introduced with the surname after it ("Hi, I'm Pia Sorel" before "PIA:")
    pattern = re.compile(_FIRST_NAME_CONTEXT + r"((?i:" + re.escape(surname) + r"))\s+(" + _NAME_WORD + ")"
                         r"(?![\w'’])")
    for match in pattern.finditer(text):
        if match.group(2).lower() not in _NOT_FIRST_NAMES:
            return f"{match.group(1)} {match.group(2)}"  # as the text writes it
    return None


def _self_introduced(word: str, text: str) -> str | None:
    """The full name a speaker labelled by one *word* gives in their own words ("I'm Pia Sorel")."""
    name = _NAME_WORD
    said = rf"(?i:{re.escape(word)})"
    found = re.search(rf"\b(?:I(?:'|’)?m|I am|my name is)\s+(?:(?P<first>{name})\s+(?P<w1>{said})"
                      rf"|(?P<w2>{said})\s+(?P<last>{name}))(?![\w'’])", text)
    if found is None:
        return None
    other = found.group("first") or found.group("last")
    if other.lower() in _NOT_FIRST_NAMES:
        return None
    return found.group(0)[found.group(0).index(found.group("first") or found.group("w2")):]  # as they said it


_NAME_WORD = r"[A-ZÀ-Þ][a-zß-ÿ]*(?:['’]?[A-ZÀ-Þ][a-zß-ÿ]+)*(?:-[A-ZÀ-Þ][a-zß-ÿ]+)?"  # Sorel, McDonald, O'Brien
# where a person's full name is said, first name first
_FIRST_NAME_CONTEXT = (r"(?i:\bI(?:'|’)?m|\bI am|\bmy name is|\bmy (?:guest|co-?host)(?: today)?(?: is)?,?"
                       r"|\bjoined (?:today )?by|\bwith me(?: today)?,?|\bwelcome(?: back)?,?|\bthis is)\s+")


def _name_of(keys: list[str], spellings: dict[str, Counter[str]], first_at: dict[str, int],
             paragraphs: Sequence[Paragraph], context: str, notes: list[tuple[int, str, bool]]) -> str:
    """A group of labels' name: its longest spelling, a one-word label the full name said of it."""
    heads = [h for k in keys for h, _ in spellings[k].most_common()]
    start = min(first_at[k] for k in keys)
    line_no = paragraphs[start].line_no
    longest = max(heads, key=lambda h: (len(h.split()), -heads.index(h)))
    name = display_name(longest)
    if (len(longest.split()) != 1 or len(longest) < 2 or longest.casefold() in HOST_HEADS | {"guest", "a"}
            or _DIARISED_RE.match(longest)):
        return name
    before = [context] + [p.text for p in paragraphs[max(0, start - _NAME_SEARCH_PARAGRAPHS):start]]
    full = _introduced(name, "\n".join(before))
    if full is not None:
        notes.append((line_no, f"label {longest!r} taken as {full!r}, as the text before it names them", False))
        return full
    # "PIA: Hi, I'm Pia Sorel, and this is Field Day": the speaker says it
    own = [p.text for p in paragraphs[start:start + _NAME_SEARCH_PARAGRAPHS]
           if p.label is not None and p.label.head.casefold() in keys][:3]
    full = _self_introduced(name, "\n".join(own))
    if full is not None:
        notes.append((line_no, f"label {longest!r} taken as {full!r}, as they introduce themselves", False))
        return full
    return name


def infer_speakers(paragraphs: Sequence[Paragraph], context: str = "") -> Inference:
    """Decide which labels name speakers, and each speaker's name, id and labels."""
    uses: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    first_at: dict[str, int] = {}
    strong: set[str] = set()
    explicit: set[str] = set()
    roles: dict[str, str] = {}  # key -> the first role a label gives it
    folded: dict[str, str] = {}  # head -> its casefold, once per distinct head
    for i, p in enumerate(paragraphs):
        label = p.label
        if label is None:
            continue
        head = label.head
        key = folded.get(head)
        if key is None:
            key = folded[head] = head.casefold()
        if key not in first_at:  # (setdefault would make a Counter for every paragraph)
            first_at[key] = i
            spellings[key] = Counter()
        uses[key] += 1
        spellings[key][head] += 1
        if label.strong:
            strong.add(key)
        if label.explicit:
            explicit.add(key)
        if label.role and key not in roles:
            roles[key] = label.role
    anonymous = {k for k in uses if is_anonymous(k)}
    explicit |= anonymous  # one-off voices are normal: no doubt about one used once
    settled = {k for k in uses if uses[k] > 1 or k in explicit}
    strong_once = {k for k in uses if k not in settled and k in strong}
    # A label used once is a speaker only when it is unmistakably a label
    # (capitals, bold, a full name, alone on its line); it is flagged.
    accepted = settled | strong_once

    # a one-word label that is a word of exactly one longer label is that speaker ("HANNAH" / "MARK HANNAH")
    longer = [k for k in uses if len(k.split()) > 1 and (k in accepted or uses[k] == 1) and k not in anonymous]
    group: dict[str, str] = {}
    for key in uses:
        if len(key.split()) == 1 and len(key) > 1 and key not in anonymous:
            owners = [k for k in longer if key in k.split()]
            if len(owners) == 1 and (key in accepted or owners[0] in accepted):
                group[key] = owners[0]
                accepted |= {key, owners[0]}
    notes: list[tuple[int, str, bool]] = []
    members: dict[str, list[str]] = {}
    for key in sorted(accepted, key=first_at.__getitem__):
        members.setdefault(group.get(key, key), []).append(key)
    for key in uses:
        if key not in accepted:
            head = spellings[key].most_common(1)[0][0]
            notes.append((paragraphs[first_at[key]].line_no,
                          f"{head + ':'!r} is used once as a label: read as text, not as a speaker", True))

    # each group's name; groups named alike are one person ("PIA:" and "SOREL:", the name said before)
    named: dict[str, tuple[list[str], str]] = {}  # name, casefolded (or the root, for one word) -> keys, name
    for root in sorted(members, key=lambda k: min(first_at[m] for m in members[k])):
        keys = members[root]
        name = _name_of(keys, spellings, first_at, paragraphs, context, notes)
        key = name.casefold() if len(name.split()) > 1 else f"\0{root}"
        if key in named:
            named[key][0].extend(keys)
        else:
            named[key] = (list(keys), name)
    speakers: list[Speaker] = []
    by_head: dict[str, Speaker] = {}
    ids: set[str] = set()
    for keys, name in named.values():
        heads = [h for k in keys for h, _ in spellings[k].most_common()]
        most_used = max(keys, key=lambda k: (uses[k], len(k)))
        sid = base = slug(spellings[most_used].most_common(1)[0][0], f"speaker-{len(speakers) + 1}")
        n = 2
        while sid in ids:
            sid, n = f"{base}-{n}", n + 1
        ids.add(sid)
        role = next((roles[k] for k in keys if k in roles), "")
        hosts = role.casefold() in HOST_ROLES
        speaker = Speaker(id=sid, name=name, labels=tuple(dict.fromkeys(heads)), voice="",
                          role="host" if hosts else "guest", description="" if hosts else role_text(role))
        speakers.append(speaker)
        for k in keys:
            by_head[k] = speaker
            if uses[k] == 1 and len(keys) == 1 and k not in explicit:  # an export's one-off speaker is normal
                notes.append((paragraphs[first_at[k]].line_no, f"label {spellings[k].most_common(1)[0][0]!r} is "
                              "used once: taken as a speaker", True))
    return Inference(tuple(speakers), by_head, tuple(notes))


_DIARISED_RE = re.compile(r"^(?:speaker|spk|spkr)(?:_\d+|\d+| 0\d*)$", re.I)  # SPEAKER_00, spk0: not "Speaker 1"


def renumber_diarised(speakers: list[Speaker], turns: list) -> tuple[list[Speaker], list]:
    """A diarisation tool's ids (``SPEAKER_00``) as "Speaker 1", "Speaker 2" in the order they first speak."""
    machine = [s for s in speakers if s.labels and all(_DIARISED_RE.match(label) for label in s.labels)]
    if not machine:
        return speakers, turns
    order = {sid: n for n, sid in enumerate(dict.fromkeys(t.speaker_id for t in turns))}
    taken = {s.id for s in speakers if s not in machine}
    renamed: dict[str, Speaker] = {}
    n = 0
    for s in sorted(machine, key=lambda s: order.get(s.id, len(order))):
        n += 1
        while f"speaker-{n}" in taken:
            n += 1
        renamed[s.id] = replace(s, id=f"speaker-{n}", name=f"Speaker {n}")
    speakers = [renamed.get(s.id, s) for s in speakers]
    turns = [replace(t, speaker_id=renamed[t.speaker_id].id) if t.speaker_id in renamed else t for t in turns]
    return speakers, turns
