"""The one explicit registry of model families and their presets.

A *family* is a module in ``midigen_tf/models`` that defines exactly

* ``FAMILY``: its name,
* ``PIPELINE``: the name of the pipeline module it trains on (``midigen_tf/pipelines/<name>.py``),
* ``PRESETS``: ``{preset name: full default config}``; every key a user may ``--set``,
* ``build_model(config) -> keras.Model``: compiled, every layer named.

A *pipeline* module ends with ``PIPELINE = Pipeline(name, prepare, generate, ...)`` (see
``pipelines/base.py``): the hooks ``prepare``, ``generate``, ``default_data``,
``after_training`` and ``callbacks``, each with its default written there.
``pipeline(family)`` returns that object; the trainer and the CLI use nothing else.

Add a family by writing its module (and, for a new encoding, one pipeline module) and adding
one line to ``FAMILY_MODULES``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

from midigen_tf import config as config_lib
from midigen_tf.errors import MidigenError

FAMILY_MODULES: tuple[str, ...] = (
    "midigen_tf.models.lstm",
    "midigen_tf.models.lstm_tokens",
    "midigen_tf.models.seq2seq",
    "midigen_tf.models.pianoroll",
    "midigen_tf.models.maestro_pitch",
    "midigen_tf.models.maestro_regression",
    "midigen_tf.models.maestro_mlp",
    "midigen_tf.models.folk_gru_attention",
    "midigen_tf.models.folk_vae",
    "midigen_tf.models.folk_lstm_mha",
    "midigen_tf.models.folk_bilstm",
    "midigen_tf.models.folk_melody_lstm",
)


@dataclass(frozen=True)
class Preset:
    name: str
    family: str
    pipeline: str
    defaults: dict[str, Any]


@lru_cache(maxsize=None)
def _families() -> dict[str, ModuleType]:
    out = {}
    for path in FAMILY_MODULES:
        module = importlib.import_module(path)
        out[module.FAMILY] = module
    return out


@lru_cache(maxsize=None)
def presets() -> dict[str, Preset]:
    out: dict[str, Preset] = {}
    for family, module in _families().items():
        for name, defaults in module.PRESETS.items():
            if name in out:
                raise RuntimeError(f"preset {name!r} defined twice")
            out[name] = Preset(name, family, module.PIPELINE, dict(defaults))
    return out


def _lookup(table: dict, key: str, what: str, known: str):
    """``table[key]``, or a ``MidigenError`` naming the unknown ``what`` and the known keys."""
    if key not in table:
        raise MidigenError(f"unknown {what} {key!r}", hint=f"{known} {', '.join(table)}")
    return table[key]


def get_preset(name: str) -> Preset:
    return _lookup(presets(), name, "model", "choose one of:")


def family_module(family: str) -> ModuleType:
    return _lookup(_families(), family, "model family", "this version knows:")


def pipeline(family: str):
    """The family's ``pipelines.base.Pipeline``: the ``PIPELINE`` its pipeline module ends with."""
    name = family_module(family).PIPELINE
    return importlib.import_module(f"midigen_tf.pipelines.{name}").PIPELINE


def make_config(preset: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The preset's defaults with ``overrides`` applied, tagged with preset, family, pipeline."""
    p = get_preset(preset)
    config = config_lib.merge(p.defaults, overrides or {}, preset=preset)
    config.update(preset=p.name, family=p.family, pipeline=p.pipeline)
    return config


def build_model(config: dict[str, Any]):
    """Build (and compile) the model a config describes."""
    return family_module(config["family"]).build_model(config)

