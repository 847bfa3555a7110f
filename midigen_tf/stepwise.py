"""Which models the engine can step one time step at a time, and the step itself.

``recurrent_step(model)`` walks a model's own layers and returns one step of its recurrent
layers (each through ``fused.cell_step``) and the layers after them; a model it cannot step
(a bidirectional or attention layer, a layer that mixes time steps before the last recurrent
one) is refused with ``refuse``'s one-line message, which every refusal of an option shares.
What a layer can do is declared: Keras's per-step layers are listed in ``POINTWISE`` and its
attention layers in ``ATTENDING``; a custom layer says ``acts_per_step = True`` or
``attends_over_time = True``.
"""

from __future__ import annotations

from typing import Callable

import keras

from midigen_tf.errors import MidigenError
from midigen_tf.fused import cell_step

# Layers that act on each time step on its own: safe to run one step at a time. A custom layer
# says so with a class attribute ``acts_per_step = True``.
POINTWISE = (keras.layers.Dense, keras.layers.Dropout, keras.layers.Activation,
             keras.layers.BatchNormalization, keras.layers.LayerNormalization,
             keras.layers.Embedding, keras.layers.ReLU, keras.layers.LeakyReLU,
             keras.layers.GaussianNoise, keras.layers.SpatialDropout1D, keras.layers.Masking)
# Layers that attend over the whole window: never stepwise, wherever they sit. A custom layer
# says so with a class attribute ``attends_over_time = True``.
ATTENDING = (keras.layers.Attention, keras.layers.AdditiveAttention,
             keras.layers.MultiHeadAttention, keras.layers.GroupQueryAttention)




def last_step(probs):
    """(K, V) from a model that returns (K, V) or a sequence (K, T, V)."""
    return probs[:, -1] if len(probs.shape) == 3 else probs


def _why_not_stepwise(layer) -> tuple[str, str, bool] | None:
    """None if ``layer`` can run one time step at a time; else ``(kind, why, anywhere)``:
    ``anywhere`` is True when it matters wherever the layer sits (not only before the last
    recurrent layer)."""
    name = layer.name
    if isinstance(layer, keras.layers.Bidirectional):
        return "both", f"its layer {name} is bidirectional: it reads time both ways", True
    if isinstance(layer, ATTENDING) or getattr(layer, "attends_over_time", False):
        return "attention", f"its layer {name} attends over the whole window", True
    if isinstance(layer, keras.layers.RNN):
        return ("backwards", f"its layer {name} reads time backwards", True) if layer.go_backwards else None
    if isinstance(layer, POINTWISE) or getattr(layer, "acts_per_step", False):
        return None
    if isinstance(layer, keras.layers.Flatten):
        return "flatten", "it reads the whole window at once (Flatten): no recurrent state to carry", False
    return "mixes", f"its layer {name} ({type(layer).__name__}) mixes time steps", False


def refuse(name: str, option: str, why: str, instead: str) -> MidigenError:
    """The one-line refusal of an option a model cannot do."""
    return MidigenError(f"{name} cannot {option}: {why}; use {instead}")


def recurrent_step(model, name: str | None = None,
                   kernel: str = "layers") -> tuple[Callable, Callable, Callable]:
    """``(step, head, zeros)`` over the model's own layers: ``step(x, states) -> (features,
    states)`` advances every recurrent layer one time step (``x``: encoded input ``(K, 1, F)``);
    ``head(features)`` applies the layers after the last recurrent one (the probabilities);
    ``zeros(K)`` is the all-zero state the full model starts every window from.

    The model must be a chain of layers in which every layer before the last recurrent one
    acts on each time step separately (Dense, Dropout, BatchNormalization, Embedding ...).
    Otherwise a one-line ``MidigenError`` names the model and why. ``kernel`` says how each
    recurrent layer steps (``fused.cell_step``).
    """
    name = name or model.name
    chain = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    recurrent = [i for i, layer in enumerate(chain) if isinstance(layer, keras.layers.RNN)]
    last = recurrent[-1] if recurrent else len(chain)
    found = [f for i, f in enumerate(map(_why_not_stepwise, chain)) if f and (f[2] or i < last)]
    kinds: dict[str, str] = {}  # one layer per kind; what reads time both ways / attends first
    for kind, why, _ in sorted(found, key=lambda f: not f[2]):
        kinds.setdefault(kind, why)
    problem = ", and ".join(list(kinds.values())[:2]) or None
    if problem is None and not recurrent:
        problem = "it has no recurrent layer whose state could be carried"
    if problem is None:
        broken = [layer.name for i, layer in enumerate(chain)
                  if i and layer.input is not chain[i - 1].output]
        problem = f"it is not a simple stack of layers (at {broken[0]})" if broken else None
    if problem:
        raise refuse(name, "generate with --engine stateful", problem, "--engine windowed")

    cells = {i: cell_step(chain[i], kernel) for i in recurrent}

    def step(x, states):
        new, k = [], 0
        for i, layer in enumerate(chain[:last + 1]):
            if isinstance(layer, keras.layers.RNN):
                h, state = cells[i](x[:, 0], states[k])
                new.append(state)
                k += 1
                x = h[:, None] if layer.return_sequences else h
            else:
                x = layer(x, training=False)
        return x, new

    def head(x):
        for layer in chain[last + 1:]:
            x = layer(x, training=False)
        return last_step(x)

    def zeros(k: int):
        return [chain[i].cell.get_initial_state(k) for i in recurrent]

    return step, head, zeros
