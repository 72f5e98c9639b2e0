"""`episode batch`: a catalogue of transcripts rendered into a show, read back with independent readers."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from xml.etree import ElementTree as ET

import eyed3
import feedparser
import pytest
from mutagen.id3 import ID3, PictureType
from PIL import Image
from typer.testing import CliRunner

from audio.art import PALETTE, TEXT_RGB, THUMBNAIL_PX, _fit
from audio.batch import STATE_DIR, BatchOptions, find_sources, run_batch
from audio.cli import app
from audio.executors import Outcome, execute, split_cores
from audio.outputs.tag import ffprobe_chapters, read_chapters
from audio.show import podcast_guid
from audio.verify import verify

from .ray_nodes import start_node, stop_node

ROOT = Path(__file__).resolve().parent.parent
NS = {"itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd", "podcast": "https://podcastindex.org/namespace/1.0",
      "atom": "http://www.w3.org/2005/Atom"}
BASE_URL = "https://podcasts.example.org/newsroom"
SHOW_TOML = f"""
[show]
title = "Newsroom Interviews"
author = "The Newsroom"
description = "Interviews from the newsroom, read aloud."
language = "en-us"
category = "News"
subcategory = "Politics"
explicit = false
owner_name = "Dana Editor"
owner_email = "podcasts@example.org"
copyright = "2024 The Newsroom"
base_url = "{BASE_URL}/"
"""
EPISODES = {
    # slug: (transcript, manifest or None)
    "opening-night": ("Tonight we open the series.\nQ: Why start now?\nA: Because the story is ready.\n",
                      'title = "Opening night"\ndate = "2024-01-10"\ndescription = "Why the series starts."'),
    "second-act": ("The second interview follows.\nQ: What changed?\nA: The town did.\n",
                   'title = "Second act"\ndate = "2024-02-14"\nimage = "second-act-cover.png"'),
    "third-wave": ("A third and last talk.\nQ: Where next?\nA: Home, for now.\n", None),
}
SPEAKERS = """
[[speakers]]
id = "host"
name = "Host"
labels = ["Q"]
voice = "gmw/en-us"
role = "host"

[[speakers]]
id = "guest"
name = "Guest"
labels = ["A"]
voice = "gmw/en-gb-x-rp+m1"
"""
SHOW_FILES = {"feed.xml", "index.html", "cover.jpg"}
SIDECARS = (".mp3", ".vtt", ".srt", ".chapters.json", ".transcript.json", ".words.json", ".chapters.vtt", ".html")
runner = CliRunner()


def write_catalogue(folder: Path, episodes=EPISODES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for slug, (text, manifest) in episodes.items():
        (folder / f"{slug}.txt").write_text(text, encoding="utf-8")
        if manifest is not None:
            (folder / f"{slug}.toml").write_text(f"[episode]\n{manifest}\n{SPEAKERS}", encoding="utf-8")
    if "second-act" in episodes:
        Image.new("RGB", (1400, 1400), (200, 120, 20)).save(folder / "second-act-cover.png")
    return folder


def visible(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")}


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file()}


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory, clip_cache):
    root = tmp_path_factory.mktemp("catalogue")
    src = write_catalogue(root / "src")
    (root / "show.toml").write_text(SHOW_TOML, encoding="utf-8")
    options = BatchOptions(out_dir=root / "out", show=root / "show.toml", workers=2, cache_dir=clip_cache)
    report = run_batch([src], options)
    return root, options, report


def test_three_transcripts_become_three_episodes(catalogue):
    root, _, report = catalogue
    out = root / "out"
    assert [(r.slug, r.status) for r in report.rows] == [
        ("opening-night", "rendered"), ("second-act", "rendered"), ("third-wave", "rendered")]
    want = SHOW_FILES | {"second-act.png"} | {f"{slug}{ext}" for slug in EPISODES for ext in SIDECARS}
    assert visible(out) == want
    for slug in EPISODES:
        state = json.loads((out / STATE_DIR / "state" / f"{slug}.json").read_text(encoding="utf-8"))
        assert sorted(state["files"]) == sorted(f"{slug}{ext}" for ext in SIDECARS)  # the show's files are the show's
        chapters = read_chapters(out / f"{slug}.mp3")
        assert [c.title for c in chapters][1:] == [EPISODES[slug][0].splitlines()[1][3:]]
        assert [c["title"] for c in ffprobe_chapters(out / f"{slug}.mp3")] == [c.title for c in chapters]
        page = (out / f"{slug}.html").read_text(encoding="utf-8")
        assert '<p class="show"><a href="index.html">Newsroom Interviews</a></p>' in page
        assert f'src="{slug}.mp3"' in page
    show_page = (out / "index.html").read_text(encoding="utf-8")
    links = [f'href="{slug}.html"' for slug in ("third-wave", "second-act", "opening-night")]
    assert all(link in show_page for link in links)
    assert [show_page.index(link) for link in links] == sorted(show_page.index(link) for link in links)
    assert report.workers == 2 and not report.failed and not report.interrupted


def test_workers_share_the_cores():
    assert split_cores(2, None, 6) == (2, 1)  # two episodes at once, one speech worker each
    assert split_cores(2, 1, 6) == (1, 2)
    assert split_cores(8, None, 3) == (3, 2)  # no more workers than episodes
    assert split_cores(2, 4, 6) == (4, 1)


class _InterruptedPool:
    """A pool whose worker took Ctrl-C in its first job (fault injection: the driver's own SIGINT is lost)."""

    def __init__(self) -> None:
        self.submitted, self.closed = [], False

    def submit(self, job):
        self.submitted.append(job.slug)
        return job.slug

    def wait(self, futures, timeout=None):
        return futures[:1]

    def result(self, future):
        return Outcome(future, ok=False, reason="interrupted", interrupted=True)

    def cancel(self, futures):
        pass

    def close(self):
        self.closed = True


def test_an_episode_interrupted_in_its_worker_stops_the_batch():
    pool, outcomes = _InterruptedPool(), []
    with pytest.raises(KeyboardInterrupt):
        execute(pool, [SimpleNamespace(slug=s) for s in ("ep-a", "ep-b", "ep-c")], 1, lambda job: None,
                lambda job, outcome: outcomes.append(outcome))
    assert pool.submitted == ["ep-a"] and pool.closed  # ep-b and ep-c never started
    assert [(o.slug, o.interrupted) for o in outcomes] == [("ep-a", True)]


def test_feed_read_by_feedparser(catalogue):
    root, _, report = catalogue
    out = root / "out"
    parsed = feedparser.parse(str(out / "feed.xml"))
    assert not parsed.bozo and parsed.version == "rss20"
    feed = parsed.feed
    assert feed.title == "Newsroom Interviews"
    assert feed.subtitle == "Interviews from the newsroom, read aloud."
    assert feed.language == "en-us"
    assert feed.rights == "2024 The Newsroom"
    assert feed.link == f"{BASE_URL}/"
    assert {"href": f"{BASE_URL}/feed.xml", "rel": "self", "type": "application/rss+xml"} in feed.links
    assert feed.publisher_detail == {"name": "Dana Editor", "email": "podcasts@example.org"}
    assert feed.image.href == f"{BASE_URL}/cover.jpg"
    assert [t.term for t in feed.tags] == ["News", "Politics"]
    assert feed.podcast_guid == podcast_guid(f"{BASE_URL}/feed.xml") == podcast_guid("podcasts.example.org/newsroom/feed.xml")
    assert feed.itunes_type == "episodic"
    entries = parsed.entries
    assert [e.title for e in entries] == ["Third wave", "Second act", "Opening night"]  # newest first
    rows = {r.slug: r for r in report.rows}
    for entry, slug, number in zip(entries, ["third-wave", "second-act", "opening-night"], [3, 2, 1]):
        enclosure = entry.enclosures[0]
        assert enclosure.href == f"{BASE_URL}/{slug}.mp3"
        assert int(enclosure.length) == (out / f"{slug}.mp3").stat().st_size
        assert enclosure.type == "audio/mpeg"
        seconds = round(rows[slug].duration_ms / 1000)
        assert entry.itunes_duration == f"00:00:{seconds:02d}"
        assert entry.itunes_episode == str(number) and entry.podcast_episode == str(number)
        assert entry.itunes_episodetype == "full"
        assert entry.link == f"{BASE_URL}/{slug}.html"
        assert entry.podcast_chapters == {"type": "application/json+chapters", "url": f"{BASE_URL}/{slug}.chapters.json"}
        assert entry.image.href == f"{BASE_URL}/{'second-act.png' if slug == 'second-act' else 'cover.jpg'}"
        assert len(entry.id) == 36 and not entry.guidislink
    assert entries[2].published_parsed[:3] == (2024, 1, 10) and entries[1].published_parsed[:3] == (2024, 2, 14)
    assert entries[2].summary == "Why the series starts."
    assert len({e.id for e in entries}) == 3


def test_feed_elements_apple_and_podcast_index_require(catalogue):
    """What feedparser folds away (explicit's false, the several transcripts, owner's place), element by element."""
    root, _, _ = catalogue
    channel = ET.parse(root / "out" / "feed.xml").getroot().find("channel")
    for tag in ("title", "description", "language", "link", "copyright", "itunes:author", "itunes:image",
                "itunes:category", "itunes:explicit", "itunes:owner", "podcast:guid", "atom:link", "image"):
        assert channel.find(tag, NS) is not None, tag
    assert channel.findtext("itunes:explicit", namespaces=NS) == "false"
    assert channel.findtext("itunes:author", namespaces=NS) == "The Newsroom"  # feedparser shows the owner's name
    owner = channel.find("itunes:owner", NS)
    assert owner.findtext("itunes:email", namespaces=NS) == "podcasts@example.org"
    assert channel.find("itunes:category", NS).get("text") == "News"
    assert channel.find("itunes:category/itunes:category", NS).get("text") == "Politics"
    assert channel.findtext("image/url") == f"{BASE_URL}/cover.jpg"
    for item in channel.findall("item"):
        slug = item.find("enclosure").get("url").rsplit("/", 1)[1][:-4]
        transcripts = item.findall("podcast:transcript", NS)
        assert sorted((t.get("type"), t.get("url")) for t in transcripts) == sorted([
            ("text/vtt", f"{BASE_URL}/{slug}.vtt"), ("application/x-subrip", f"{BASE_URL}/{slug}.srt"),
            ("application/json", f"{BASE_URL}/{slug}.transcript.json"),
            ("application/json", f"{BASE_URL}/{slug}.words.json")])
        assert [t.get("rel") for t in transcripts if t.get("type") == "text/vtt"] == ["captions"]
        assert item.find("guid").get("isPermaLink") == "false"
        assert item.findtext("itunes:explicit", namespaces=NS) == "false"


def test_podcast_guid_matches_the_specs_examples():
    # The two examples in the podcast namespace's guid tag documentation.
    assert podcast_guid("https://mp3s.nashownotes.com/pc20rss.xml") == "917393e3-1b1e-5cef-ace4-edaa54e1f810"
    assert podcast_guid("http://podnews.net/rss/") == "9b024349-ccf0-5f69-a609-6b82873eab3c"


def test_generated_cover_reads_as_a_thumbnail(catalogue):
    root, _, _ = catalogue
    data = (root / "out" / "cover.jpg").read_bytes()
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (3000, 3000) and image.mode == "RGB"
    # Contrast of the title against its background, WCAG's formula.
    def luminance(rgb):
        c = [x / 255 for x in rgb]
        c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    background = image.getpixel((10, 10))
    assert min(abs(a - b) for p in PALETTE for a, b in zip(p, background)) <= 3
    assert (luminance(TEXT_RGB) + 0.05) / (luminance(background) + 0.05) >= 7
    # At 55 px each line of the title is a band of light rows at least 5 px tall.
    thumb = image.resize((THUMBNAIL_PX, THUMBNAIL_PX), Image.LANCZOS).convert("L")
    light = [any(thumb.getpixel((x, y)) > 128 for x in range(THUMBNAIL_PX)) for y in range(THUMBNAIL_PX - 2)]
    bands, run = [], 0
    for row in light + [False]:
        if row:
            run += 1
        elif run:
            bands.append(run)
            run = 0
    _, _, lines, _ = _fit("Newsroom Interviews", 3000)
    assert len(bands) == len(lines) == 2
    assert min(bands) >= 5


def test_cover_embedded_as_apic_front_cover(catalogue):
    root, _, _ = catalogue
    out = root / "out"
    cover = (out / "cover.jpg").read_bytes()
    own = (root / "src" / "second-act-cover.png").read_bytes()
    assert (out / "second-act.png").read_bytes() == own
    for slug, want, mime in [("opening-night", cover, "image/jpeg"), ("second-act", own, "image/png"),
                             ("third-wave", cover, "image/jpeg")]:
        frames = ID3(str(out / f"{slug}.mp3")).getall("APIC")
        assert [(f.type, f.mime) for f in frames] == [(PictureType.COVER_FRONT, mime)]
        assert frames[0].data == want
        images = eyed3.load(str(out / f"{slug}.mp3")).tag.images  # a second, independent reader
        assert [(i.picture_type, i.image_data == want) for i in images] == [(3, True)]
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(out / f"{slug}.mp3")],
                               capture_output=True, text=True, check=True)
        pictures = [s for s in json.loads(probe.stdout)["streams"] if s.get("disposition", {}).get("attached_pic")]
        assert [(p["width"], p["height"]) for p in pictures] == [(1400, 1400) if slug == "second-act" else (3000, 3000)]


def test_rerun_touches_nothing(catalogue):
    root, options, first = catalogue
    before = mtimes(root / "out")
    report = run_batch([root / "src"], options)
    assert [r.status for r in report.rows] == ["up to date"] * 3
    assert report.written == ()
    assert mtimes(root / "out") == before
    assert report.seconds <= 0.25 * first.seconds, (report.seconds, first.seconds)


def test_an_edited_transcript_renders_only_its_episode(catalogue, tmp_path):
    root, options, _ = catalogue
    shutil.copytree(root, tmp_path / "copy")  # copies keep their mtimes
    src, out = tmp_path / "copy" / "src", tmp_path / "copy" / "out"
    (src / "second-act.txt").write_text(EPISODES["second-act"][0].replace("The town did.", "The whole town did."),
                                        encoding="utf-8")
    before = mtimes(out)
    report = run_batch([src], BatchOptions(out_dir=out, show=tmp_path / "copy" / "show.toml", workers=2,
                                           cache_dir=options.cache_dir))
    assert [r.status for r in report.rows] == ["up to date", "rendered", "up to date"]
    after = mtimes(out)
    changed = {name for name in after if after[name] != before.get(name)}
    assert {n for n in changed if n.startswith("second-act.")} >= {"second-act.mp3", "second-act.vtt"}
    assert not {n for n in changed if n.startswith(("opening-night", "third-wave", "cover"))}
    assert "feed.xml" in changed  # the enclosure's length changed
    assert "The whole town did." in (out / "second-act.srt").read_text(encoding="utf-8")


def run_cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_one_bad_transcript_fails_alone(tmp_path, clip_cache):
    plain = ("Good morning and welcome back to the programme.\nQ: What happened at the city council today?\n"
             "A: The council voted to build a new bridge over the river.\n", None)
    src = write_catalogue(tmp_path / "src", {"opening-night": EPISODES["opening-night"], "third-wave": plain,
                                             "unvoiced": ("Q: Who speaks?\nA: Nobody can.\n", 'title = "Unvoiced"')})
    (src / "unvoiced.toml").write_text((src / "unvoiced.toml").read_text().replace("gmw/en-us", "gmw/xx-none"))
    (src / "broken.txt").write_bytes(b"")  # fails as it loads, in the driver; unvoiced fails in its worker
    result = run_cli("batch", src, "-o", tmp_path / "out", "--cache-dir", clip_cache, "--verify",
                     "--json", tmp_path / "report.json", "--base-url", BASE_URL)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["episode", "status", "duration", "WER", "reason"]
    broken = next(line for line in lines if line.startswith("broken "))
    assert broken.split(None, 4)[1:] == ["failed", "-", "-", f"{src / 'broken.txt'} is empty"]
    for slug in ("opening-night", "third-wave"):
        cells = next(line for line in lines if line.startswith(slug)).split()
        assert cells[1] == "rendered" and cells[3] == "s" and cells[4].endswith("%")
    unvoiced = next(line for line in lines if line.startswith("unvoiced "))
    assert unvoiced.split(None, 4)[1:4] == ["failed", "-", "-"]
    assert "'gmw/xx-none' is not installed" in unvoiced
    assert lines[-1].startswith("2 of 4 episodes done in")
    report = json.loads((tmp_path / "report.json").read_text())
    assert [(e["slug"], e["status"]) for e in report["episodes"]] == [
        ("broken", "failed"), ("opening-night", "rendered"), ("third-wave", "rendered"), ("unvoiced", "failed")]
    assert all(0 <= e["wer"] <= 0.1 for e in report["episodes"][1:3])
    assert len(feedparser.parse(str(tmp_path / "out" / "feed.xml")).entries) == 2
    assert not any(name.startswith("broken") for name in visible(tmp_path / "out"))


def _descendants(root: int | None = None) -> dict[int, str]:
    """The children of *root* (this process) and their children, pid: command line, from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" (", 1)
            parents.setdefault(int(rest.rsplit(") ", 1)[1].split()[1]), []).append(int(pid))
        except (OSError, ValueError, IndexError):
            continue  # a process that ended meanwhile
    found, todo = {}, list(parents.get(root or os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo.extend(parents.get(pid, []))
        try:
            found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    return found


def _environ(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    return dict(p.split("=", 1) for p in pairs if "=" in p)


def _alive(pid: int) -> bool:
    """Whether *pid* runs (a zombie, waiting for its parent to read its status, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _batch_process(src: Path, out: Path, cache: Path, *more: str, sigint_ignored: bool = False) -> subprocess.Popen:
    """`episode batch` in a process group of its own; *sigint_ignored*: started as a script's background job is."""
    command = [sys.executable, "-m", "audio.cli", "batch", str(src), "-o", str(out), "--cache-dir", str(cache),
               "--workers", "1", *more]
    if sigint_ignored:  # SIG_IGN outlives exec, as it does for `episode batch ... &` in a non-interactive shell
        command = [sys.executable, "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                   "os.execv(sys.executable, sys.argv[1:])", *command]
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finished(out: Path) -> set[str]:
    state = out / STATE_DIR / "state"
    return {p.stem for p in state.glob("*.json")} if state.is_dir() else set()


def _interrupt_after(proc: subprocess.Popen, out: Path, count: int, sig: int) -> dict[int, str]:
    """Send *sig* to the batch's process group once *count* episodes are finished; its processes then."""
    deadline = time.monotonic() + 120
    while len(_finished(out)) < count:
        assert proc.poll() is None, "the batch ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    processes = _descendants(proc.pid)
    os.killpg(proc.pid, sig)
    return processes


def _check_nothing_partial(out: Path, slugs: list[str]) -> None:
    finished = _finished(out)
    for name in visible(out):
        slug = name.split(".")[0]
        assert slug in slugs or name in SHOW_FILES, name
        if name.endswith(".mp3"):
            assert read_chapters(out / name), f"{name} is incomplete"
    for slug in finished:
        state = json.loads((out / STATE_DIR / "state" / f"{slug}.json").read_text())
        assert all((out / f).is_file() for f in state["files"])


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_interrupted_batch_completes(tmp_path, executor):
    slugs = ["ep-a", "ep-b", "ep-c", "ep-d"]
    episodes = {s: (f"Episode {s[-1]} starts here.\nQ: Is this episode {s[-1]}?\nA: It is, and it ends now.\n", None)
                for s in slugs}
    src, out, cache = write_catalogue(tmp_path / "src", episodes), tmp_path / "out", tmp_path / "cache"
    how = ("--executor", executor)
    # Ctrl-C (SIGINT to the whole process group) once one episode is finished, to a batch that
    # came in with SIGINT ignored: its workers listen to Ctrl-C whatever they inherit, so it must
    # too (it had gone on with the next episode after Ctrl-C stopped one, and exited 0)
    proc = _batch_process(src, out, cache, *how, sigint_ignored=True)
    _interrupt_after(proc, out, 1, signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == ("Error: interrupted; finished episodes are kept, "
                                               "run the same command again to complete")
    after_ctrl_c = _finished(out)
    assert 1 <= len(after_ctrl_c) < len(slugs)
    _check_nothing_partial(out, slugs)
    kept = {n: t for n, t in mtimes(out).items() if n.split(".")[0] in after_ctrl_c}
    # kill -9 of the whole process group once one more is finished
    proc = _batch_process(src, out, cache, *how)
    processes = _interrupt_after(proc, out, len(after_ctrl_c) + 1, signal.SIGKILL)
    proc.communicate(timeout=60)
    # nothing it started lives on: engines, pool workers, and a Ray of its own with its workers
    # (an engine or a task may be between episodes when the kill comes: only the pool is sure to be there)
    started = " ".join(processes.values())
    assert ("raylet" in started and "gcs_server" in started) if executor == "ray" else "forkserver" in started
    deadline = time.monotonic() + 30
    while alive := {pid: cmd for pid, cmd in processes.items() if _alive(pid)}:
        assert time.monotonic() < deadline, alive
        time.sleep(0.2)
    after_kill = _finished(out)
    assert after_ctrl_c < after_kill and len(after_kill) < len(slugs) + 1
    _check_nothing_partial(out, slugs)
    # the re-run completes, leaving what was finished as it was
    proc = _batch_process(src, out, cache, *how, "--json", str(tmp_path / "report.json"))
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr
    assert _finished(out) == set(slugs)
    statuses = {e["slug"]: e["status"] for e in json.loads((tmp_path / "report.json").read_text())["episodes"]}
    assert {s for s, status in statuses.items() if status == "up to date"} == after_kill
    assert {s for s, status in statuses.items() if status == "rendered"} == set(slugs) - after_kill
    assert all(mtimes(out)[n] == t for n, t in kept.items())
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != STATE_DIR]
    assert not (out / STATE_DIR / "work").exists()
    assert len(feedparser.parse(str(out / "feed.xml")).entries) == len(slugs)


def test_ray_on_this_machine_makes_the_same_audio(catalogue, tmp_path, monkeypatch, caplog):
    root, options, _ = catalogue
    # A Ray of the batch's own, even when the environment names a cluster (here a dead one)
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{_free_port()}")
    for name in ("RAY_USAGE_STATS_ENABLED", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # where Ray keeps (and would write) ~/.ray/auth_token
    during: dict[int, str] = {}
    raylet_env: dict[str, str] = {}

    def seen(row) -> None:
        if row.status == "rendering" and not during:
            during.update(_descendants())
            raylet_env.update(_environ(next(pid for pid, cmd in during.items() if "raylet" in cmd)))

    report = run_batch([root / "src"], BatchOptions(out_dir=tmp_path / "ray", show=root / "show.toml",
                                                     executor="ray", workers=2, cache_dir=options.cache_dir), seen)
    assert [r.status for r in report.rows] == ["rendered"] * 3 and report.executor == "ray"
    # While it renders, its Ray runs without the autoscaler and log monitors (one node,
    # no worker logs read), which also slowed its shutdown by a second; after, nothing is left.
    assert any("gcs_server" in cmd for cmd in during.values())
    assert not [cmd for cmd in during.values() if "monitor.py" in cmd]
    assert raylet_env["RAY_USAGE_STATS_ENABLED"] == "0"  # offline: it reports nothing to ray.io
    # Token authentication, with a token of the batch's own: no ~/.ray/auth_token read or written
    # (first batches at once raced to write it), and Ray's notice of it is no line on stderr
    assert raylet_env["RAY_AUTH_MODE"] == "token" and len(raylet_env["RAY_AUTH_TOKEN"]) == 64
    assert not (tmp_path / "home" / ".ray").exists()
    assert not [r for r in caplog.records if "Token authentication" in r.getMessage()]
    for name in ("RAY_USAGE_STATS_ENABLED", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN"):
        assert name not in os.environ  # (set for Ray's processes, not left in ours)
    assert not [cmd for cmd in _descendants().values() if "ray" in cmd]
    assert visible(tmp_path / "ray") == visible(root / "out")
    for name in sorted(visible(root / "out")):
        assert (tmp_path / "ray" / name).read_bytes() == (root / "out" / name).read_bytes(), name


@pytest.fixture(scope="module")
def catalogue_verified(catalogue):
    """What `episode verify` makes of each of the catalogue's MP3s, checked in this process."""
    root, _, _ = catalogue
    return {p.stem: verify(p) for p in sorted((root / "out").glob("*.mp3"))}


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_verify_checks_episodes_rendered_earlier_without_rendering_them(catalogue, catalogue_verified, tmp_path,
                                                                         executor):
    root, options, _ = catalogue
    out = tmp_path / "out"
    shutil.copytree(root / "out", out)  # rendered without --verify
    mp3s = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.glob("*.mp3")}
    heard = catalogue_verified
    report = run_batch([root / "src"], BatchOptions(out_dir=out, show=root / "show.toml", workers=2, verify=True,
                                                    executor=executor, cache_dir=options.cache_dir))
    # Whisper heard each MP3 as `episode verify` does (on Ray, sent to the task as bytes), and
    # none was rendered again.  (These 10-word espeak-ng episodes may fail the 10% limit.)
    assert [(r.slug, r.status, r.wer, r.reason) for r in report.rows] == [
        (slug, "verify failed" if v.failures else "up to date", v.overall.wer, v.failures[0] if v.failures else "")
        for slug, v in heard.items()]
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.glob("*.mp3")} == mp3s
    for row in report.rows:
        state = json.loads((out / STATE_DIR / "state" / f"{row.slug}.json").read_text())
        assert state["verified"] is True and state["wer"] == row.wer
    again = run_batch([root / "src"], BatchOptions(out_dir=out, show=root / "show.toml", workers=2, verify=True,
                                                   executor="local", cache_dir=options.cache_dir))
    # The next --verify run hears nothing again: every row comes from the recorded state.
    assert [(r.status, r.wer, r.seconds) for r in again.rows] == [(r.status, r.wer, 0.0) for r in report.rows]
    assert all(r.seconds > 0 for r in report.rows)


def test_a_folder_holds_transcripts_of_every_format_but_json_and_pages(tmp_path):
    for name in ("a-talk.md", "b-captions.srt", "c-chapters.json", "d-notes.txt", "e-zoom.vtt", ".hidden.txt",
                 "f-newsroom.docx", "g-player.html"):
        (tmp_path / name).write_text("x\n", encoding="utf-8")
    # Word files are how newsroom transcripts travel; .html is left out, as a show's folder holds its pages
    assert [s.slug for s in find_sources([tmp_path])] == ["a-talk", "b-captions", "d-notes", "e-zoom", "f-newsroom"]
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["batch", str(tmp_path / "empty"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output == (f"Error: {tmp_path / 'empty'}: no transcripts (*.vtt, *.webvtt, *.srt, *.md, *.markdown, "
                             "*.mdown, *.txt, *.docx) in this folder\n")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_address_joins_a_running_cluster(catalogue, tmp_path):
    """A cluster of two nodes from `ray start`, joined with --ray-address, as the README has it.

    Both nodes run on this machine, with one CPU each: the batch runs two
    episodes at once, so one of them runs on the second node, and its files
    come back to the driver through Ray's object transfer between nodes,
    as from another machine.  Ray's token authentication is on for clusters
    started this way, so the driver needs RAY_AUTH_MODE=token and the
    cluster's token: given here in RAY_AUTH_TOKEN, which keeps the test away
    from ~/.ray/auth_token.
    """
    root, options, _ = catalogue
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "episode-test-token",
           "RAY_USAGE_STATS_ENABLED": "0"}
    head = start_node(["--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false"], tmp_path / "head.log",
                      env)
    try:
        node = start_node([f"--address=127.0.0.1:{port}", "--num-cpus=1"], tmp_path / "node.log", env)
        try:
            proc = subprocess.run([sys.executable, "-m", "audio.cli", "batch", str(root / "src"),
                                   "-o", str(tmp_path / "out"), "--show", str(root / "show.toml"), "--executor", "ray",
                                   "--ray-address", f"127.0.0.1:{port}", "--cache-dir", str(options.cache_dir),
                                   "--json", str(tmp_path / "report.json")],
                                  cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, proc.stderr[-2000:]
            # the driver joined the cluster and left it running
            assert head.poll() is None and node.poll() is None
        finally:
            stop_node(node)
    finally:
        stop_node(head)
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["executor"] == "ray"
    assert [e["status"] for e in report["episodes"]] == ["rendered"] * 3
    assert visible(tmp_path / "out") == visible(root / "out")
    for name in sorted(visible(root / "out")):
        if name.endswith(".mp3"):
            assert (tmp_path / "out" / name).read_bytes() == (root / "out" / name).read_bytes(), name


@pytest.mark.parametrize("address, env, message", [
    ("HEAD", {}, "Error: --ray-address HEAD: Invalid address format: HEAD"),
    # token authentication asked for, no token anywhere (HOME has no ~/.ray/auth_token)
    ("127.0.0.1:9", {"RAY_AUTH_MODE": "token"},
     "Error: cannot join the Ray cluster at 127.0.0.1:9: Token authentication is enabled but no authentication token "
     "was found."),
])
def test_a_ray_cluster_that_cannot_be_joined_is_one_line_and_writes_nothing(tmp_path, address, env, message):
    src = write_catalogue(tmp_path / "src")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    proc = subprocess.run([sys.executable, "-m", "audio.cli", "batch", str(src), "-o", str(tmp_path / "out"),
                           "--executor", "ray", "--ray-address", address],
                          cwd=ROOT, env={**clean, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path), **env},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith(message), proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("make, message", [
    (lambda p: Image.new("RGB", (1600, 1400)).save(p, "PNG"), "cover art must be square, not 1600x1400 px"),
    (lambda p: Image.new("RGB", (1000, 1000)).save(p, "PNG"),
     "cover art is 1000x1000 px; Apple Podcasts needs at least 1400x1400"),
    (lambda p: Image.new("RGB", (1400, 1400)).save(p, "GIF"), "cover art must be JPEG or PNG, not GIF"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64), "not a readable image"),
])
def test_bad_cover_art_is_refused(tmp_path, make, message):
    src = write_catalogue(tmp_path / "src", {"third-wave": EPISODES["third-wave"]})
    make(tmp_path / "art.png")
    (tmp_path / "show.toml").write_text('[show]\ntitle = "T"\nimage = "art.png"\n', encoding="utf-8")
    result = run_cli("batch", src, "-o", tmp_path / "out", "--show", tmp_path / "show.toml")
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {tmp_path / 'art.png'}: ")
    assert message in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("table, message", [
    ('title = "T"\ncategory = "Newz"', "category 'Newz' is not one of Apple's: Arts, Business"),
    ('title = "T"\ncategory = "News"\nsubcategory = "Golf"', "'Golf' is not a subcategory of 'News'"),
    ('title = "T"\nowner_email = "nobody"', "owner_email 'nobody' is not an email address"),
    ('title = "T"\nbase_url = "ftp://x.org"', "base_url 'ftp://x.org' is not an http(s) address"),
    ('title = "T"\nguid = "abc"', "guid 'abc' is not a UUID"),
    ('title = "T"\ntitel = "U"', "unknown key 'titel'"),
    ('author = "A"', "'title' is required"),
])
def test_bad_show_manifest_is_refused(tmp_path, table, message):
    src = write_catalogue(tmp_path / "src", {"third-wave": EPISODES["third-wave"]})
    (tmp_path / "show.toml").write_text(f"[show]\n{table}\n", encoding="utf-8")
    result = run_cli("batch", src, "-o", tmp_path / "out", "--show", tmp_path / "show.toml")
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {tmp_path / 'show.toml'} [show]: ")
    assert message in result.output and result.output.count("\n") == 1


def test_two_transcripts_with_one_slug_are_refused(tmp_path):
    for folder in ("a", "b"):
        write_catalogue(tmp_path / folder, {"third-wave": EPISODES["third-wave"]})
    result = run_cli("batch", tmp_path / "a", tmp_path / "b", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output == (f"Error: {tmp_path / 'a' / 'third-wave.txt'} and {tmp_path / 'b' / 'third-wave.txt'} "
                             "would both be third-wave.mp3; rename one\n")


def test_a_worker_keeps_one_synthesizer_for_every_episode(tmp_path, clip_cache):
    from audio.episode import load_episode
    from audio.executors import Job, run_job
    from audio.executors import job as executor_job
    from audio.render import RenderOptions

    src = write_catalogue(tmp_path / "src", {k: EPISODES[k] for k in ("opening-night", "third-wave")})
    synth = executor_job._synthesizer(clip_cache, 1)
    for slug in ("opening-night", "third-wave"):
        episode = load_episode(src / f"{slug}.txt")
        job = Job(slug=slug, episode=episode, options=RenderOptions(cache_dir=clip_cache, workers=1),
                  formats=("vtt",), page_name=f"{slug}.html", show_href="index.html", work_dir=str(tmp_path / slug))
        outcome = run_job(job)
        assert outcome.ok and outcome.files == (f"{slug}.mp3", f"{slug}.vtt")
        # The worker's one synthesizer spoke this episode: its stats are this episode's sentences.
        assert executor_job._synthesizer(clip_cache, 1) is synth
        assert synth.stats.synthesised + synth.stats.from_cache == len(episode.speech_jobs())


def test_render_embeds_the_manifests_image_and_feeds_it(tmp_path, clip_cache):
    src = write_catalogue(tmp_path / "src", {"second-act": EPISODES["second-act"]})
    with (src / "second-act.toml").open("a", encoding="utf-8") as fh:
        fh.write(f'\n[show]\ntitle = "Newsroom Interviews"\nbase_url = "{BASE_URL}"\n')
    out = tmp_path / "out" / "second-act.mp3"
    result = run_cli("render", src / "second-act.txt", "-o", out, "--cache-dir", clip_cache)
    assert result.exit_code == 0, result.output
    image = (src / "second-act-cover.png").read_bytes()
    assert [(f.type, f.data == image) for f in ID3(str(out)).getall("APIC")] == [(PictureType.COVER_FRONT, True)]
    assert (out.parent / "second-act.png").read_bytes() == image
    parsed = feedparser.parse(str(out.parent / "feed.xml"))
    assert parsed.feed.title == "Newsroom Interviews"
    assert parsed.feed.image.href == f"{BASE_URL}/second-act.png"
    assert parsed.feed.podcast_guid == podcast_guid(f"{BASE_URL}/feed.xml")
    assert [e.enclosures[0].href for e in parsed.entries] == [f"{BASE_URL}/second-act.mp3"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


def test_show_page_passes_axe_and_links_each_player_page(catalogue, browser):
    root, _, _ = catalogue
    out = root / "out"
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((out / "index.html").resolve().as_uri())
    hrefs = page.eval_on_selector_all("main ol li h3 a", "els => els.map(a => a.getAttribute('href'))")
    assert hrefs == ["third-wave.html", "second-act.html", "opening-night.html"]
    assert page.evaluate("document.querySelector('header img').naturalWidth") == 3000  # the cover loaded
    page.add_script_tag(path=str(ROOT / ".venv" / "npm" / "node_modules" / "axe-core" / "axe.min.js"))
    assert page.evaluate("axe.run().then(r => r.violations.map(v => v.id + ': ' + v.help))") == []
    page.click("text=Second act")
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    assert page.url.endswith("/second-act.html")
    page.add_script_tag(path=str(ROOT / ".venv" / "npm" / "node_modules" / "axe-core" / "axe.min.js"))
    assert page.evaluate("axe.run().then(r => r.violations.map(v => v.id + ': ' + v.help))") == []
    page.click("text=Newsroom Interviews")
    assert page.url.endswith("/index.html")
    assert errors == []


def test_an_episode_number_and_image_in_the_manifest(tmp_path):
    from audio.errors import ManifestError
    from audio.manifest import load_manifest

    path = tmp_path / "ep.toml"
    path.write_text(f'[episode]\ntitle = "E"\nnumber = 7\nimage = "art/e.png"\n{SPEAKERS}', encoding="utf-8")
    meta = load_manifest(path).metadata
    assert (meta.number, meta.image) == (7, str(tmp_path / "art" / "e.png"))
    path.write_text(f'[episode]\ntitle = "E"\nnumber = 0\n{SPEAKERS}', encoding="utf-8")
    with pytest.raises(ManifestError, match=r"\[episode\] number 0 is not a positive episode number$"):
        load_manifest(path)
