"""Shared fixtures: the seed episode is rendered once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from audio.episode import load_episode
from audio.render import RenderOptions, render

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "flashpoint-iran-zelin.txt"
SEED_MANIFEST = ROOT / "seeds" / "flashpoint-iran-zelin.toml"


@pytest.fixture(scope="session")
def clip_cache(tmp_path_factory) -> Path:
    """One clip cache for the session, so clips are synthesised once."""
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def seed_episode():
    return load_episode(SEED)


@pytest.fixture(scope="session")
def seed_render(tmp_path_factory, clip_cache, seed_episode):
    out = tmp_path_factory.mktemp("render") / "seed.mp3"
    return render(seed_episode, out, RenderOptions(cache_dir=clip_cache))


@pytest.fixture(scope="session")
def seed_heard(seed_render):
    """What Whisper tiny.en hears in the rendered seed (transcribed once)."""
    from audio.transcribe import recognise

    return recognise(seed_render.path)


@pytest.fixture(scope="session")
def seed_published(seed_render):
    from audio.outputs.publish import publish

    return {p.name: p for p in publish(seed_render)}


@pytest.fixture(scope="session")
def seed_render_pyttsx3(tmp_path_factory, clip_cache):
    """The seed through `--engine pyttsx3`: espeak-ng's voices and espeak-ng's lexicon."""
    episode = load_episode(SEED, engine="pyttsx3")
    out = tmp_path_factory.mktemp("render-pyttsx3") / "seed.mp3"
    return render(episode, out, RenderOptions(cache_dir=clip_cache))


@pytest.fixture(scope="session")
def seed_heard_pyttsx3(seed_render_pyttsx3):
    from audio.transcribe import recognise

    return recognise(seed_render_pyttsx3.path)
