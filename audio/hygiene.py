"""Text hygiene: characters that no output should carry, removed where text enters.

Tags, captions, JSON, the feed and the player page all show the
transcript's and the manifest's words.  None of them should carry:

- control characters: C0 but tab, line feed and carriage return, DEL, C1
  (a vertical tab, form feed or NEL is read as a line break);
- ESC sequences (a terminal's colours, titles, cursor moves: CSI, OSC,
  DCS and the two-character kind), removed whole, not only their ESC;
- Unicode noncharacters (U+FDD0..U+FDEF and the last two code points of
  every plane, U+FFFE, U+FFFF, U+1FFFE, ...);
- bidirectional embeddings, overrides and isolates (U+202A..U+202E,
  U+2066..U+2069), which can make a title read otherwise than it is
  (the "Trojan Source" trick) and which a tag reader may show as boxes.
  The left-to-right and right-to-left marks stay: right-to-left text
  needs them and they reorder nothing by themselves.

They are removed once, from the decoded transcript (audio.parse.decode_text)
and from the manifests' strings, and each removal is kept with its line,
for `episode inspect`.  A NUL byte or invalid UTF-8 is no text at all, and
stays a refusal (decode_text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

T = TypeVar("T")

_ESC_SEQUENCE = (r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves
                 r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: a terminal's title, links; to BEL or ST
                 r"|\x1b[P^_X][^\x1b]*(?:\x1b\\)?"  # DCS, PM, APC, SOS strings, to ST
                 r"|\x1b[!-/]*[0-~]"  # two-character escapes, and nF ones (ESC ( B); never a space after ESC
                 r"|\x1b")  # a lone ESC
_LINE_BREAKS = "\x0b\x0c\x85"  # vertical tab, form feed, NEL: a line ends there
_CONTROL = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
_NONCHARACTER = "[\ufdd0-\ufdef" + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}"
                                         for plane in range(17)) + "]"
_BIDI = "[\u202a-\u202e\u2066-\u2069]"
_UNWANTED = re.compile(f"(?P<esc>{_ESC_SEQUENCE})|(?P<control>{_CONTROL})|(?P<nonchar>{_NONCHARACTER})"
                       f"|(?P<bidi>{_BIDI})")

_BIDI_NAMES = {0x202A: "left-to-right embedding", 0x202B: "right-to-left embedding",
               0x202C: "pop directional formatting", 0x202D: "left-to-right override",
               0x202E: "right-to-left override", 0x2066: "left-to-right isolate",
               0x2067: "right-to-left isolate", 0x2068: "first strong isolate", 0x2069: "pop directional isolate"}


@dataclass(frozen=True)
class Removal:
    """One thing removed: where (line 1 on; 0 for a manifest value, named by *where*) and what."""

    line_no: int
    what: str  # "an ESC sequence ('\\x1b[31m')", "a control character (U+0007)", ...
    where: str = ""  # a manifest's key: "[episode] title"

    @property
    def message(self) -> str:
        place = f"{self.where}: " if self.where else ""
        return f"{place}removed {self.what}"


class CleanText(str):
    """Text with the unwanted characters removed, and what was removed (``removals``)."""

    removals: tuple[Removal, ...] = ()


def _describe(match: re.Match) -> str:
    text = match.group()
    code = ord(text[0])
    if match.lastgroup == "esc":
        return f"an ESC sequence ({text!r})"
    if match.lastgroup == "nonchar":
        return f"a Unicode noncharacter (U+{code:04X})"
    if match.lastgroup == "bidi":
        return f"a bidirectional {_BIDI_NAMES[code].split()[-1]} (U+{code:04X}, {_BIDI_NAMES[code]})"
    if text in _LINE_BREAKS:
        return f"a control character (U+{code:04X}), read as a line break"
    return f"a control character (U+{code:04X})"


def clean(text: str, where: str = "") -> CleanText:
    """*text* without control characters, ESC sequences, noncharacters and bidi overrides."""
    if _UNWANTED.search(text) is None:  # nearly always: one scan, nothing copied
        return CleanText(text)
    removals, parts, last, line, counted = [], [], 0, 1, 0
    for match in _UNWANTED.finditer(text):
        line += text.count("\n", counted, match.start())
        counted = match.start()
        removals.append(Removal(0 if where else line, _describe(match), where))
        parts.append(text[last:match.start()])
        parts.append("\n" if match.group() in _LINE_BREAKS else "")
        last = match.end()
    parts.append(text[last:])
    cleaned = CleanText("".join(parts))
    cleaned.removals = tuple(removals)
    return cleaned


def clean_data(data: Any, where: str = "", removals: list[Removal] | None = None) -> Any:
    """A parsed TOML document with every string cleaned (keys too); *removals* collects what went."""
    if isinstance(data, str):
        cleaned = clean(data, where)
        if removals is not None:
            removals.extend(cleaned.removals)
        return str(cleaned)
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            inner = f"{where} {key}" if where else f"[{key}]"
            out[clean_data(key, where or "key", removals)] = clean_data(value, inner, removals)
        return out
    if isinstance(data, list):
        return [clean_data(v, f"{where}[{n}]", removals) for n, v in enumerate(data)]
    return data


def clean_fields(obj: T, removals: list[Removal], line_no: int = 0, where: str = "") -> T:
    """A frozen dataclass with its strings (and tuples of strings) cleaned; *removals* collects what went.

    The last guard, after the readers: an escape in a format (JSON's and
    TOML's \\u001b, YAML's \\e, HTML's &#27;) makes what decoding saw as
    plain text a control character.
    """
    changes: dict[str, Any] = {}
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if isinstance(value, str) and _UNWANTED.search(value):
            cleaned = clean(value)
            changes[f.name] = str(cleaned)
        elif isinstance(value, tuple) and value and all(isinstance(v, str) for v in value) \
                and any(_UNWANTED.search(v) for v in value):
            cleaned_all = [clean(v) for v in value]
            changes[f.name] = tuple(str(c) for c in cleaned_all)
            cleaned = CleanText("")
            cleaned.removals = tuple(r for c in cleaned_all for r in c.removals)
        else:
            continue
        place = "" if line_no else f"{where} {f.name}".strip()
        removals.extend(Removal(line_no, r.what, place) for r in cleaned.removals)
    return replace(obj, **changes) if changes else obj  # type: ignore[type-var]


def unwanted_in(text: str) -> list[str]:
    """The unwanted characters and sequences in *text* (for a last check of an output)."""
    return [m.group() for m in _UNWANTED.finditer(text)]
