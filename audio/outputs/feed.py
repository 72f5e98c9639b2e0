"""Stage 6b: the show's RSS 2.0 feed, one item or many, with Apple's and Podcasting 2.0 tags.

The one builder for `episode render`'s one-item feed and a catalogue's
`feed.xml`, with what Apple Podcasts and Podcast Index require of a
channel and its items (Show.warnings says what a show lacks for them).

Written for the clients as they are, not only as the specifications say:

- the ``podcast:`` namespace under its official URL, which Podcast Index,
  AntennaPod and most apps read; gPodder's parser (podcastparser) reads
  those elements only under the namespace's older GitHub URL, so each item
  also carries its chapters inline as Podlove Simple Chapters
  (``psc:chapters``), which gPodder and other Podlove readers take;
- transcripts listed JSON first, then WebVTT, then SRT: AntennaPod takes
  the first of the type it prefers most (JSON, VTT, SRT, in that order);
- the Opus file, when there is one, as a ``podcast:alternateEnclosure``:
  Apple takes only MP3 and AAC, so the MP3 stays the enclosure.
Nothing in it depends on the clock: the same show and episodes give the same bytes, so a re-run that
changes nothing leaves feed.xml untouched.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
from collections.abc import Sequence
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from ..show import Show

ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
ATOM_NS = "http://www.w3.org/2005/Atom"
# Podlove Simple Chapters, inline in each item: gPodder (podcastparser) and
# feedparser read these, where they read no podcast:chapters file.
PSC_NS = "http://podlove.org/simple-chapters"
PSC_VERSION = "1.2"
OPUS_MIME = "audio/ogg; codecs=opus"
ET.register_namespace("itunes", ITUNES_NS)
ET.register_namespace("psc", PSC_NS)
ET.register_namespace("podcast", PODCAST_NS)
ET.register_namespace("atom", ATOM_NS)


@dataclass(frozen=True)
class FeedItem:
    """One episode as the feed lists it; file names are in the feed's folder."""

    slug: str  # the MP3's stem, the item guid's seed
    title: str
    description: str
    date: str  # ISO date
    author: str
    language: str
    mp3_name: str
    mp3_bytes: int
    duration_ms: int
    number: int | None = None
    image_name: str = ""  # the episode's own cover; "" uses the show's
    page_name: str = ""  # its player page
    vtt_name: str = ""
    srt_name: str = ""
    transcript_json_name: str = ""
    words_json_name: str = ""  # the same transcript, one segment per word: for read-along
    chapters_name: str = ""
    opus_name: str = ""  # the Opus file: an alternate enclosure
    opus_bytes: int = 0
    opus_kbps: int = 0  # its encoder's bit rate
    chapters: tuple[tuple[int, str], ...] = ()  # (start ms, title), as the MP3's chapters: psc:chapters


def _it(tag: str) -> str:
    return f"{{{ITUNES_NS}}}{tag}"


def _pc(tag: str) -> str:
    return f"{{{PODCAST_NS}}}{tag}"


def normal_play_time(ms: int) -> str:
    """HH:MM:SS.mmm, as Podlove Simple Chapters writes a start."""
    seconds, milli = divmod(int(ms), 1000)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{milli:03d}"


def duration_hms(ms: int) -> str:
    """HH:MM:SS, rounded to the second (itunes:duration)."""
    seconds = round(ms / 1000)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _day(date: str) -> _dt.date | None:
    try:
        return _dt.date.fromisoformat(date[:10])
    except ValueError:
        return None


def _pub_date(date: str) -> str:
    day = _day(date) or _dt.date.today()
    return email.utils.format_datetime(_dt.datetime(day.year, day.month, day.day, 12, 0, tzinfo=_dt.timezone.utc))


def newest_first(items: Sequence[FeedItem]) -> list[FeedItem]:
    """Items by date, newest first; the same day by episode number, then file name."""
    return sorted(items, key=lambda i: (_day(i.date) or _dt.date.min, i.number or 0, i.slug), reverse=True)


def _add(parent: ET.Element, tag: str, content: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if content is not None:
        el.text = content
    return el


def build_feed(show: Show, items: Sequence[FeedItem], *, cover_name: str = "") -> bytes:
    """The feed as UTF-8 XML bytes, items newest first; links are absolute under the show's base_url."""
    rss = ET.Element("rss", {"version": "2.0"})
    channel = _add(rss, "channel")
    _add(channel, "title", show.title)
    _add(channel, "link", show.link)
    _add(channel, "description", show.description or show.title)
    _add(channel, "language", show.language)
    if show.copyright:
        _add(channel, "copyright", show.copyright)
    if show.feed_url:
        _add(channel, f"{{{ATOM_NS}}}link", href=show.feed_url, rel="self", type="application/rss+xml")
    ordered = newest_first(items)
    if ordered:  # from the episodes, not the clock, so that a re-run writes the same bytes
        _add(channel, "pubDate", _pub_date(ordered[0].date))
    if cover_name:
        _add(channel, _it("image"), href=show.url(cover_name))
        image = _add(channel, "image")
        _add(image, "url", show.url(cover_name))
        _add(image, "title", show.title)
        _add(image, "link", show.link)
    _add(channel, _it("author"), show.author or show.title)
    if show.owner_email:
        owner = _add(channel, _it("owner"))
        _add(owner, _it("name"), show.owner_name or show.author or show.title)
        _add(owner, _it("email"), show.owner_email)
    category = _add(channel, _it("category"), text=show.category)  # Apple's names are attributes
    if show.subcategory:
        _add(category, _it("category"), text=show.subcategory)
    _add(channel, _it("explicit"), "true" if show.explicit else "false")
    _add(channel, _it("type"), "episodic")
    if show.podcast_guid:
        _add(channel, _pc("guid"), show.podcast_guid)
    for item in ordered:
        _add_item(channel, show, item, cover_name)
    ET.indent(rss)
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True) + b"\n"


def _add_item(channel: ET.Element, show: Show, item: FeedItem, cover_name: str) -> None:
    el = _add(channel, "item")
    _add(el, "title", item.title)
    _add(el, "description", item.description or item.title)
    if item.page_name:
        _add(el, "link", show.url(item.page_name))
    _add(el, "guid", show.item_guid(item.slug), isPermaLink="false")
    _add(el, "pubDate", _pub_date(item.date))
    _add(el, "enclosure", url=show.url(item.mp3_name), length=str(item.mp3_bytes), type="audio/mpeg")
    _add(el, _it("title"), item.title)
    _add(el, _it("author"), item.author or show.author or show.title)
    _add(el, _it("duration"), duration_hms(item.duration_ms))
    if item.number is not None:
        _add(el, _it("episode"), str(item.number))
    _add(el, _it("episodeType"), "full")
    _add(el, _it("explicit"), "true" if show.explicit else "false")
    if item.image_name or cover_name:
        _add(el, _it("image"), href=show.url(item.image_name or cover_name))
    if item.number is not None:
        _add(el, _pc("episode"), str(item.number))
    language = item.language or show.language
    if item.opus_name:
        alternate = _add(el, _pc("alternateEnclosure"), type=OPUS_MIME, length=str(item.opus_bytes),
                         **({"bitrate": str(item.opus_kbps * 1000)} if item.opus_kbps else {}), title="Opus")
        _add(alternate, _pc("source"), uri=show.url(item.opus_name))
    # JSON first, then WebVTT, then SRT: AntennaPod takes the first of the kind it prefers most.
    for name, kind, rel in ((item.transcript_json_name, "application/json", ""),
                            (item.words_json_name, "application/json", ""),
                            (item.vtt_name, "text/vtt", "captions"),
                            (item.srt_name, "application/x-subrip", "captions")):
        if name:
            _add(el, _pc("transcript"), url=show.url(name), type=kind, language=language,
                 **({"rel": rel} if rel else {}))
    if item.chapters_name:
        _add(el, _pc("chapters"), url=show.url(item.chapters_name), type="application/json+chapters")
    if item.chapters:
        chapters = _add(el, f"{{{PSC_NS}}}chapters", version=PSC_VERSION)
        for start_ms, title in item.chapters:
            _add(chapters, f"{{{PSC_NS}}}chapter", start=normal_play_time(start_ms), title=title)
