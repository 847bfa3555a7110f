"""CI hides nothing: under CI a skipped test fails the run, unknown markers are errors, and
.ci/system-packages names what is missing and exits 1 instead of going on without it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
SKIPPING = """
import pytest

def test_passes():
    pass

def test_skips():
    pytest.skip("needs FluidSynth")

@pytest.mark.skipif(True, reason="needs Chromium")
def test_skipped_by_mark():
    pass
"""


def _pytest(folder: Path, ci: str | None, *args: str) -> subprocess.CompletedProcess:
    """Our conftest and pytest settings on a tiny test file (a fresh process, no TensorFlow)."""
    shutil.copy(Path(__file__).parent / "conftest.py", folder / "conftest.py")
    shutil.copy(ROOT / "pyproject.toml", folder / "pyproject.toml")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def test_a_skip_fails_the_run_under_ci(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(SKIPPING)
    local = _pytest(tmp_path, None)
    assert local.returncode == 0 and "1 passed, 2 skipped" in local.stdout, local.stdout
    ci = _pytest(tmp_path, "true")
    assert ci.returncode == 1, ci.stdout
    assert "skipped under CI=true" in ci.stdout
    assert "needs FluidSynth" in ci.stdout and "needs Chromium" in ci.stdout
    assert _pytest(tmp_path, "false").returncode == 0


def test_unknown_markers_are_errors(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_y.py").write_text(
        "import pytest\n\n@pytest.mark.slowww\ndef test_typo():\n    pass\n")
    done = _pytest(tmp_path, None)
    assert done.returncode != 0 and "'slowww' not found in `markers`" in done.stdout + done.stderr


def _bin_with(tmp_path: Path, commands: list[str]) -> Path:
    """A PATH folder holding only ``commands`` (links to the real ones) and no apt-get."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in commands:
        real = shutil.which(name)
        assert real, f"{name} is needed to run this test (.ci/system-packages installs it)"
        (folder / name).symlink_to(real)
    return folder


def test_system_packages_check_names_what_is_missing(tmp_path):
    script = ROOT / ".ci" / "system-packages"
    folder = _bin_with(tmp_path, ["id", "chromium", "ffmpeg"])  # no fluidsynth, no chromedriver
    done = subprocess.run(["/bin/bash", str(script)], env={"PATH": str(folder)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "apt-get not found" in done.stderr and "MISSING" in done.stderr
    assert "fluidsynth (command)" in done.stderr and "chromedriver (command)" in done.stderr
    assert "ffmpeg (command)" not in done.stderr and "chromium (command)" not in done.stderr


def test_system_packages_check_passes_when_everything_is_there(tmp_path):
    folder = _bin_with(tmp_path, ["id", "fluidsynth", "chromium", "chromedriver", "ffmpeg"])
    done = subprocess.run(["/bin/bash", str(ROOT / ".ci" / "system-packages")],
                          env={"PATH": str(folder)}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout
