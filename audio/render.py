"""The pipeline: episode -> speech -> assembly -> loudness -> MP3 -> tags.

The MP3 is built in a temporary file beside the destination and renamed
into place only when it is complete and its chapters read back the same
with ffprobe; any failure or interrupt leaves the destination as it was.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .art import Artwork
from .episode import Episode
from .errors import TagError
from .files import temporary_beside
from .precheck import precheck
from .speak import SynthesisStats, Synthesizer, default_cache_dir

if TYPE_CHECKING:
    from .assemble import ChapterMark, SentenceTiming
    from .loudness import LoudnessReport
    from .sound.plan import Placement

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # stage, done, total
_LATER_STAGES = ("audio.assemble", "audio.outputs.tag", "audio.master")


@dataclass(frozen=True)
class RenderOptions:
    id3_version: int = 3
    cache_dir: Path | None = None  # None: the user's cache folder
    use_cache: bool = True
    workers: int | None = None
    tts_command: tuple[str, ...] | None = None  # the speech worker to run, engine appended (default: audio.engines.worker)
    tts_timeout_s: float | None = None  # per batch of sentences, before it counts as hung
    cover: Artwork | None = None  # embedded as the MP3's front cover (APIC)
    music: bool = True  # False: a [sound] episode's speech alone, as it is in the mix (verify's reference)
    # deliverables encoded from the master beside the MP3 ("m4b", "opus"): their
    # encoders are checked before speech, and the master is kept for them
    encodes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RenderResult:
    path: Path
    episode: Episode
    sentences: tuple[SentenceTiming, ...]
    chapters: tuple[ChapterMark, ...]
    duration_ms: int
    loudness: LoudnessReport  # measured on the decoded MP3
    synthesis: SynthesisStats
    turns_encoded: int = 0  # the rest came from the cache
    placement: Placement | None = None  # where the [sound] table's music went (assembled samples), if any
    # with RenderOptions.encodes: the master as a float32 WAV on the MP3's timeline, a
    # temporary file beside the MP3 that publish() encodes from and removes
    master_pcm: Path | None = None
    encode_cache: Path | None = None  # where encodes of the master are kept (None: --no-cache)


def cache_folder(options: RenderOptions, kind: str) -> Path | None:
    """Where a render keeps one *kind* of what it made (turns, encodes, covers); None with --no-cache."""
    if not options.use_cache:
        return None
    return (options.cache_dir or default_cache_dir()) / kind


def _turn_cache(options: RenderOptions) -> Path | None:
    return cache_folder(options, "turns")


def _synthesiser(options: RenderOptions) -> Synthesizer:
    cache = None
    if options.use_cache:
        cache = options.cache_dir or default_cache_dir()
    kwargs: dict = {"workers": options.workers} if options.workers else {}
    if options.tts_command:
        kwargs["command"] = list(options.tts_command)
    if options.tts_timeout_s:
        kwargs.update(timeout_s=options.tts_timeout_s, timeout_per_job_s=0.0)
    return Synthesizer(cache_dir=cache, **kwargs)


def prepared_synthesizer(episode: Episode, dest: Path, options: RenderOptions = RenderOptions()) -> Synthesizer:
    """A synthesizer for rendering *episode* to *dest*, its first workers already loading their voices.

    A caller that has more to prepare before :func:`render` (the command
    makes the cover art) gets this first and passes it on, so that the
    engines start on the other cores meanwhile: a warm re-render after an
    edit speaks one sentence, and starting its worker is most of that.
    The episode is checked first, so that bad input starts no engine.
    The caller closes it.
    """
    precheck(episode, dest, options)
    synth = _synthesiser(options)
    try:
        synth.prepare(episode.speech_jobs())
    except BaseException:
        synth.close()
        raise
    return synth


def render(episode: Episode, dest: Path, options: RenderOptions = RenderOptions(),
           progress: Progress | None = None, synthesizer: Synthesizer | None = None) -> RenderResult:
    """Render *episode* to the MP3 *dest*; return what was made and measured.

    A caller rendering many episodes passes its own *synthesizer* (and
    closes it when done), so that its speech workers and their cache are
    reused from one episode to the next; *options*' speech settings are
    then the synthesizer's own.
    """
    dest = Path(dest)
    precheck(episode, dest, options)  # what can fail without speech fails before it
    jobs = episode.speech_jobs()
    lay = None
    if episode.manifest.sound is not None:  # (checked by precheck; the files' lengths are known now)
        from .sound.plan import layout

        lay = layout(episode)

    def tick(stage: str, total: int) -> Callable[[int], None]:
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress(stage, done, total)
        return advance

    preload = threading.Thread(target=_import_later_stages, daemon=True)
    preload.start()
    part = temporary_beside(dest, ".part.mp3")
    pcm = temporary_beside(dest, ".master.wav") if options.encodes else None
    try:
        owned = synthesizer is None
        with _synthesiser(options) if owned else contextlib.nullcontext(synthesizer) as synth:
            synth.prepare(jobs)  # the engines start while the later stages are imported
            assembly, mastered, placement = _speak_and_master(episode, jobs, lay, synth, part, pcm, options,
                                                              tick("speech", len(jobs)), progress)
            stats = synth.stats
        preload.join()
        from .assemble import chapter_marks, moved
        from .outputs.tag import episode_tags, mp3_duration_ms, transcript_lines, write_tags

        man = episode.manifest
        loudness = mastered.loudness
        sentences = moved(assembly.sentences, [t * 1000 // assembly.rate_hz for t in assembly.turn_starts],
                          mastered.offsets_ms)
        duration_ms = mp3_duration_ms(part)
        marks = chapter_marks(episode.chapters, sentences, duration_ms)
        transcript = transcript_lines(episode.transcript_turns())
        turn_starts = [s.start_ms for s in sentences if s.sentence_index == 0]
        timeline = {"turn_start_ms": turn_starts, "chapter_turns": [c.turn_index for c in episode.chapters]}
        if placement is not None:
            from .sound.plan import with_sound

            marks, timeline = with_sound(marks, timeline, placement, assembly, mastered.offsets_ms, duration_ms,
                                         man.sound.chapters)
        tags = episode_tags(episode.metadata.title, episode.metadata, transcript, marks, timeline, options.cover)
        write_tags(part, tags, id3_version=options.id3_version)
        _check_with_ffprobe(part, marks)
        if progress:
            progress("loudness and encoding", 1, 1)
        os.chmod(part, 0o644)  # mkstemp made it private; an episode is for publishing
        os.replace(part, dest)
    except BaseException:
        for path in (part, pcm):
            if path is not None:  # no master kept unless a deliverable asked for it
                with contextlib.suppress(OSError):
                    path.unlink()
        raise
    log.info("wrote %s: %.1f s, %.2f LUFS, %.2f dBTP", dest, duration_ms / 1000,
             loudness.integrated_lufs, loudness.true_peak_dbtp)
    return RenderResult(path=dest, episode=episode, sentences=sentences, chapters=marks,
                        duration_ms=duration_ms, loudness=loudness, synthesis=stats,
                        turns_encoded=mastered.encoded, placement=placement, master_pcm=pcm,
                        encode_cache=cache_folder(options, "encodes") if pcm is not None else None)


def _speak_and_master(episode: Episode, jobs, lay, synth: Synthesizer, part: Path, pcm: Path | None,
                      options: RenderOptions, spoken: Callable[[int], None], progress: Progress | None):
    """Speech, assembly and mastering into *part*: (assembly, mastered, the music's placement or None).

    A render without music masters its early turns while later ones are
    spoken (audio.streaming); music is placed on the whole assembly, so a
    render with a [sound] table speaks first, then mixes and masters.
    """
    from .assemble import assemble
    from .master import MasteringTargets, PartMaster, master_turns

    man = episode.manifest
    targets = MasteringTargets(man.target_lufs, man.true_peak_dbtp, man.bitrate_kbps)
    if lay is None:
        from .streaming import RateChanged, StreamedAssembly

        def make_master(rate_hz: int) -> PartMaster:
            return PartMaster(rate_hz, targets, _turn_cache(options), options.workers, pcm=pcm, eager=True)

        with StreamedAssembly(episode, jobs, [synth.clip_path(j) for j in jobs], make_master) as stream:
            clips = synth.synthesise(jobs, progress=spoken, ready=stream.watch.ready)
            if progress:
                progress("loudness and encoding", 0, 1)
            try:
                assembly, mastered = stream.result(part)
                return assembly, mastered, None
            except RateChanged:
                log.warning("a voice spoke at two sample rates; assembling the episode again at the highest")
        assembly = assemble(episode.turns, episode.chapters, clips, man.pauses, episode.word_offsets())
        return assembly, master_turns(assembly.samples, assembly.rate_hz, list(assembly.turn_starts), part,
                                      targets, cache_dir=_turn_cache(options), workers=options.workers,
                                      pcm=pcm), None
    clips = synth.synthesise(jobs, progress=spoken)
    if progress:
        progress("loudness and encoding", 0, 1)
    from .sound.mix import MusicLayer
    from .sound.plan import place

    # music is mixed after speech, so that speech and its cache stay as they are
    assembly = assemble(episode.turns, episode.chapters, clips, man.pauses, episode.word_offsets(),
                        room_ms=dict(lay.room_ms), tail_ms=lay.tail_ms)
    placement = place(lay, assembly, man.target_lufs)
    assembly = replace(assembly, samples=assembly.samples[:placement.end])
    layer = MusicLayer(placement)
    if not options.music:  # the speech of the mix alone, as verify compares it
        from .sound.mix import master_speech_stem

        return assembly, master_speech_stem(assembly.samples, assembly.rate_hz, list(assembly.turn_starts), part,
                                            targets, _turn_cache(options), layer, options.workers), placement
    return assembly, master_turns(assembly.samples, assembly.rate_hz, list(assembly.turn_starts), part, targets,
                                  cache_dir=_turn_cache(options), workers=options.workers, layer=layer,
                                  pcm=pcm), placement


def _import_later_stages() -> None:
    """Load what comes after speech (numpy, mutagen, PyAV: about 0.15 s) while the workers speak."""
    for name in _LATER_STAGES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - render imports it again after speech and reports why it fails
            return


def _check_with_ffprobe(path: Path, marks: tuple[ChapterMark, ...]) -> None:
    """An independent reader must see the chapters we wrote, in order."""
    from .outputs.tag import ffprobe_chapters

    seen = ffprobe_chapters(path)
    want = [(m.start_ms, m.end_ms, m.title) for m in marks]
    got = [(c["start_ms"], c["end_ms"], c["title"]) for c in seen]
    if got != want:
        diff = next((g, w) for g, w in zip(got + [None] * len(want), want) if g != w)
        raise TagError(f"ffprobe reads different chapters than were written: {diff[0]} for {diff[1]}")
