"""The speech worker: real synthesis, and every way it can fail."""

from __future__ import annotations

import json
import sys
import wave

import pytest

from audio.engines.clip import read_marks as word_marks
from audio.errors import SynthesisError
from audio.speak import SpeechJob, Synthesizer, check_cached, check_clip

JOB = SpeechJob(text="The Islamic State claimed the attack.", voice="gmw/en-us+m3", rate_wpm=160)

# A worker that writes what the test asks instead of speech (one request line, one answer line).
FAKE = r"""
import json, sys, time, wave
mode = sys.argv[1]
req = json.loads(sys.stdin.readline())
if mode == "hang":
    time.sleep(60)
if mode == "crash":
    sys.stderr.write("Segmentation fault\n")
    sys.exit(139)
for job in req["jobs"]:
    if mode == "empty":
        open(job["path"], "wb").close()
    elif mode == "silent":
        with wave.open(job["path"], "wb") as w:
            w.setnchannels(1); w.setsampwidth(2); w.setframerate(22050)
            w.writeframes(b"\0\0" * 22050)
print(json.dumps({"results": []}), flush=True)
"""


def _fake(mode: str) -> list[str]:
    return [sys.executable, "-c", FAKE, mode]


def test_real_synthesis_writes_valid_clips(tmp_path):
    jobs = [JOB, SpeechJob("A second sentence, in another voice.", "gmw/en-gb-x-rp+m1", 155)]
    with Synthesizer(cache_dir=tmp_path, workers=2) as synth:
        paths = synth.synthesise(jobs)
        assert synth.stats.synthesised == 2
    for path, job in zip(paths, jobs):
        assert check_clip(path, job.text) > 1.0
    with wave.open(str(paths[0])) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)


def test_clips_carry_a_cue_point_per_word(tmp_path):
    job = SpeechJob("Zelin leads a project tracking jihadist groups.", "gmw/en-us", 160, 40)
    with Synthesizer(cache_dir=tmp_path, workers=1) as synth:
        [path] = synth.synthesise([job])
    marks = word_marks(path)
    with wave.open(str(path)) as w:  # the extra chunk leaves the WAV readable
        frames = w.getnframes()
    word_starts = [job.text.index(word) for word in job.text.split()]
    # espeak-ng may fold a short word into the next ("a project"): one miss allowed
    assert len(set(word_starts) - {char for char, _ in marks}) <= 1
    samples = [sample for _, sample in marks]
    assert samples == sorted(samples) and samples[-1] < frames
    assert samples[1] > 0.05 * 22050  # "Zelin" takes time to say


def test_a_clip_does_not_depend_on_what_was_spoken_before(tmp_path):
    before = [SpeechJob("First, a long sentence with many words to move the engine along.", "gmw/en-us", 160, 40),
              SpeechJob("Then another voice, briefly.", "gmw/en-gb-x-rp+m1", 155, 40)]
    with Synthesizer(cache_dir=tmp_path / "a", workers=1) as synth:
        after_others = synth.synthesise([*before, JOB])[-1]
    with Synthesizer(cache_dir=tmp_path / "b", workers=1) as synth:
        alone = synth.synthesise([JOB])[0]
    assert after_others.read_bytes() == alone.read_bytes()


def test_the_same_job_gives_the_same_clip_every_time(tmp_path):
    """Run directly through the worker: the cache would hand back the first clip."""
    import json
    import subprocess

    from audio.speak import worker_command

    # Two of the seed's sentences, one per voice, alternating: before the worker
    # waited for espeak-ng to apply its settings, about one run in ten of
    # each came out without its word gap.
    seed = [("Irahnian leaders have vowed to retaliate against the eye ess perpetrators of the January 3 "
             "suicide bom-ings that killed at least 90 people in the city of Kerman.", "gmw/en-us", 150),
            ("One is information directly coming from the Irahnian government.", "gmw/en-gb-x-rp+m1", 155)]
    jobs = [{"text": text, "voice": voice, "rate_wpm": rate, "word_gap_ms": 40, "path": str(tmp_path / f"{n}-{k}.wav")}
            for n in range(50) for k, (text, voice, rate) in enumerate(seed)]
    proc = subprocess.run([*worker_command(), "pyttsx3"], input=json.dumps({"jobs": jobs}).encode() + b"\n",
                          capture_output=True, timeout=180, check=True)
    assert all(r["ok"] for r in json.loads(proc.stdout)["results"])
    for k in range(len(seed)):
        clips = [(tmp_path / f"{n}-{k}.wav").read_bytes() for n in range(50)]
        sizes = sorted({len(c) for c in clips})
        assert len(set(clips)) == 1, f"sentence {k}: {len(set(clips))} different clips, sizes {sizes}"


def test_a_clip_without_cue_points_has_no_marks(tmp_path):
    path = tmp_path / "plain.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(22050)
        w.writeframes(b"\x00\x10" * 2205)
    assert word_marks(path) == ()


@pytest.mark.parametrize("mode, message", [
    ("hang", "text-to-speech failed twice: the speech worker hung (no answer in 2 s)"),
    ("crash", "text-to-speech failed twice: the speech worker crashed (exit 139): Segmentation fault"),
    ("empty", "text-to-speech failed twice: the audio file is not a valid WAV"),
    ("silent", "text-to-speech failed twice: the audio file is silent for 'The Islamic State claimed the attack.'"),
])
def test_worker_failures_are_reported(tmp_path, mode, message):
    synth = Synthesizer(cache_dir=tmp_path, workers=1, command=_fake(mode), timeout_s=1.0,
                        timeout_per_job_s=1.0)
    with pytest.raises(SynthesisError) as err:
        synth.synthesise([JOB])
    assert str(err.value).startswith(message)
    # nothing unusable was left in the cache
    assert not list(tmp_path.rglob("*.wav"))


def test_concurrent_synthesis_into_one_cache(tmp_path):
    """Two caches-full of work at once: each key ends with exactly one clip."""
    import threading

    jobs = [SpeechJob(f"Sentence number {n} is here.", "gmw/en-us", 160, 40) for n in range(6)]
    results = {}

    def work(name):
        with Synthesizer(cache_dir=tmp_path, workers=1) as synth:
            results[name] = [p.read_bytes() for p in synth.synthesise(jobs)]
    threads = [threading.Thread(target=work, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["a"] == results["b"]
    assert len([p for p in tmp_path.rglob("*.wav") if p.name.count(".") == 2]) == 6


def test_a_cache_copied_without_its_hard_links_still_hits(tmp_path):
    """cp -r, rsync without -H and most archives copy a clip and its content file apart."""
    import shutil

    with Synthesizer(cache_dir=tmp_path / "made") as synth:
        synth.synthesise([JOB])
    shutil.copytree(tmp_path / "made", tmp_path / "copied")
    assert all(p.stat().st_nlink == 1 for p in (tmp_path / "copied").rglob("*.wav"))
    with Synthesizer(cache_dir=tmp_path / "copied") as synth:
        path = synth.synthesise([JOB])[0]
        assert (synth.stats.synthesised, synth.stats.from_cache) == (0, 1)
        data = bytearray(path.read_bytes())  # a damaged copy is still found out
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        with pytest.raises(SynthesisError, match="does not match its digest"):
            check_cached(path, JOB.text)


def _spied_workers(monkeypatch) -> list:
    from audio.engines import worker

    started, real = [], worker.WorkerProcess.__init__

    def spy(self, argv, threads, preload=()):
        real(self, argv, threads, preload)
        started.append(self)
    monkeypatch.setattr(worker.WorkerProcess, "__init__", spy)
    return started


def _preloaded(worker) -> list[str]:
    from pathlib import Path

    env = dict(v.split("=", 1) for v in Path(f"/proc/{worker.proc.pid}/environ").read_text().split("\0") if "=" in v)
    return json.loads(env["EPISODE_PRELOAD_VOICES"])


def test_prepare_starts_the_first_workers_with_their_voices_and_synthesise_uses_them(tmp_path, monkeypatch):
    from audio import schedule

    started = _spied_workers(monkeypatch)
    jobs = [SpeechJob(text=f"Guest sentence number {k}.", voice="piper:en_US-joe-medium") for k in range(3)]
    jobs += [SpeechJob(text="A question from the host?", voice="hibari:heart")]
    with Synthesizer(cache_dir=tmp_path, workers=2) as synth:
        plan = schedule.plan([(synth.clip_path(j), j) for j in jobs], 2, synth.batch_size)
        synth.prepare(jobs)
        ahead = list(started)
        # one worker for each lane's first engine, told the voices of the batch that lane takes first
        assert sorted(w.proc.args[-1] for w in ahead) == sorted(lane[0] for lane in plan.lanes)
        for w in ahead:
            assert _preloaded(w) == [{"piper": "en_US-joe-medium", "hibari": "heart"}[w.proc.args[-1]]]
        synth.prepare(jobs)  # prepared already: nothing more is started
        assert started == ahead
        synth.synthesise(jobs)
        assert synth.stats.synthesised == 4
        assert started == ahead and all(w.requests for w in ahead)  # speech went to the workers started ahead
        synth.prepare(jobs)  # everything cached: nothing to start
        assert started == ahead


def test_a_worker_started_ahead_and_never_asked_is_killed_at_close(tmp_path, monkeypatch):
    from audio.engines import worker

    started = _spied_workers(monkeypatch)
    waited = []
    monkeypatch.setattr(worker.WorkerProcess, "close", lambda self: waited.append(self))
    synth = Synthesizer(cache_dir=tmp_path, workers=1, command=[sys.executable, "-c", "import time; time.sleep(60)"])
    synth.prepare([JOB])
    assert len(started) == 1 and started[0].proc.poll() is None
    synth.close()  # the render failed, or was interrupted, before speech
    assert started[0].proc.returncode == -9 and not waited


def test_a_preloaded_voice_that_fails_is_left_for_its_job_to_report():
    from audio.engines.worker import _preload

    class Worker:
        loaded: list = []

        def preload(self, voice):
            if voice == "broken":
                raise RuntimeError("no such model")
            self.loaded.append(voice)

    w = Worker()
    _preload(w, json.dumps(["broken", "heart"]))
    assert w.loaded == ["heart"]
    _preload(w, "not json")  # an environment it did not set: ignored
    _preload(object(), json.dumps(["heart"]))  # an engine without voices to load (pyttsx3)
    assert w.loaded == ["heart"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "orphan"])
def test_damaged_cache_entry_is_remade(tmp_path, damage):
    with Synthesizer(cache_dir=tmp_path) as synth:
        path = synth.synthesise([JOB])[0]
        good = path.read_bytes()
        if damage == "truncate":
            path.write_bytes(good[: len(good) // 2])
            with pytest.raises(SynthesisError, match="truncated"):
                check_clip(path, JOB.text)
        elif damage == "flip":  # one byte of audio changed: the structure still looks right
            data = bytearray(good)
            data[len(data) // 2] ^= 0xFF
            path.write_bytes(bytes(data))
            check_clip(path, JOB.text)
            with pytest.raises(SynthesisError, match="does not match its digest"):
                check_cached(path, JOB.text)
        else:  # a clip without its content file, as a crash between the two writes would leave
            for sibling in path.parent.glob(f"{path.stem}.*.wav"):
                sibling.unlink()
        again = synth.synthesise([JOB])[0]
        assert synth.stats.synthesised == 1
        check_cached(again, JOB.text)


def test_cache_hit_synthesises_nothing(tmp_path):
    with Synthesizer(cache_dir=tmp_path) as synth:
        synth.synthesise([JOB])
        synth.synthesise([JOB])
        assert (synth.stats.synthesised, synth.stats.from_cache) == (0, 1)


def test_the_drivers_wait_loop_polls_every_millisecond():
    import time
    import types

    from audio.engines.pyttsx3 import _POLL_S, _poll_faster

    slept = []

    def sleep(seconds):
        slept.append(seconds)
    real = types.SimpleNamespace(sleep=sleep, monotonic=time.monotonic)
    driver = types.SimpleNamespace(time=real)
    _poll_faster(driver)
    driver.time.sleep(0.01)  # what pyttsx3's startLoop asks for
    driver.time.sleep(0.0005)
    assert slept == [_POLL_S, 0.0005]  # capped at 1 ms, shorter waits untouched
    assert driver.time.monotonic is time.monotonic  # the rest of the module is untouched
    assert real.sleep is sleep  # and the module it wraps too


def _jobs(voice: str, n: int, words: int) -> list:
    from pathlib import Path

    return [(Path(f"{voice}-{k}.wav"), SpeechJob(text="word " * words, voice=voice, rate_wpm=150)) for k in range(n)]


def _simulated(plan) -> tuple[list[float], list[set[str]], list]:
    """Run *plan* as the synthesizer does, on its own estimates: each lane's end, the voices each lane
    loaded, and the batches in the order they were taken."""
    from audio import schedule

    clocks = [0.0] * len(plan.lanes)
    loaded: list[set[str]] = [set() for _ in plan.lanes]
    taken, active = [], set(range(len(plan.lanes)))
    while active:
        lane = min(active, key=lambda n: clocks[n])
        batch = plan.next_batch(lane, loaded[lane])
        if batch is None:
            active.discard(lane)
            continue
        if batch.engine not in loaded[lane]:
            loaded[lane].add(batch.engine)
            clocks[lane] += schedule.setup_ms(batch.engine)
        clocks[lane] += batch.work_ms
        taken.append(batch)
    return clocks, loaded, taken


def test_the_plan_loses_no_job_caps_each_request_and_speaks_in_transcript_order():
    from audio import schedule

    items = _jobs("hibari:heart", 30, 20) + _jobs("piper:en_US-joe-medium", 45, 30) + _jobs("v", 13, 9)
    for lanes in (1, 2, 3, 8):
        plan = schedule.plan(items, lanes, max_batch=4)
        assert 1 <= len(plan.lanes) <= lanes
        _, _, taken = _simulated(plan)
        assert sorted(str(p) for b in taken for p, _ in b.items) == sorted(str(p) for p, _ in items)
        assert all(1 <= len(b) <= 4 and {j.spec.engine for _, j in b.items} == {b.engine} for b in taken)
        for engine in ("hibari", "piper", "pyttsx3"):  # each engine's sentences are taken front first
            said = [p for b in taken if b.engine == engine for p, _ in b.items]
            assert said == [p for p, j in items if j.spec.engine == engine]
    one = schedule.plan(items[:1], 4, 40)
    assert one.lanes == [["hibari"]] and [len(b) for b in one.queues["hibari"]] == [1]


def test_the_plan_weighs_each_engine_by_its_cost_and_loads_a_voice_where_it_pays():
    """The seed's shape: Piper says most, and costs 7 times hibari a character."""
    from audio import schedule

    items = _jobs("hibari:heart", 17, 25) + _jobs("piper:en_US-joe-medium", 33, 20)
    plan = schedule.plan(items, 2, max_batch=40)
    ends, loaded, _ = _simulated(plan)
    # hibari loads once; Piper's work is shared by both cores, which end together
    assert sorted(map(sorted, loaded)) == [["hibari", "piper"], ["piper"]]
    assert max(ends) - min(ends) < 0.05 * max(ends)
    # one lane a voice, as dealing by engine did, would end with Piper's whole work
    piper = sum(schedule.work_ms(j) for _, j in items[17:])
    assert max(ends) < 0.75 * (piper + schedule.setup_ms("piper"))


def test_an_engine_with_little_to_say_loads_its_voice_once():
    """Two engines with a dozen short sentences each: one lane each, side by side, not both on each."""
    from audio import schedule

    panel = _jobs("hibari:heart", 12, 12) + _jobs("hibari:heart~deep", 4, 12) + _jobs("piper:en_US-joe-medium", 3, 12)
    plan = schedule.plan(panel, 2, max_batch=40)
    assert sorted(plan.lanes) == [["hibari"], ["piper"]]
    _, loaded, _ = _simulated(plan)
    assert sorted(map(sorted, loaded)) == [["hibari"], ["piper"]]
    # one engine alone with little to say: one lane, one load, the other core left to the rest of the render
    assert len(schedule.plan(_jobs("piper:en_US-joe-medium", 2, 4), 2, max_batch=40).lanes) == 1


def test_a_lane_whose_engines_are_done_helps_only_where_it_pays():
    from collections import deque

    from audio import schedule

    def batch(engine: str, ms: float):
        return schedule.Batch(engine, (), ms)

    plan = schedule.Plan([["hibari"], ["piper"]], {"hibari": deque(), "piper": deque([batch("piper", 300)] * 2)})
    # no Piper worker in lane 0: 0.6 s waiting does not pay for starting one (0.4 s) twice over
    assert 600 < 2 * schedule.setup_ms("piper") and plan.next_batch(0, loaded=set()) is None
    # with one loaded (from an earlier episode), the front of the queue is taken
    assert plan.next_batch(0, loaded={"piper"}).engine == "piper" and len(plan.queues["piper"]) == 1
    plan.queues["piper"].extend(batch("piper", 2500) for _ in range(2))
    assert plan.next_batch(0, loaded=set()).engine == "piper"  # 5.3 s waiting: worth a load
