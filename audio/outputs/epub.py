"""Stage 4: OUT.epub, the episode as an EPUB 3.3 read-aloud book (Media Overlays).

The format the DAISY Consortium endorses for accessible distribution: the
transcript as text, the MP3 as its narration, each sentence highlighted as it
is heard (Thorium, Readest, BookFusion, Colibrio; Apple Books in fixed
layout).  One XHTML content document per chapter, the speaker's name before
each turn and one element (with an id) per sentence; one SMIL per content
document with one ``<par>`` per sentence, its clip from the render's own
timeline (``overlay``: contiguous, never past the end); ``media:duration``
per SMIL and for the book; ``media:active-class`` and the CSS defining it;
the cover; a navigation document listing the chapters; and schema.org
accessibility metadata, so that the book describes itself to catalogues and
reading systems.  The audio is the MP3 itself (``audio/mpeg``, a core media
type; EPUBCheck refuses ``audio/m4a``).

Nothing in the book depends on the clock: the same render gives the same
bytes (``dcterms:modified`` and the zip's times are the episode's date).
"""

from __future__ import annotations

import datetime as _dt
import zipfile
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from ..art import Artwork
from ..files import replacing
from .overlay import OverlayChapter, checked, overlay_chapters

ACTIVE_CLASS = "-epub-media-overlay-active"
AUDIO_NAME = "audio.mp3"
_XHTML = "application/xhtml+xml"
_STYLE = f"""body {{ font-family: serif; line-height: 1.5; margin: 1em; }}
h1 {{ font-size: 1.4em; }}
.speaker {{ font-weight: bold; }}
.{ACTIVE_CLASS} {{ background-color: #fff3b0; color: #000000; }}
"""


def clock(ms: int) -> str:
    """A SMIL full clock value, H:MM:SS.mmm (media:duration and clip times)."""
    seconds, milli = divmod(ms, 1000)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}.{milli:03d}"


def _a(value: str) -> str:
    return quoteattr(value)


def _doc_name(ch: OverlayChapter) -> str:
    return f"chapter-{ch.number:03d}.xhtml"


def _smil_name(ch: OverlayChapter) -> str:
    return f"chapter-{ch.number:03d}.smil"


def _lang(language: str) -> str:
    return language or "en"


def content_document(ch: OverlayChapter, book_title: str, language: str) -> str:
    """A chapter as XHTML: its title, then each turn with the speaker's name before it, a span per sentence."""
    lang = _a(_lang(language))
    turns = "\n".join(
        f'<p class="turn"><span class="speaker">{escape(p.speaker)}:</span> '
        + " ".join(f'<span id="{sid}">{escape(text)}</span>' for sid, text in p.sentences) + "</p>"
        for p in ch.passages)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" lang={lang} xml:lang={lang}>
<head>
<meta charset="utf-8"/>
<title>{escape(ch.title)} - {escape(book_title)}</title>
<link rel="stylesheet" type="text/css" href="style.css"/>
</head>
<body>
<main>
<section epub:type="chapter" role="doc-chapter" aria-labelledby="{ch.heading_id}">
<h1 id="{ch.heading_id}">{escape(ch.title)}</h1>
{turns}
</section>
</main>
</body>
</html>
"""


def smil_document(ch: OverlayChapter) -> str:
    """The chapter's Media Overlay: one <par> per clip, the text element and its stretch of the MP3."""
    doc = _doc_name(ch)
    pars = "\n".join(
        f'<par id="p-{clip.text_id}"><text src="{doc}#{clip.text_id}"/>'
        f'<audio src="{AUDIO_NAME}" clipBegin="{clock(clip.begin_ms)}" clipEnd="{clock(clip.end_ms)}"/></par>'
        for clip in ch.clips)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<smil xmlns="http://www.w3.org/ns/SMIL" xmlns:epub="http://www.idpf.org/2007/ops" version="3.0">
<body>
<seq id="seq-{ch.number}" epub:textref="{doc}" epub:type="chapter">
{pars}
</seq>
</body>
</smil>
"""


def nav_document(chapters: Sequence[OverlayChapter], book_title: str, language: str) -> str:
    lang = _a(_lang(language))
    items = "\n".join(f'<li><a href="{_doc_name(ch)}">{escape(ch.title)}</a></li>' for ch in chapters)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" lang={lang} xml:lang={lang}>
<head>
<meta charset="utf-8"/>
<title>{escape(book_title)}</title>
<link rel="stylesheet" type="text/css" href="style.css"/>
</head>
<body>
<main>
<nav epub:type="toc" id="toc" role="doc-toc" aria-labelledby="toc-title">
<h1 id="toc-title">Contents</h1>
<ol>
{items}
</ol>
</nav>
</main>
</body>
</html>
"""


def _day(date: str) -> _dt.date | None:
    try:
        return _dt.date.fromisoformat(date[:10])
    except ValueError:
        return None


def accessibility_summary(show: str, speakers: int) -> str:
    voices = "one synthetic voice" if speakers == 1 else f"{speakers} synthetic voices, one per speaker"
    return (f"An episode of {show} as a read-aloud book: the full transcript as text and its narration in "
            f"{voices}, each sentence highlighted as it is heard (synchronized audio and text). Each turn "
            "begins with the speaker's name; the chapters are the table of contents. The text alone and the "
            "audio alone each carry the whole episode. No hazards.")


def package_document(chapters: Sequence[OverlayChapter], *, identifier: str, metadata, duration_ms: int,
                     cover: Artwork | None, speakers: int) -> str:
    """The package (OPF): metadata with durations and accessibility, manifest, spine."""
    day = _day(metadata.date) or _dt.date(2000, 1, 1)
    meta = [f'<dc:identifier id="uid">{escape(identifier)}</dc:identifier>',
            f"<dc:title>{escape(metadata.title)}</dc:title>",
            f"<dc:language>{escape(_lang(metadata.language))}</dc:language>"]
    if metadata.author:
        meta.append(f"<dc:creator>{escape(metadata.author)}</dc:creator>")
    if metadata.show:
        meta.append(f"<dc:publisher>{escape(metadata.show)}</dc:publisher>")
    if _day(metadata.date):
        meta.append(f"<dc:date>{day.isoformat()}</dc:date>")
    if metadata.description:
        meta.append(f"<dc:description>{escape(metadata.description)}</dc:description>")
    meta.append(f'<meta property="dcterms:modified">{day.isoformat()}T12:00:00Z</meta>')
    meta.append(f'<meta property="media:duration">{clock(duration_ms)}</meta>')
    meta += [f'<meta property="media:duration" refines="#mo-{ch.number}">{clock(ch.duration_ms)}</meta>'
             for ch in chapters]
    meta.append(f'<meta property="media:active-class">{ACTIVE_CLASS}</meta>')
    a11y = [("accessMode", "textual"), ("accessMode", "auditory"),
            ("accessModeSufficient", "textual"), ("accessModeSufficient", "auditory"),
            ("accessibilityFeature", "synchronizedAudioText"), ("accessibilityFeature", "transcript"),
            ("accessibilityFeature", "structuralNavigation"), ("accessibilityFeature", "tableOfContents"),
            ("accessibilityFeature", "readingOrder"), ("accessibilityFeature", "displayTransformability"),
            ("accessibilityHazard", "none"),
            ("accessibilitySummary", accessibility_summary(metadata.show or metadata.title, speakers))]
    meta += [f'<meta property="schema:{key}">{escape(value)}</meta>' for key, value in a11y]
    items = ['<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>',
             '<item id="css" href="style.css" media-type="text/css"/>',
             f'<item id="audio" href="{AUDIO_NAME}" media-type="audio/mpeg"/>']
    if cover is not None:
        items.append(f'<item id="cover" href="cover.{cover.extension}" media-type="{cover.mime}" '
                     'properties="cover-image"/>')
    for ch in chapters:
        items.append(f'<item id="c-{ch.number}" href="{_doc_name(ch)}" media-type="{_XHTML}" '
                     f'media-overlay="mo-{ch.number}"/>')
        items.append(f'<item id="mo-{ch.number}" href="{_smil_name(ch)}" media-type="application/smil+xml"/>')
    spine = "\n".join(f'<itemref idref="c-{ch.number}"/>' for ch in chapters)
    lang = _a(_lang(metadata.language))
    nl = "\n"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="uid" xml:lang={lang}>
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
{nl.join(meta)}
</metadata>
<manifest>
{nl.join(items)}
</manifest>
<spine>
{spine}
</spine>
</package>
"""


_CONTAINER = """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles>
<rootfile full-path="EPUB/package.opf" media-type="application/oebps-package+xml"/>
</rootfiles>
</container>
"""


def book_chapters(result) -> tuple[OverlayChapter, ...]:
    """The render's chapters as the book has them, checked contiguous (an OutputError if not)."""
    names = {s.id: s.name for s in result.episode.manifest.speakers}
    chapters = overlay_chapters(result.sentences, result.chapters, result.duration_ms, names,
                                result.episode.metadata.title)
    return tuple(checked(chapters, result.duration_ms))


def write_epub(result, dest: Path, *, identifier: str, cover: Artwork | None = None) -> Path:
    """Write the read-aloud book of a finished render (its MP3 inside) to *dest*, atomically."""
    meta = result.episode.metadata
    chapters = book_chapters(result)
    day = _day(meta.date) or _dt.date(2000, 1, 1)
    stamp = (max(day.year, 1980), day.month, day.day, 12, 0, 0)
    speakers = len({s.speaker_id for s in result.sentences}) or 1
    files: list[tuple[str, bytes | Path, int]] = [
        ("META-INF/container.xml", _CONTAINER.encode(), zipfile.ZIP_DEFLATED),
        ("EPUB/package.opf", package_document(chapters, identifier=identifier, metadata=meta,
                                              duration_ms=result.duration_ms, cover=cover,
                                              speakers=speakers).encode(), zipfile.ZIP_DEFLATED),
        ("EPUB/nav.xhtml", nav_document(chapters, meta.title, meta.language).encode(), zipfile.ZIP_DEFLATED),
        ("EPUB/style.css", _STYLE.encode(), zipfile.ZIP_DEFLATED),
    ]
    for ch in chapters:
        files.append((f"EPUB/{_doc_name(ch)}", content_document(ch, meta.title, meta.language).encode(),
                      zipfile.ZIP_DEFLATED))
        files.append((f"EPUB/{_smil_name(ch)}", smil_document(ch).encode(), zipfile.ZIP_DEFLATED))
    if cover is not None:  # already compressed, as the MP3 is: stored
        files.append((f"EPUB/cover.{cover.extension}", cover.data, zipfile.ZIP_STORED))
    files.append((f"EPUB/{AUDIO_NAME}", Path(result.path), zipfile.ZIP_STORED))
    with replacing(Path(dest), ".part.epub") as part:
        with zipfile.ZipFile(part, "w") as book:
            # The mimetype first and stored, as the OCF container requires.
            book.writestr(zipfile.ZipInfo("mimetype", stamp), b"application/epub+zip", zipfile.ZIP_STORED)
            for name, data, method in files:
                info = zipfile.ZipInfo(name, stamp)
                info.compress_type = method
                if isinstance(data, Path):
                    with open(data, "rb") as src, book.open(info, "w") as out:
                        while chunk := src.read(1 << 20):
                            out.write(chunk)
                else:
                    book.writestr(info, data)
    return Path(dest)
