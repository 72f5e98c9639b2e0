"""Stages 2 and 3 together: the early turns mastered while later ones are still spoken.

Speech takes most of a cold render and mastering (levelling, encoding, the
decoded checks) most of the rest.  One after the other, a core idled while
the last lane of speech finished, and again while mastering's lanes began
and ended: 0.9 s of the seed's 10.6 s.  Here a thread assembles each turn
as soon as its clips and every earlier turn's are made, cuts the parts as
``master.parts_of`` does (its rule, turn by turn), and gives each to a
``PartMaster`` whose lanes encode while the engines speak.  Every part's
samples, key and MP3 are those ``master_turns`` makes from the whole
assembly, so the episode is the same to the byte (tested).

The episode's rate is the highest of its clips' (``assemble``): here it is
taken from the first clip of each voice, and checked against every clip as
it is assembled; were one voice to speak at two rates, the render would assemble
and master again the plain way (:class:`RateChanged`).
"""

from __future__ import annotations

import threading
import wave
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .assemble import Assembler, Assembly
from .errors import SynthesisError
from .master import MIN_PART_S, Mastered, PartMaster
from .speak import SpeechJob


class RateChanged(Exception):
    """A clip spoke at a rate above the one the streamed turns were assembled at (see the module)."""


class ClipWatch:
    """Which clips exist: the synthesizer says so batch by batch (``ready``); the assembler waits."""

    def __init__(self) -> None:
        self._ready: set[Path] = set()
        self._cond = threading.Condition()
        self._stopped = False

    def ready(self, paths: Sequence[Path]) -> None:
        with self._cond:
            self._ready.update(paths)
            self._cond.notify_all()

    def stop(self) -> None:
        """No more clips will come (speech ended or failed): the waiting assembler gives up."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def wait(self, paths: Sequence[Path]) -> bool:
        with self._cond:
            while not self._ready.issuperset(paths):
                if self._stopped:
                    return False
                self._cond.wait()
            return True


def _rate_of(clip: Path) -> int:
    try:
        with wave.open(str(clip), "rb") as w:
            return w.getframerate()
    except (OSError, EOFError, wave.Error) as exc:  # as assemble's own header check says it
        raise SynthesisError(f"clip {Path(clip).name} cannot be read: {exc}") from None


class StreamedAssembly:
    """Turns assembled in a thread of their own as their clips are made, each part given to a master.

    *make_master* makes the ``PartMaster`` once the rate is known.  Tell
    :attr:`watch` of the clips as they are made; after speech,
    :meth:`result` gives the assembly (its timeline: its samples went to the
    master part by part, and ``samples`` is empty) and the joined MP3.  Use
    it as a context manager: leaving early stops the thread and the master.
    """

    def __init__(self, episode, jobs: Sequence[SpeechJob], clips: Sequence[Path],
                 make_master: Callable[[int], PartMaster], min_part_s: float = MIN_PART_S):
        self.episode, self.jobs, self.clips, self.make_master = episode, jobs, list(clips), make_master
        self.min_part_s = min_part_s
        self.watch = ClipWatch()
        self.assembler: Assembler | None = None
        self.master: PartMaster | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="episode-assemble", daemon=True)

    def __enter__(self) -> StreamedAssembly:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.watch.stop()
        self._thread.join()
        if self.master is not None:
            self.master.__exit__(*exc)

    def _run(self) -> None:
        try:
            self._assemble()
        except BaseException as exc:  # noqa: BLE001 - raised again by result()
            self._failure = exc

    def _assemble(self) -> None:
        episode, clips = self.episode, self.clips
        firsts: dict[str, Path] = {}  # each voice's first clip
        for job, clip in zip(self.jobs, clips, strict=True):
            firsts.setdefault(job.spec.base, clip)
        if not self.watch.wait(list(firsts.values())):
            return
        rate = max(_rate_of(c) for c in firsts.values())
        self.master = master = self.make_master(rate)
        a = self.assembler = Assembler(episode.turns, episode.chapters, episode.manifest.pauses,
                                       episode.word_offsets(), rate)
        last = len(episode.turns) - 1
        pieces: list[np.ndarray] = []
        starts: list[int] = []
        for k in range(len(episode.turns)):
            mine = clips[a.first_clip[k]:a.first_clip[k + 1]]
            if not self.watch.wait(mine):
                return
            starts.append(a.cursor)
            pieces += list(a.turn(k, mine))
            # master.parts_of's rule: a part closes once it lasts min_part_s; the last one at the end
            if (a.cursor - starts[0]) >= self.min_part_s * rate and k < last or k == last:
                master.add(np.concatenate(pieces), [s - starts[0] for s in starts], starts[0])
                pieces, starts = [], []
        master.close()

    def result(self, dest: Path) -> tuple[Assembly, Mastered]:
        """Once speech has ended: the assembly's timeline, and the parts joined into *dest*."""
        self.watch.stop()
        self._thread.join()
        if self._failure is not None:
            raise self._failure
        a = self.assembler
        if a is None or self.master is None or len(a.turn_starts) != len(self.episode.turns):
            raise RuntimeError("the streamed assembly stopped before its last turn")
        if a.highest_clip_rate_hz != a.rate_hz:
            raise RateChanged
        return a.assembly(np.zeros(0, dtype="<i2")), self.master.result(dest)
