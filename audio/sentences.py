"""Sentences: a paragraph cut where its sentences end, and chapter titles cut short.

A stop ends a sentence when the next word does not start in lower case and
the word before it is not a title ("Dr. Kim", "a U.S. drone").  A sentence a
line break or a caption cue cut in two is joined again.  Speech with no
stops at all (automatic captions) is cut into phrases of about
PHRASE_WORDS words, at a comma where there is one, so that no sentence is
spoken as one breathless run.
"""

from __future__ import annotations

import re

MAX_CHAPTER_TITLE_CHARS = 50  # longer titles broke chapters in Apple Podcasts
MAX_SENTENCE_WORDS = 60  # longer, and a sentence is cut into phrases (the seed's longest is 50)
PHRASE_WORDS = 30
_LONG_CHARS = 240  # cheaper first test: fewer characters than this, fewer than MAX_SENTENCE_WORDS words

_ABBREV = {"Mr.", "Mrs.", "Ms.", "Dr.", "St.", "Jr.", "Sr.", "Prof.", "Gen.", "Col.", "Lt.", "vs.",
           "e.g.", "i.e.", "No.", "Sen.", "Rep.", "Gov."}
_SENTENCE_END_RE = re.compile(r"[.!?…][\"'”’)\]]*(?=\s+(\S))")


def _not_after(words: set[str]) -> str:
    """Negative lookbehinds: the text before a space does not end in one of *words*, a word of its own."""
    by_length: dict[int, list[str]] = {}
    for word in sorted(words):
        by_length.setdefault(len(word), []).append(re.escape(word))
    return "".join(f"(?<!(?<![^ ])(?:{'|'.join(group)}) )" for _, group in sorted(by_length.items()))


# split_sentences' rule as one pattern over a paragraph whose spaces are
# single: a space after a stop and its closing quotes or brackets, not after
# an abbreviation, before a word that does not start in lower case.  The
# pattern starts with the space, which re finds far faster than any of a set
# of characters (a stop): splitting with it took split_sentences from 0.15
# to 0.07 s of CPU on a 10 MB transcript.  What the pattern cannot settle
# alone is captured, and such a paragraph is split by the loop in
# split_sentences: three closers or more before a space (after a stop or
# not), and a non-ASCII character after a candidate space (str.islower's
# business), as in 'He left. “Then'.
_SENTENCE_SPACE_RE = re.compile(
    r" (?<=[.!?…\"'”’)\]] )"  # cheap first: most spaces do not follow a stop or a closer
    r"(?:(?<=[.!?…] )" + _not_after(_ABBREV) + r"|(?<=[.!?…][\"'”’)\]] )|(?<=[.!?…][\"'”’)\]]{2} )"
    r"|(?<=(?P<closers>[\"'”’)\]]{3}) ))"
    r"(?=[^a-z \x80-\U0010ffff]|(?P<non_ascii>[\x80-\U0010ffff]))")


def _odd_ascii_spaces(text: str) -> bool:
    """Does ASCII *text* hold a space str.split splits at other than " "?
    (Nine "in" tests: a third of the cost of isprintable, which said the same.)"""
    return ("\t" in text or "\n" in text or "\r" in text or "\x0b" in text or "\x0c" in text
            or "\x1c" in text or "\x1d" in text or "\x1e" in text or "\x1f" in text)


_ENDS_SENTENCE_RE = re.compile(r"[.!?…][\"'”’)\]]*$")

def split_sentences(paragraph: str) -> list[str]:
    """Split a paragraph at sentence ends, keeping abbreviations whole.

    A stop only ends a sentence when the next word does not start in lower
    case ("a U.S. drone strike") and the word is not a title ("Dr. Kim").
    """
    if "  " in paragraph or (_odd_ascii_spaces(paragraph) if paragraph.isascii() else not paragraph.isprintable()):
        paragraph = " ".join(paragraph.split())  # tabs, newlines, no-break spaces: one space each
    parts = _SENTENCE_SPACE_RE.split(paragraph)  # sentence, closers, non_ascii, sentence...
    if not any(parts[1::3]) and not any(parts[2::3]):
        sentences = parts[::3]
        sentences[0] = sentences[0].lstrip()
        sentences[-1] = sentences[-1].rstrip()
        return sentences if sentences[-1] else sentences[:-1]
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END_RE.finditer(paragraph):
        end = match.end()
        if match.group(1).islower() or paragraph[paragraph.rfind(" ", start, end) + 1:end] in _ABBREV:
            continue
        sentences.append(paragraph[start:end].strip())
        start = end
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def shorten_title(text: str, limit: int = MAX_CHAPTER_TITLE_CHARS) -> str:
    """Shorten at a word boundary to at most *limit* characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-–—") + "…"


def extend(sentences: list[str], text: str, join: bool = True) -> None:
    """Add a paragraph's sentences to a turn's, rejoining a sentence a line
    break or a caption cue cut in two ("and then we" / "went home."), unless
    not *join* (a sound cue came between them)."""
    new = sentences_of(text)
    if join and sentences and new and not _ENDS_SENTENCE_RE.search(sentences[-1]) and (
            new[0][:1].islower() or sentences[-1][-1:] in ",;:–—-"):
        joined = sentences[-1] + " " + new.pop(0)
        if len(joined) > _LONG_CHARS and joined.count(" ") >= MAX_SENTENCE_WORDS:
            sentences[-1:] = phrases(joined)
        else:
            sentences[-1] = joined
    sentences.extend(new)


def sentences_of(text: str) -> list[str]:
    """A paragraph's sentences, a sentence of more than MAX_SENTENCE_WORDS words cut into phrases."""
    found = split_sentences(text)
    if len(text) > _LONG_CHARS and any(len(s) > _LONG_CHARS and s.count(" ") >= MAX_SENTENCE_WORDS for s in found):
        return [phrase for s in found for phrase in phrases(s)]
    return found


_BREAK_AFTER = (",", ";", ":", "–", "—", "-")


def phrases(sentence: str) -> list[str]:
    """*sentence* cut into phrases of about PHRASE_WORDS words, at a comma near each cut where there is one."""
    words = sentence.split()
    if len(words) <= MAX_SENTENCE_WORDS:
        return [sentence]
    count = -(-len(words) // PHRASE_WORDS)
    size = -(-len(words) // count)
    out: list[str] = []
    start = 0
    while len(words) - start > size + size // 3:
        target = start + size
        window = range(max(start + size // 2, target - size // 3), min(len(words) - 1, target + size // 3))
        # the punctuated word nearest the target, else the target itself
        cut = min((i for i in window if words[i - 1].endswith(_BREAK_AFTER)), key=lambda i: abs(i - target),
                  default=target)
        out.append(" ".join(words[start:cut]))
        start = cut
    out.append(" ".join(words[start:]))
    return out


