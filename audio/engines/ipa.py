"""A pronunciation in IPA, as each engine takes phonemes.

The lexicon holds pronunciations in IPA, the one alphabet a producer can
look up; espeak-ng reads its own ASCII mnemonics inside ``[[...]]``, Piper
speaks espeak-ng's IPA symbols (stress before the vowel, ``ɡ`` and ``ɹ``),
and hibari speaks misaki's alphabet (diphthongs as single capitals, no
length marks).  Each table is matched longest first.
"""

from __future__ import annotations

import unicodedata

from ..errors import VoiceError

_VOWELS = set("aeiouyæɑɒɔəɛɜɪʊʌɐᵻɚɝøœɘɵɤɯɨʉ") | set("AIOWY")
_STRESS = "ˈˌ"

_ESPEAK = {
    "eɪ": "eI", "aɪ": "aI", "ɔɪ": "OI", "oʊ": "oU", "əʊ": "oU", "aʊ": "aU", "ɪə": "i@", "eə": "e@", "ʊə": "U@",
    "tʃ": "tS", "dʒ": "dZ", "ʧ": "tS", "ʤ": "dZ", "iː": "i:", "uː": "u:", "ɑː": "A:", "ɔː": "O:", "ɜː": "3:",
    "ɝ": "3:", "ɚ": "3", "ə": "@", "ɪ": "I", "i": "i", "ɛ": "E", "e": "e", "æ": "a", "ɑ": "A", "ɒ": "0",
    "ɔ": "O", "ʊ": "U", "u": "u", "ʌ": "V", "ɜ": "3", "ɐ": "a#", "ᵻ": "I#", "a": "a", "o": "o",
    "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "g", "ɡ": "g", "f": "f", "v": "v", "θ": "T",
    "ð": "D", "s": "s", "z": "z", "ʃ": "S", "ʒ": "Z", "h": "h", "m": "m", "n": "n", "ŋ": "N", "l": "l",
    "ɹ": "r", "r": "r", "j": "j", "w": "w", "ɾ": "t#", "ʔ": "?", "x": "x",
    "ˈ": "'", "ˌ": ",", "ː": ":", ".": "", " ": "",
}
_MISAKI = {"eɪ": "A", "aɪ": "I", "oʊ": "O", "əʊ": "O", "aʊ": "W", "ɔɪ": "Y", "tʃ": "ʧ", "dʒ": "ʤ",
           "ɝ": "ɜɹ", "ɚ": "əɹ", "r": "ɹ", "g": "ɡ", "ɾ": "T", "ʔ": "t", "ː": "", "ɒ": "ɑ", " ": "", ".": ""}
_ESPEAK_IPA = {"g": "ɡ", "r": "ɹ", " ": "", ".": ""}


def _convert(word: str, ipa: str, table: dict[str, str], engine: str, known: frozenset[str] | None) -> str:
    out, i = [], 0
    ipa = unicodedata.normalize("NFC", ipa.strip())
    while i < len(ipa):
        piece = next((ipa[i:i + n] for n in (2, 1) if ipa[i:i + n] in table), None)
        if piece is not None:
            out.append(table[piece])
            i += len(piece)
            continue
        if known is not None and ipa[i] not in known:
            raise VoiceError(f"lexicon: the IPA for {word!r} has {ipa[i]!r}, which {engine} has no phoneme for")
        out.append(ipa[i])
        i += 1
    return "".join(out)


def stress_before_vowel(phonemes: str) -> str:
    """Move each stress mark from the start of its syllable to just before its vowel."""
    out: list[str] = []
    pending = ""
    for c in phonemes:
        if c in _STRESS:
            pending = c
        elif pending and c in _VOWELS:
            out.append(pending + c)
            pending = ""
        else:
            out.append(c)
    return "".join(out) + pending


def to_espeak_mnemonics(word: str, ipa: str) -> str:
    """espeak-ng's mnemonics (``zəˈliːn`` -> ``z@'li:n``); espeak-ng wants stress before the syllable."""
    return _convert(word, ipa, _ESPEAK, "espeak-ng", frozenset())


def to_espeak_ipa(ipa: str) -> str:
    """The IPA symbols espeak-ng (and so Piper) uses, stress before the vowel, decomposed as Piper splits them."""
    return unicodedata.normalize("NFD", stress_before_vowel(_convert("", ipa, _ESPEAK_IPA, "Piper", None)))


def to_misaki(word: str, ipa: str, vocabulary: frozenset[str]) -> str:
    """misaki's alphabet (``zəˈliːn`` -> ``zəlˈin``), checked against the model's vocabulary."""
    return stress_before_vowel(_convert(word, ipa, _MISAKI, "hibari", vocabulary or None))
