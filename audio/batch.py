"""Stage 7: a catalogue of transcripts rendered into one publishable show.

``DIR`` gets, per episode, ``<slug>.mp3`` with its sidecars and its
player page ``<slug>.html``; for the show, ``feed.xml``, the show page
``index.html`` and the cover art.  Episodes are rendered by an executor
(audio.executors); only this driver writes into ``DIR``.

Resumable and idempotent: an episode's key hashes its transcript, its
manifest, what of the show goes into its files (title, author, cover
art) and the speech engines' versions.  ``DIR/.episode-batch/state/<slug>.json``
records the key once all of the episode's files are in place (it is
removed before any of them is replaced), so an episode whose state
matches is finished and is left alone, and an interrupted batch loses no
finished episode.  Files are renamed into place whole; the feed, the show
page and the cover are rewritten only when their bytes change.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from .art import Artwork, generate_cover, load_artwork
from .episode import Episode, load_episode
from .errors import EpisodeError, InputError, OutputError
from .executors import (EXECUTORS, Job, Outcome, RayStarting, ctrl_c_raises, execute, one_line, plan_workers,
                        stage_folder)
from .files import write_atomic
from .formats import EXTENSIONS
from .manifest import manifest_beside
from .outputs.feed import FeedItem, build_feed
from .outputs.publish import ENCODED, FORMATS
from .outputs.showpage import show_page_html
from .render import RenderOptions
from .show import FEED_NAME, SHOW_PAGE, Show, load_show, load_show_sound, show_from_episode, with_base_url
from .sound.settings import merged
from .showfolder import RESERVED, STATE_DIR, Source, episode_key, locked, sweep, write_if_changed

log = logging.getLogger(__name__)

# A folder's transcripts: every extension a transcript format has, but JSON, which is also what
# episodes' chapters and transcripts are written as.
TRANSCRIPT_SUFFIXES = tuple(ext for ext in EXTENSIONS if ext != ".json")
_ITEM_FIELDS = {f.name for f in fields(FeedItem)}
EPISODE_FORMATS = tuple(f for f in FORMATS if f != "feed")  # the show has one feed, written by the driver


@dataclass(frozen=True)
class BatchOptions:
    out_dir: Path
    show: Path | None = None  # a show manifest; None infers the show from the first episode
    base_url: str = ""  # overrides the show's
    executor: str = "local"
    workers: int | None = None  # None: one per core (local) or per CPU of the Ray cluster
    ray_address: str | None = None
    cache_dir: Path | None = None
    verify: bool = False
    id3_version: int = 3


@dataclass(frozen=True)
class EpisodeRow:
    """An episode's line in the summary; status is one of STATUSES."""

    slug: str
    source: str
    status: str
    reason: str = ""
    duration_ms: int | None = None
    wer: float | None = None
    seconds: float = 0.0


STATUSES = ("queued", "rendering", "verifying", "rendered", "up to date", "failed", "verify failed",
            "interrupted", "not started")
FAILED = ("failed", "verify failed")


@dataclass(frozen=True)
class BatchReport:
    out_dir: Path
    show: Show | None
    rows: tuple[EpisodeRow, ...]
    interrupted: bool = False
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()
    workers: int = 0
    executor: str = "local"
    written: tuple[str, ...] = field(default=())  # show files rewritten this run

    @property
    def failed(self) -> list[EpisodeRow]:
        return [r for r in self.rows if r.status in FAILED]

    def to_json(self) -> dict:
        return {"out_dir": str(self.out_dir), "show": self.show.to_json() if self.show else None,
                "executor": self.executor, "workers": self.workers, "seconds": round(self.seconds, 3),
                "interrupted": self.interrupted, "warnings": list(self.warnings), "written": list(self.written),
                "episodes": [asdict(r) for r in self.rows],
                "counts": dict(Counter(r.status for r in self.rows))}


def slugify(stem: str) -> str:
    """A file name safe in a URL: ASCII lower case, words joined by hyphens."""
    ascii_ = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-") or "episode"


def find_sources(paths: Sequence[Path]) -> list[Source]:
    """Transcripts named or found in folders (TRANSCRIPT_SUFFIXES, sorted), each with its manifest if beside it."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = sorted(p for p in path.iterdir()
                            if p.is_file() and p.suffix.lower() in TRANSCRIPT_SUFFIXES and not p.name.startswith("."))
            if not inside:
                raise InputError(f"{path}: no transcripts ({', '.join('*' + e for e in TRANSCRIPT_SUFFIXES)}) in this folder")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"transcript not found: {path}")
    sources: list[Source] = []
    seen: dict[str, Path] = {}
    for path in dict.fromkeys(p.resolve() for p in found):  # the same file named twice is one episode
        slug = slugify(path.stem)
        if slug in RESERVED:
            raise InputError(f"{path}: an episode cannot be named {slug!r} (the show's own {slug} files); rename it")
        if slug in seen:
            raise InputError(f"{seen[slug]} and {path} would both be {slug}.mp3; rename one")
        seen[slug] = path
        sources.append(Source(path, manifest_beside(path), slug))
    return sources


class _Catalogue:
    """The driver's side of one run: what is finished, what to do, and committing it."""

    def __init__(self, options: BatchOptions, on_event: Callable[[EpisodeRow], None] | None) -> None:
        self.options = options
        self.out = Path(options.out_dir)
        self.state_dir = self.out / STATE_DIR / "state"
        self.work_dir = self.out / STATE_DIR / "work"
        self.rows: dict[str, EpisodeRow] = {}
        self.on_event = on_event

    def set_row(self, row: EpisodeRow) -> None:
        self.rows[row.slug] = row
        if self.on_event:
            self.on_event(row)

    def state(self, slug: str) -> dict | None:
        try:
            return json.loads((self.state_dir / f"{slug}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def up_to_date(self, slug: str, key: str) -> dict | None:
        state = self.state(slug)
        if not state or state.get("key") != key or set(state.get("item", {})) != _ITEM_FIELDS:
            return None
        mp3 = self.out / f"{slug}.mp3"
        if not all((self.out / name).is_file() for name in state["files"]) or mp3.stat().st_size != state["mp3_bytes"]:
            return None
        return state

    def commit(self, job: Job, outcome: Outcome, key: str) -> dict:
        """Move a finished episode's files into place, then record it as finished."""
        state_file = self.state_dir / f"{job.slug}.json"
        if job.render:
            state_file.unlink(missing_ok=True)  # from here until the new state, the episode is unfinished
            for name in outcome.files:
                if outcome.blobs is not None:
                    write_atomic(self.out / name, outcome.blobs[name])
                else:
                    try:
                        os.replace(Path(outcome.work_dir) / name, self.out / name)
                    except OSError as exc:
                        raise OutputError(f"cannot write {self.out / name}: {exc.strerror or exc}") from None
            state = {"key": key, "files": list(outcome.files), "item": asdict(outcome.item),
                     "duration_ms": outcome.duration_ms}
        else:
            state = self.state(job.slug) or {}
        state["mp3_bytes"] = (self.out / f"{job.slug}.mp3").stat().st_size
        if job.verify:
            state.update(wer=outcome.wer, verify_failure=outcome.verify_failure, verified=True)
        write_atomic(state_file, json.dumps(state, indent=1, ensure_ascii=False) + "\n")
        return state


def _show(options: BatchOptions, loaded: list[tuple[Source, Episode]]) -> Show | None:
    if options.show is not None:
        show = load_show(options.show)
    elif loaded:
        source, episode = loaded[0]
        show = show_from_episode(episode.metadata, source.manifest)
    else:
        return None
    if options.base_url:
        show = with_base_url(show, options.base_url)
    return show


def _with_show_sound(options: BatchOptions, loaded: list[tuple[Source, Episode]]) -> list[tuple[Source, Episode]]:
    """Every episode with the show's `[show.sound]` under its own `[sound]` (whose keys win)."""
    where = options.show or (loaded[0][0].manifest if loaded else None)
    sound = load_show_sound(where) if where is not None else None
    if sound is None:
        return loaded
    return [(src, replace(ep, manifest=replace(ep.manifest, sound=merged(sound, ep.manifest.sound))))
            for src, ep in loaded]


def run_batch(paths: Sequence[Path], options: BatchOptions,
              on_event: Callable[[EpisodeRow], None] | None = None) -> BatchReport:
    """Render every transcript in *paths* into the show folder ``options.out_dir``."""
    start = time.perf_counter()
    if options.executor not in EXECUTORS:
        raise InputError(f"--executor takes {' or '.join(EXECUTORS)}, not {options.executor!r}")
    if options.workers is not None and options.workers < 1:
        raise InputError(f"--workers must be at least 1, not {options.workers}")
    sources = find_sources(paths)
    with ctrl_c_raises():  # set before Ray starts, whose processes inherit it
        ray = RayStarting(options.ray_address, options.workers) if options.executor == "ray" and sources else None
        try:
            return _render_show(sources, options, on_event, ray, start)
        finally:
            if ray is not None:  # also when the show, its cover or the lock refused the batch
                ray.close()  # it has been shutting down while the show was written


def _render_show(sources: list[Source], options: BatchOptions, on_event: Callable[[EpisodeRow], None] | None,
                 ray: RayStarting | None, start: float) -> BatchReport:
    cat = _Catalogue(options, on_event)
    loaded: list[tuple[Source, Episode]] = []
    for source in sources:
        try:
            loaded.append((source, load_episode(source.transcript, source.manifest)))
        except EpisodeError as exc:
            cat.set_row(EpisodeRow(source.slug, str(source.transcript), "failed", one_line(exc)))
    show = _show(options, loaded)
    loaded = _with_show_sound(options, loaded)
    cover = (load_artwork(show.image) if show.image else generate_cover(show.title)) if show else None
    images = {src.slug: load_artwork(Path(ep.metadata.image)) for src, ep in loaded if ep.metadata.image}
    if ray is not None:
        ray.result()  # a cluster that cannot be joined stops the batch before it touches the show's folder
    with locked(cat.out / STATE_DIR):
        shutil.rmtree(cat.work_dir, ignore_errors=True)  # what a killed run left half made
        sweep(cat.out, {s.slug for s in sources})
        cat.state_dir.mkdir(parents=True, exist_ok=True)
        jobs, keys, interrupted, outer = [], {}, False, 0
        for source, episode in loaded:
            meta = episode.metadata
            episode = replace(episode, manifest=replace(episode.manifest, metadata=replace(
                meta, show=show.title, author=meta.author or show.author)))
            art = images.get(source.slug, cover)
            formats = EPISODE_FORMATS + show.extras
            keys[source.slug] = key = episode_key(source, episode, show, art, options.id3_version, formats)
            state = cat.up_to_date(source.slug, key)
            job = Job(slug=source.slug, episode=episode, formats=formats, page_name=f"{source.slug}.html",
                      show_href=SHOW_PAGE, image_name=f"{source.slug}.{art.extension}" if source.slug in images else "",
                      verify=options.verify,
                      options=RenderOptions(id3_version=options.id3_version, cache_dir=options.cache_dir, cover=art,
                                            encodes=tuple(f for f in ENCODED if f in formats)))
            if state is None:
                jobs.append(job)
            elif options.verify and not state.get("verified"):
                jobs.append(replace(job, render=False))
            else:
                cat.set_row(_row_from_state(source, state, "up to date", options.verify))
        if jobs:
            interrupted, outer = _run_jobs(cat, jobs, keys, {s.slug: s for s, _ in loaded}, ray)
        written = _write_show(cat, show, cover, images, loaded) if show else ()
        shutil.rmtree(cat.work_dir, ignore_errors=True)
    order = [s.slug for s in sources]
    return BatchReport(out_dir=cat.out, show=show, rows=tuple(cat.rows[s] for s in order), interrupted=interrupted,
                       seconds=time.perf_counter() - start, warnings=tuple(show.warnings()) if show else (),
                       workers=outer, executor=options.executor, written=written)


def _row_from_state(source: Source, state: dict, status: str, verify: bool, seconds: float = 0.0) -> EpisodeRow:
    """The summary row of a finished episode; with --verify, its Whisper check as recorded."""
    reason = ""
    if verify and state.get("verify_failure"):
        status, reason = "verify failed", state["verify_failure"]
    return EpisodeRow(source.slug, str(source.transcript), status, reason, state.get("duration_ms"),
                      state.get("wer") if verify else None, seconds)


def _run_jobs(cat: _Catalogue, jobs: list[Job], keys: dict[str, str], sources: dict[str, Source],
              ray: RayStarting | None = None) -> tuple[bool, int]:
    """Run the jobs on the chosen executor, committing each as it finishes; (interrupted?, workers)."""
    options = cat.options
    pool, outer, inner = plan_workers(options.executor, options.workers, len(jobs), ray)
    local = options.executor == "local"
    ready = []
    for job in jobs:
        job = replace(job, options=replace(job.options, workers=inner))
        mp3 = cat.out / f"{job.slug}.mp3"
        if job.render:
            job = replace(job, work_dir=str(stage_folder(cat.work_dir, job.slug)) if local else None)
        else:
            job = replace(job, mp3_path=str(mp3))  # (Ray reads it when the job is handed out)
        ready.append(job)
        cat.set_row(EpisodeRow(job.slug, str(sources[job.slug].transcript), "queued"))

    def started(job: Job) -> None:
        cat.set_row(replace(cat.rows[job.slug], status="rendering" if job.render else "verifying"))

    def finished(job: Job, outcome: Outcome) -> None:
        source = sources[job.slug]
        if outcome.interrupted:
            cat.set_row(EpisodeRow(job.slug, str(source.transcript), "interrupted", seconds=outcome.seconds))
        elif not outcome.ok:
            cat.set_row(EpisodeRow(job.slug, str(source.transcript), "failed", outcome.reason,
                                   seconds=outcome.seconds))
        else:
            state = cat.commit(job, outcome, keys[job.slug])
            status = "rendered" if job.render else "up to date"
            cat.set_row(_row_from_state(source, state, status, options.verify, outcome.seconds))

    try:
        execute(pool, ready, outer, started, finished)
    except KeyboardInterrupt:
        for slug, row in cat.rows.items():
            if row.status in ("queued", "rendering", "verifying"):
                cat.set_row(replace(row, status="not started" if row.status == "queued" else "interrupted"))
        return True, outer
    return False, outer


def _write_show(cat: _Catalogue, show: Show, cover: Artwork, images: dict[str, Artwork],
                loaded: list[tuple[Source, Episode]]) -> tuple[str, ...]:
    """The cover, the episodes' own images, the feed and the show page, each written only if changed."""
    written = []
    cover_name = f"cover.{cover.extension}"
    if write_if_changed(cat.out / cover_name, cover.data):
        written.append(cover_name)
    states = {src.slug: cat.state(src.slug) for src, _ in loaded
              if cat.rows[src.slug].status in ("rendered", "up to date", "verify failed")}

    def date(pair: tuple[Source, Episode]) -> str:  # as rendered: an undated manifest's date is its render's day
        state = states.get(pair[0].slug)
        return state["item"]["date"] if state else pair[1].metadata.date

    # Episodes are numbered by date (then file name) unless their manifest gives a number.
    dated = sorted(loaded, key=lambda pair: (date(pair), pair[0].slug))
    numbers = {src.slug: ep.metadata.number or n for n, (src, ep) in enumerate(dated, start=1)}
    items = []
    for source, _ in loaded:
        state = states.get(source.slug)
        if state is None:
            continue
        item = FeedItem(**{**state["item"], "chapters": tuple(map(tuple, state["item"].get("chapters", ())))})
        items.append(replace(item, number=numbers[source.slug], mp3_bytes=(cat.out / item.mp3_name).stat().st_size,
                             opus_bytes=(cat.out / item.opus_name).stat().st_size if item.opus_name else 0))
        art = images.get(source.slug)
        if art and write_if_changed(cat.out / item.image_name, art.data):
            written.append(item.image_name)
    if write_if_changed(cat.out / FEED_NAME, build_feed(show, items, cover_name=cover_name)):
        written.append(FEED_NAME)
    if write_if_changed(cat.out / SHOW_PAGE, show_page_html(show, items, cover_name).encode("utf-8")):
        written.append(SHOW_PAGE)
    return tuple(written)
