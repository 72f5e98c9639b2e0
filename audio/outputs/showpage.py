"""Stage 7c: the show's page (index.html): cover, description, feed link and every episode.

Each episode links to its own player page; the list is the feed's, newest
first.  Like the feed, the page depends on nothing but the show and its
episodes, so a re-run that changes nothing writes the same bytes.
"""

from __future__ import annotations

import html
import string
from collections.abc import Sequence
from importlib import resources

from ..show import FEED_NAME, Show
from .feed import FeedItem, duration_hms, newest_first


def _duration(ms: int) -> str:
    """e.g. "12 min 5 s", as a listener reads it."""
    seconds = round(ms / 1000)
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _episode(item: FeedItem) -> str:
    esc = html.escape
    number = f"Episode {item.number} · " if item.number is not None else ""
    title = (f'<a href="{esc(item.page_name)}">{esc(item.title)}</a>' if item.page_name
             else f'<a href="{esc(item.mp3_name)}">{esc(item.title)}</a>')
    description = f"<p>{esc(item.description)}</p>" if item.description else ""
    return (f'<li><h3>{title}</h3><p class="meta">{number}<time datetime="{esc(item.date[:10])}">'
            f'{esc(item.date[:10])}</time> · <span title="{duration_hms(item.duration_ms)}">'
            f"{_duration(item.duration_ms)}</span></p>{description}</li>")


def show_page_html(show: Show, items: Sequence[FeedItem], cover_name: str) -> str:
    esc = html.escape
    template = string.Template(resources.files(__package__).joinpath("show.html").read_text(encoding="utf-8"))
    ordered = newest_first(items)
    return template.substitute(
        lang=esc(show.language.split("-")[0]), title=esc(show.title), feed=esc(FEED_NAME), cover=esc(cover_name),
        author=esc(show.author), description=esc(show.description or show.title), count=len(ordered),
        episodes="".join(_episode(i) for i in ordered), copyright=esc(show.copyright))
