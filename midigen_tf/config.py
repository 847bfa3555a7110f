"""Configs are plain JSON-able dicts: a preset's defaults, then the user's ``--set`` overrides.

``--set units=[32,32,32]`` parses the value as JSON when it can (numbers, lists, booleans,
null) and keeps it as a string otherwise (``--set activation=elu``).
"""

from __future__ import annotations

import copy
import json
from typing import Any, Iterable

from midigen_tf.errors import MidigenError


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignments(items: Iterable[str], what: str = "--set") -> dict[str, Any]:
    """``["a=1", "b=[2,3]"]`` -> ``{"a": 1, "b": [2, 3]}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise MidigenError(
                f"{what} {item!r} is not of the form key=value",
                hint=f"write it like {what} units=[32,32,32] or {what} sequence_length=20",
            )
        out[key] = parse_value(value.strip())
    return out


def merge(defaults: dict[str, Any], overrides: dict[str, Any], *, preset: str) -> dict[str, Any]:
    """Defaults updated with overrides; an unknown key is an error naming the known ones."""
    config = copy.deepcopy(defaults)
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        known = ", ".join(sorted(defaults))
        raise MidigenError(
            f"unknown setting(s) {', '.join(unknown)} for model {preset!r}",
            hint=f"settings of {preset!r}: {known}",
        )
    for key, value in overrides.items():
        old = defaults[key]
        if old is not None and value is not None and type(old) is not type(value):
            if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            elif not (isinstance(old, (list, tuple)) and isinstance(value, (list, tuple))):
                raise MidigenError(
                    f"setting {key}={value!r} has type {type(value).__name__}, "
                    f"expected {type(old).__name__} (default {old!r})",
                    # without spaces: the hint is one word a shell passes on as it is
                    hint=f"give it like --set {key}={json.dumps(old, separators=(',', ':'))}",
                )
        config[key] = value
    return config


def choice(config: dict[str, Any], key: str, allowed: Iterable[str], default: str) -> str:
    """``config[key]`` (or ``default``), refused with the allowed values when it is not one."""
    value = config.get(key, default)
    if value not in allowed:
        raise MidigenError(f"{key}={value!r} is not known",
                           hint=f"use --set {key}=<one of {', '.join(allowed)}>")
    return value


# Generation choices, here (no Keras import) so the command line can list them in --help:
WEIGHTS_ROOT = "weights"  # training runs: WEIGHTS_ROOT/PRESET by default (one folder per preset)
ENGINES = ("windowed", "stateful")  # generate.Engine
KERNELS = ("auto", "fused", "xla", "layers")  # fused.py: how a recurrent step is computed
