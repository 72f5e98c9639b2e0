"""The show an episode belongs to: the `[show]` table, as data.

A show is what a feed describes besides its episodes: title, owner,
category, cover art, where it is published and the identity that follows
it for good (`podcast:guid`).  It comes from a show manifest (`--show`),
else from a `[show]` table in the first episode's manifest, else from
that episode's `[episode]` table.
"""

from __future__ import annotations

import re
import tomllib
import uuid
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .hygiene import clean_data
from .errors import ManifestError
from .manifest import Metadata

FEED_NAME = "feed.xml"
SHOW_PAGE = "index.html"
# Podcasting 2.0 podcast:guid: a UUIDv5 in this namespace of the feed URL
# without its scheme and trailing slashes (podcast namespace, tags/guid.md).
PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")

# Apple Podcasts' categories and their subcategories.
APPLE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "Arts": ("Books", "Design", "Fashion & Beauty", "Food", "Performing Arts", "Visual Arts"),
    "Business": ("Careers", "Entrepreneurship", "Investing", "Management", "Marketing", "Non-Profit"),
    "Comedy": ("Comedy Interviews", "Improv", "Stand-Up"),
    "Education": ("Courses", "How To", "Language Learning", "Self-Improvement"),
    "Fiction": ("Comedy Fiction", "Drama", "Science Fiction"),
    "Government": (),
    "History": (),
    "Health & Fitness": ("Alternative Health", "Fitness", "Medicine", "Mental Health", "Nutrition", "Sexuality"),
    "Kids & Family": ("Education for Kids", "Parenting", "Pets & Animals", "Stories for Kids"),
    "Leisure": ("Animation & Manga", "Automotive", "Aviation", "Crafts", "Games", "Hobbies", "Home & Garden",
                "Video Games"),
    "Music": ("Music Commentary", "Music History", "Music Interviews"),
    "News": ("Business News", "Daily News", "Entertainment News", "News Commentary", "Politics", "Sports News",
             "Tech News"),
    "Religion & Spirituality": ("Buddhism", "Christianity", "Hinduism", "Islam", "Judaism", "Religion",
                                "Spirituality"),
    "Science": ("Astronomy", "Chemistry", "Earth Sciences", "Life Sciences", "Mathematics", "Natural Sciences",
                "Nature", "Physics", "Social Sciences"),
    "Society & Culture": ("Documentary", "Personal Journals", "Philosophy", "Places & Travel", "Relationships"),
    "Sports": ("Baseball", "Basketball", "Cricket", "Fantasy Sports", "Football", "Golf", "Hockey", "Rugby",
               "Running", "Soccer", "Swimming", "Tennis", "Volleyball", "Wilderness", "Wrestling"),
    "Technology": (),
    "True Crime": (),
    "TV & Film": ("After Shows", "Film History", "Film Interviews", "Film Reviews", "TV Reviews"),
}

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_URL = re.compile(r"https?://[^/\s?#]+(/[^\s]*)?")


@dataclass(frozen=True)
class Show:
    title: str
    author: str = ""
    description: str = ""
    language: str = "en"
    category: str = "News"
    subcategory: str = ""
    explicit: bool = False
    owner_name: str = ""
    owner_email: str = ""
    copyright: str = ""
    image: Path | None = None  # cover art; None: one is generated from the title
    base_url: str = ""  # where DIR is published; "" keeps links relative
    guid: str = ""  # podcast:guid; "" derives it from the feed URL
    # deliverables beside each episode's MP3 and sidecars (`episode render --epub/--m4b/--opus`)
    epub: bool = False
    m4b: bool = False
    opus: bool = False

    @property
    def extras(self) -> tuple[str, ...]:
        """The deliverables each episode gets besides its sidecars, in publish's order."""
        return tuple(name for name in ("epub", "m4b", "opus") if getattr(self, name))

    def url(self, name: str) -> str:
        """*name*'s address once published: absolute under base_url, else relative."""
        return f"{self.base_url}/{name}" if self.base_url else name

    @property
    def link(self) -> str:
        return f"{self.base_url}/" if self.base_url else SHOW_PAGE

    @property
    def feed_url(self) -> str:
        return self.url(FEED_NAME) if self.base_url else ""

    @property
    def podcast_guid(self) -> str:
        """The show's podcast:guid ("" when it has neither a guid nor a feed URL)."""
        if self.guid:
            return self.guid
        return podcast_guid(self.feed_url) if self.feed_url else ""

    def item_guid(self, slug: str) -> str:
        """An episode's guid: the same on every run for the same show and file name."""
        identity = self.podcast_guid or str(uuid.uuid5(PODCAST_GUID_NAMESPACE, f"show:{self.title}"))
        return str(uuid.uuid5(uuid.UUID(identity), slug))

    def warnings(self) -> list[str]:
        """What Apple Podcasts or Podcast Index would miss in this show's feed."""
        out = []
        if not self.base_url:
            out.append("the show has no base_url: the feed's links are relative, which no podcast app can "
                       "follow (set [show] base_url or --base-url)")
        if not self.owner_email:
            out.append("the show has no owner_email: Apple Podcasts sends its verification code there")
        return out

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["image"] = str(self.image) if self.image else ""
        data["podcast_guid"] = self.podcast_guid
        return data


def podcast_guid(feed_url: str) -> str:
    """The Podcasting 2.0 podcast:guid of a feed URL."""
    bare = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", feed_url.strip()).rstrip("/")
    return str(uuid.uuid5(PODCAST_GUID_NAMESPACE, bare))


_BOOLEANS = {"explicit", "epub", "m4b", "opus"}
_KEYS: dict[str, type] = {f.name: (bool if f.name in _BOOLEANS else str) for f in fields(Show)}


def with_base_url(show: Show, url: str) -> Show:
    """*show* published at *url* (``--base-url``), which is checked as the manifest's base_url is."""
    return show_from_dict({"base_url": url}, source="--base-url", folder=Path("."), defaults=show)


def show_from_dict(table: dict[str, Any], *, source: str, folder: Path, defaults: Show | None = None) -> Show:
    """Validate a `[show]` table; keys it leaves out come from *defaults*."""
    for key, value in table.items():
        if key == "sound":
            continue  # [show.sound]: the music of every episode (audio.sound.settings reads it)
        if key not in _KEYS:
            raise ManifestError(f"{source} [show]: unknown key {key!r} (allowed: {', '.join(_KEYS)})")
        if type(value) is not _KEYS[key]:
            raise ManifestError(f"{source} [show]: {key!r} has the wrong type ({type(value).__name__})")
    values = {k: v for k, v in table.items() if k != "sound"}
    if "image" in values:
        image = Path(values["image"])
        values["image"] = image if image.is_absolute() else folder / image
    show = replace(defaults, **values) if defaults else Show(**values) if values.get("title") else None
    if show is None or not show.title.strip():
        raise ManifestError(f"{source} [show]: 'title' is required")
    where = f"{source} [show]"
    if show.category not in APPLE_CATEGORIES:
        raise ManifestError(f"{where}: category {show.category!r} is not one of Apple's: "
                            f"{', '.join(APPLE_CATEGORIES)}")
    if show.subcategory and show.subcategory not in APPLE_CATEGORIES[show.category]:
        known = ", ".join(APPLE_CATEGORIES[show.category]) or "none"
        raise ManifestError(f"{where}: {show.subcategory!r} is not a subcategory of {show.category!r} "
                            f"(Apple's: {known})")
    if show.owner_email and not _EMAIL.fullmatch(show.owner_email):
        raise ManifestError(f"{where}: owner_email {show.owner_email!r} is not an email address")
    if not _LANGUAGE.fullmatch(show.language):
        raise ManifestError(f"{where}: language {show.language!r} is not a language code such as en or en-us")
    if show.base_url:
        if not _URL.fullmatch(show.base_url):
            raise ManifestError(f"{where}: base_url {show.base_url!r} is not an http(s) address")
        show = replace(show, base_url=show.base_url.rstrip("/"))
    if show.guid:
        try:
            show = replace(show, guid=str(uuid.UUID(show.guid)))
        except ValueError:
            raise ManifestError(f"{where}: guid {show.guid!r} is not a UUID") from None
    return show


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return clean_data(tomllib.loads(Path(path).read_bytes().decode("utf-8")))  # as an episode's manifest is
    except FileNotFoundError:
        raise ManifestError(f"show manifest not found: {path}") from None
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 (byte offset {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: invalid TOML: {exc}") from None


def load_show(path: Path) -> Show:
    """A show manifest: a TOML file with a `[show]` table (other tables are ignored)."""
    data = _read_toml(path)
    table = data.get("show")
    if not isinstance(table, dict):
        raise ManifestError(f"{path}: no [show] table")
    return show_from_dict(table, source=str(path), folder=Path(path).parent)


def show_from_episode(metadata: Metadata, manifest: Path | None = None) -> Show:
    """The show an episode implies: its manifest's `[show]` table over its `[episode]` fields."""
    inferred = Show(title=metadata.show or metadata.title, author=metadata.author,
                    description=metadata.show or metadata.title, language=metadata.language,
                    owner_name=metadata.author)
    if manifest is None:
        return inferred
    table = _read_toml(manifest).get("show", {})
    if not isinstance(table, dict):
        raise ManifestError(f"{manifest}: [show] must be a table")
    return show_from_dict(table, source=str(manifest), folder=Path(manifest).parent, defaults=inferred)


def load_show_sound(path: Path):
    """The `[show.sound]` table of a show (or first episode's) manifest: every episode's music, or None."""
    from .sound.settings import sound_from_dict

    table = _read_toml(path).get("show", {})
    sound = table.get("sound") if isinstance(table, dict) else None
    if sound is None:
        return None
    return sound_from_dict(sound, source=str(path), folder=Path(path).parent, name="[show.sound]")
