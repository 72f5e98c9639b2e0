"""Written text -> the text the speech engine reads.

Only what is *spoken* changes here: captions, tags and the verification
reference keep the written form.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Typographic characters espeak-ng reads oddly or names aloud.
_TYPOGRAPHY = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": ", ", "—": ", ",
                             "…": "...", "[": "", "]": ""})


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def plain(text: str) -> str:
    """Straight quotes, no editorial brackets (their words are still read).

    Control characters go too: espeak-ng reads ``\x01`` as the start of an
    embedded command, which a transcript must not be able to send.
    """
    return _CONTROL.sub(" ", text.translate(_TYPOGRAPHY))


@lru_cache(maxsize=64)
def _compile(lexicon: tuple[tuple[str, str], ...]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    table = {plain(k): v for k, v in lexicon}
    if not table:
        return None, table
    # Longest first so "ISKP-related" wins over "ISKP"; whole words only so
    # "IS" never touches "ISKP" or "this".
    alternatives = "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))
    return re.compile(rf"(?<![\w'])(?:{alternatives})(?![\w])"), table


def spoken_text(text: str, lexicon: tuple[tuple[str, str], ...] = ()) -> str:
    """What the engine is given for *text*: typography fixed, lexicon applied."""
    text = plain(text)
    pattern, table = _compile(lexicon)
    if pattern is not None:
        text = pattern.sub(lambda m: table[m.group(0)], text)
    return " ".join(text.split())


def word_offsets(text: str, lexicon: tuple[tuple[str, str], ...] = ()) -> tuple[int, ...]:
    """Where each written word of *text* starts in ``spoken_text(text)``, in characters.

    Measured on the spoken form of each prefix of the sentence, so a
    respelling that is longer or shorter than its word moves what follows.
    """
    words = text.split()
    offsets = [0]
    for k in range(1, len(words)):
        prefix = spoken_text(" ".join(words[:k]), lexicon)
        offsets.append(len(prefix) + 1 if prefix else 0)
    return tuple(offsets[:len(words)])
