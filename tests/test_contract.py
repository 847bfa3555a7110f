"""The written contract: layers that only point down, and every pipeline's hooks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import midigen_tf
from midigen_tf import registry
from midigen_tf.pipelines.base import Pipeline, no_after_training, no_callbacks

PACKAGE = Path(midigen_tf.__file__).parent
# A module may import only from its own layer or lower ones; a module not listed is layer 3
# (generate, bundle, registry, checkpoints, distribute, loading, references).
LAYER = {"errors": 0, "config": 0, "sampling": 0, "evaluate": 1, "data": 1, "io": 1, "models": 2,
         "pipelines": 4, "train": 5, "compare": 5, "evaluate_report": 5, "cli": 6, "cli_tools": 6,
         "app": 6}


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYER.get(parts[1], 3) if len(parts) > 1 else 3


def imports() -> dict[str, set[str]]:
    """``{module: the midigen_tf modules it imports}``, read from the code (imports inside
    functions included)."""
    names = {".".join(("midigen_tf", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
             for p in PACKAGE.rglob("*.py")}
    out: dict[str, set[str]] = {}
    for name in names:
        path = PACKAGE.joinpath(*name.split(".")[1:])
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        out[name] = {t for t in found if t in names and t != name and not name.startswith(t + ".")}
    return out


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), list(graph[start])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += graph[module]
    return seen


def test_no_module_imports_a_higher_layer_or_its_importer():
    graph = imports()
    assert len(graph) > 40  # the walk found the package
    upward = sorted(f"{m} -> {t}" for m, ts in graph.items() for t in ts if layer(t) > layer(m))
    assert upward == []
    assert sorted(m for m in graph if m in reachable(graph, m)) == []  # no import cycle


def test_the_layer_check_can_fail():
    assert layer("midigen_tf.pipelines.notes") > layer("midigen_tf.loading") > layer("midigen_tf.models.lstm")
    assert "midigen_tf.data.notes" in imports()["midigen_tf.loading"]


@pytest.mark.parametrize("family", sorted(registry._families()))
def test_every_family_has_a_pipeline_object_and_only_the_four_names(family):
    module = registry.family_module(family)
    pipe = registry.pipeline(family)
    assert isinstance(pipe, Pipeline) and pipe.name == module.PIPELINE
    assert not hasattr(module, "callbacks") and not hasattr(module, "after_training")
    assert callable(pipe.prepare) and callable(pipe.generate)


def test_hooks_and_their_defaults():
    notes, folk = registry.pipeline("lstm"), registry.pipeline("folk-melody-lstm")
    assert notes.default_data is None and folk.default_data == "esac"
    assert notes.after_training is no_after_training and notes.callbacks is no_callbacks
    assert notes.callbacks(registry.make_config("lstm")) == []
    pitch = registry.pipeline("maestro-pitch")
    assert [type(c).__name__ for c in pitch.callbacks(registry.make_config("maestro-pitch"))] == [
        "EarlyStopping", "ReduceLROnPlateau"]
    assert folk.callbacks(registry.make_config("melody-lstm")) == []
    (decay,) = registry.pipeline("folk-vae").callbacks(registry.make_config("vae"))
    assert [decay.schedule(e, 0.0) for e in (0, 9, 10, 20)] == pytest.approx([5e-3, 5e-3, 5e-4, 5e-5])


def test_library_code_never_prints_it_reports_through_echo(tmp_path, capsys):
    calls = sorted(f"{p.relative_to(PACKAGE)}:{node.lineno}" for p in PACKAGE.rglob("*.py")
                   for node in ast.walk(ast.parse(p.read_text()))
                   if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "print")
    assert calls == []
    from midigen_tf.pipelines.base import Prepared

    said: list[str] = []
    prepared = Prepared(train=None, config={"pos_weight": 1.0, "batch_size": 8}, samples=64)
    registry.pipeline("pianoroll").after_training(None, prepared, tmp_path, [{"loss": 0.5}], said.append)
    assert said == [f"per-epoch table beside seed 004: {tmp_path / 'pianoroll_epochs.md'}"]
    assert "| 1 | 0.0535 / 0.5000 |" in (tmp_path / "pianoroll_epochs.md").read_text()
    assert capsys.readouterr().out == ""
