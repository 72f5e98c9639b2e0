"""Stage 2a: which worker speaks which sentences: one lane a core, each loading the voices it speaks.

The engines differ sevenfold in what a sentence costs (Piper's ``joe``
speaks a character in about 3 ms of CPU, hibari in 0.45 ms, espeak-ng in
0.2 ms), and a worker with a neural voice takes 0.4 s (Piper) to 0.7 s
(hibari) to start, as much as one to four sentences, so
work is estimated per engine (each engine module's ``COST``) and laid out
by McNaughton's wrap-around rule: the lanes are filled one after the other
up to a capacity, and an engine's work that crosses a lane's end goes on
in the next, which then loads that voice too.  The least capacity that
fits is found by bisection.  On the seed this loads hibari once and Piper
twice, where dealing equal batches per engine loaded each twice and left a
core idle while hibari loaded again at the end.

The layout decides only which lanes load which voices.  Lanes that share
an engine take its sentences from one queue, front first, in requests of
about a second: the sentences are made in transcript order, so that turns
are mastered while later ones are spoken (audio.streaming), and those
lanes end together however far the estimates are off.  A clip does not
depend on its batch (pyttsx3 speaks each job in a fresh engine, the
neural engines seed their noise per job), so none of this changes what a
sentence sounds like.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import engines

if TYPE_CHECKING:
    from .speak import SpeechJob

Item = tuple[Path, "SpeechJob"]

WORKER_START_MS = 100  # a worker process's Python and imports, before any voice: the same for every engine
# A load's CPU counted against a plan besides the time it ends: a core that loads a voice to end
# 0.1 s sooner takes 0.7 s from the other renders of a batch, and from the rest of this one.
LOAD_WEIGHT = 0.25
PIECE_MS = 1000  # estimated work per request: small enough for the last ones to be shared out
MIN_PIECE_MS = 250


@dataclass(frozen=True)
class Batch:
    engine: str
    items: tuple[Item, ...]
    work_ms: float  # estimated, without any load

    def __len__(self) -> int:
        return len(self.items)


def cost(engine: str) -> engines.WorkCost:
    return engines.engine(engine).COST


def work_ms(job: SpeechJob) -> float:
    c = cost(job.spec.engine)
    return c.per_job_ms + c.per_char_ms * len(job.text)


def setup_ms(engine: str) -> float:
    """What a lane pays before its first sentence of *engine*: a worker process and its voice."""
    return WORKER_START_MS + cost(engine).load_ms


@dataclass
class Plan:
    """Which engines each lane speaks, in order, and each engine's batches, one queue shared by its lanes."""

    lanes: list[list[str]]
    queues: dict[str, deque[Batch]]

    def next_batch(self, lane: int, loaded: set[str]) -> Batch | None:
        """The next batch for *lane*: from its own engines' queues in order, front first (transcript order).

        A lane whose engines are done helps with another's, if it has a
        worker of that engine loaded (*loaded*) or what waits there is more
        than twice what loading the voice costs, so that a new worker speaks
        for longer than it took to start.  The caller holds the lock that
        guards the queues.
        """
        for engine in self.lanes[lane]:
            if self.queues[engine]:
                return self.queues[engine].popleft()
        best: tuple[float, str] | None = None
        for engine, queue in self.queues.items():
            waiting = sum(b.work_ms for b in queue)
            if queue and (engine in loaded or waiting > 2 * setup_ms(engine)) and (best is None or waiting > best[0]):
                best = (waiting, engine)
        return self.queues[best[1]].popleft() if best is not None else None

    def clear(self) -> None:
        for queue in self.queues.values():
            queue.clear()


def plan(items: Sequence[Item], lanes: int, max_batch: int) -> Plan:
    """Which of at most *lanes* lanes speak which engines, and the batches (at most *max_batch* sentences).

    For each number of lanes used and each order of the engines (there are
    at most three), the least capacity the wrap-around fills is found by
    bisection; of those plans, the one that ends first wins, each load
    counted at LOAD_WEIGHT of its time besides, so that a second core
    loads a voice only to save more than a little.  The plan says only
    which lanes load which voices: lanes that share an engine take its
    batches from one queue, front first, so that the sentences are made in
    transcript order (turns can be mastered while later ones are spoken,
    audio.streaming) and those lanes end together whatever the estimates.
    """
    by_engine: dict[str, list[tuple[Item, float]]] = {}
    for item in items:
        by_engine.setdefault(item[1].spec.engine, []).append((item, work_ms(item[1])))
    total = sum(setup_ms(e) + sum(w for _, w in run) for e, run in by_engine.items())
    best: tuple[float, list] | None = None
    for used in range(1, max(1, min(lanes, len(items))) + 1):
        for order in itertools.permutations(by_engine):
            low, high = total / used, total + 1  # one lane holding everything always fits
            layout = _wrap(order, by_engine, used, high)
            while high - low > 10:  # ms: finer than any estimate
                mid = (low + high) / 2
                if (tried := _wrap(order, by_engine, used, mid)) is None:
                    low = mid
                else:
                    high, layout = mid, tried
            score = max(_load(lane) for lane in layout) + LOAD_WEIGHT * sum(
                setup_ms(engine) for lane in layout for engine, _ in lane)
            if best is None or score < best[0]:
                best = (score, layout)
    assert best is not None
    serving = Counter(engine for lane in best[1] for engine, _ in lane)
    # an engine other lanes speak too goes last in a lane, so that lanes end on work they share
    lanes_of = [sorted(dict.fromkeys(e for e, _ in lane), key=lambda e: serving[e] > 1) for lane in best[1] if lane]
    queues = {e: deque(_pieces(e, by_engine[e], serving[e], max_batch)) for e in by_engine}
    return Plan(lanes_of, queues)


def _load(lane: list[tuple[str, list[tuple[Item, float]]]]) -> float:
    return sum(setup_ms(e) + sum(w for _, w in run) for e, run in lane)


def _wrap(order: Sequence[str], by_engine: dict[str, list[tuple[Item, float]]], lanes: int,
          capacity: float) -> list[list[tuple[str, list[tuple[Item, float]]]]] | None:
    """McNaughton's wrap-around with a voice to load for each run of an engine; None if *lanes* are too few."""
    out: list[list[tuple[str, list[tuple[Item, float]]]]] = [[] for _ in range(lanes)]
    lane, used = 0, 0.0
    for engine in order:
        rest = by_engine[engine]
        setup = setup_ms(engine)
        while rest:
            take, acc = 0, used + setup
            while take < len(rest) and acc + rest[take][1] <= capacity:
                acc += rest[take][1]
                take += 1
            if take:
                out[lane].append((engine, rest[:take]))
                rest, used = rest[take:], acc
            if rest:  # this lane is full
                if not take and not used:  # one sentence and its load outgrow the capacity
                    return None
                lane, used = lane + 1, 0.0
                if lane == lanes:
                    return None
    return out


def _pieces(engine: str, run: list[tuple[Item, float]], lanes: int, max_batch: int) -> list[Batch]:
    """An engine's sentences, in order, as requests of at most *max_batch*: about PIECE_MS each, and
    smaller towards the end (what is left shared by its *lanes*, a third each, down to MIN_PIECE_MS),
    so that its lanes end close together."""
    left = sum(w for _, w in run)
    out, items, acc = [], [], 0.0
    for item, w in run:
        size = max(MIN_PIECE_MS, min(PIECE_MS, left / (3 * lanes)))
        if items and (acc + w > size or len(items) >= max_batch):
            out.append(Batch(engine, tuple(items), acc))
            items, acc = [], 0.0
        items.append(item)
        acc += w
        left -= w
    if items:
        out.append(Batch(engine, tuple(items), acc))
    return out
