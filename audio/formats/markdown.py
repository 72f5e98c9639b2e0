"""Markdown transcripts: front matter, headings, and markup that is never spoken.

YAML (``---``) or TOML (``+++``) front matter at the top gives metadata
(title, date, description, episode number, show, author, language).  A
heading before any speech is the title; one later starts a section (a
chapter).  Emphasis, links, images, inline code, HTML tags, block quote and
list markers are stripped so that only the words are spoken.
"""

from __future__ import annotations

import datetime as _dt
import re
import tomllib

from .base import FoundMetadata, refuse

_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_BLOCK_RE = re.compile(r"^(?:>\s?)+|^(?:[-+*]|\d{1,3}[.)])\s+(?=\S)")
# (pattern, replacement, what the text must contain for it to apply): each
# pattern only runs on text that could match, as most of a long
# transcript's paragraphs have no markup at all.
_INLINE = [
    (re.compile(r"<!--.*?-->", re.S), "", "<!--"),
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), "", "!["),  # images
    (re.compile(r"\[\^[^\]]+\]"), "", "[^"),  # footnote references
    (re.compile(r"\[([^\]]+)\]\((?:[^()\s]|\([^)]*\))*(?:\s+\"[^\"]*\")?\)"), r"\1", "]("),  # links
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1", "]["),  # reference links
    (re.compile(r"<(https?://[^>\s]+)>"), r"\1", "<"),  # autolinks
    (re.compile(r"</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>"), "", "<"),  # HTML tags
    (re.compile(r"(`+)(.+?)\1"), r"\2", "`"),  # code
    (re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*"), r"\1", "**"),  # strong
    (re.compile(r"__(?=\S)(.+?)(?<=\S)__"), r"\1", "__"),
    (re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![\w*])"), r"\1", "*"),  # emphasis
    (re.compile(r"(?<![\w_])_(?=[^\s_])([^_\n]+?)(?<=[^\s_])_(?![\w_])"), r"\1", "_"),
    (re.compile(r"~~(.+?)~~"), r"\1", "~~"),
    (re.compile(r"(?<!\w)\*\*(?!\w)"), "", "**"),  # markers left unpaired
    (re.compile(r"(?<!\w)__(?!\w)"), "", "__"),
    (re.compile(r"(?<=\s)\*(?=\s)"), "", " * "),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!>~|])"), r"\1", "\\"),  # escapes
]
_INLINE_HINT_RE = re.compile(r"[<!\[\]`*_~\\]")
_FRONT_KEYS = {  # front matter key -> FoundMetadata field
    "title": "title", "episode_title": "title", "show": "show", "podcast": "show", "series": "show",
    "author": "author", "authors": "author", "host": "author", "date": "date", "published": "date",
    "pubdate": "date", "pub_date": "date", "description": "description", "summary": "description",
    "excerpt": "description", "language": "language", "lang": "language", "episode": "episode_number",
    "episode_number": "episode_number", "number": "episode_number",
}


def heading_of(line: str) -> str | None:
    """The text of an ATX heading (``## Part two``), or None."""
    match = _HEADING_RE.match(line)
    return inline(match.group(2)).strip() if match else None


def unwrap_block(line: str) -> str:
    """A line without block quote and list markers."""
    c = line[0]
    if c == ">" or c in "-+*" and line[1:2] in (" ", "\t") or c.isdigit():
        return _BLOCK_RE.sub("", line, count=1).strip()
    return line


def inline(text: str) -> str:
    """*text* with Markdown's inline markup removed, its words kept."""
    if not _INLINE_HINT_RE.search(text):
        return text
    changed = False
    for pattern, replacement, trigger in _INLINE:
        if trigger in text:
            text, n = pattern.subn(replacement, text)
            changed = changed or bool(n)
    return " ".join(text.split()) if changed else text


def _scalar(value: object) -> str:
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()[:10]
    if isinstance(value, list):
        return ", ".join(str(v) for v in value if v is not None)
    return "" if value is None or isinstance(value, dict) else str(value).strip()


def front_matter(lines: list[str], source: str) -> tuple[int, FoundMetadata]:
    """How many lines the front matter takes (0 without one) and its metadata."""
    fence = lines[0].strip() if lines else ""
    if fence not in ("---", "+++"):
        return 0, FoundMetadata()
    end = next((i for i in range(1, min(len(lines), 400)) if lines[i].strip() in (fence, "...")), None)
    if end is None:
        return 0, FoundMetadata()  # not front matter: a section break on line 1
    body = "\n".join(lines[1:end])
    if fence == "+++":
        try:
            data = tomllib.loads(body)
        except tomllib.TOMLDecodeError as exc:
            raise refuse(source, 2, f"front matter is not valid TOML: {exc}") from None
    else:
        import yaml  # only Markdown with YAML front matter pays for the import

        try:
            data = yaml.safe_load(body)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = 2 + (mark.line if mark is not None else 0)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise refuse(source, line, f"front matter is not valid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise refuse(source, 2, "front matter is not a table of keys and values")
    found: dict[str, tuple[object, str]] = {}
    for key, value in data.items():
        name = _FRONT_KEYS.get(str(key).lower())
        if name is None or name in found:
            continue
        text = _scalar(value)
        if name == "episode_number":
            number = value if isinstance(value, int) and not isinstance(value, bool) else None
            if number is None and text.isdigit():
                number = int(text)
            if number:
                found[name] = (number, f"front matter ({key})")
        elif text:
            found[name] = (text, f"front matter ({key})")
    return end + 1, FoundMetadata().merged(**found)
