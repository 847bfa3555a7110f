"""The README's "Using midigen_tf from Python" example, run exactly as written (issue 22): it
loads the shipped model ``lstm-seed003``, writes an argmax and a sampled piece, reads them back."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from midigen_tf import shipped
from midigen_tf.io.midi import read_notes

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Using midigen_tf from Python"


def readme_example() -> str:
    """The one ```python block of the README's section (up to the next ``## `` heading)."""
    text = README.read_text(encoding="utf-8")
    assert text.count(SECTION) == 1, f"README.md has no single {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```", section, flags=re.S | re.M)
    assert len(blocks) == 1, f"{SECTION!r} should hold one python block, not {len(blocks)}"
    return blocks[0]


@pytest.mark.slow
def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    code = readme_example()
    assert 10 <= len(code.strip().splitlines()) <= 20  # short, as the issue asks
    assert "lstm-seed003" in shipped.available()  # the shipped model the example names
    monkeypatch.chdir(tmp_path)  # the example writes its pieces where it runs
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(code, str(README), "exec"), namespace)  # the README's text, unchanged

    out = capsys.readouterr().out
    argmax, sampled = namespace["argmax"], namespace["sampled"]
    assert Path(argmax) != Path(sampled)  # two pieces, written in the working folder
    assert (tmp_path / argmax).is_file() and (tmp_path / sampled).is_file()
    assert namespace["options"].temperature is not None  # the second piece really is sampled
    for path in (argmax, sampled):
        notes = read_notes(tmp_path / path)
        assert len(notes) >= namespace["options"].n  # one note or chord per generated step
        assert notes["end"].max() > notes["start"].min()  # notes with lengths, in time order
        assert f"{path} {len(notes)} notes" in out  # what the example prints is what was written
