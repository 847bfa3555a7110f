"""How the generation engine computes one recurrent step: its ``kernel`` option (issue 14).

* ``auto`` (default) -- ``fused``, for both engines: the fastest on the wall clock on a quiet
  machine (docs/performance.md: stateful 0.29 vs 0.66 ms / note, windowed 2.5 vs 3.6 ms / note
  against ``layers``), except where a family declares otherwise (``Pipeline.auto_kernel``: the
  piano roll's windowed engine takes ``layers``, measured faster for its one wide layer). On a
  machine whose cores are busy with other work ``layers`` can win the windowed engine
  (TensorFlow's own matrix product spreads over every core): pass it.
* ``fused`` -- every plain ``keras.layers.LSTM`` or ``FastLSTM`` (tanh / sigmoid, with bias, float32)
  becomes one matrix product per layer and step, ``[x, h] @ [W; U] + b``, with the weights
  concatenated once when the engine is built; the other layers are called as they are. The
  argmax loop, ``start`` and ``advance`` are XLA-compiled (``jit_compile=True``), so a whole
  chunk of notes is one compiled while loop. Same maths as the layers, summed in another order:
  the float rounding differs in the last bits (the tests check the tokens stay equal).
* ``xla`` -- the layers' own cells (``layer.cell``), XLA-compiled: the same operations as
  ``layers``, fused by XLA.
* ``layers`` -- the layers' own cells in a plain traced ``tf.function`` (the engine before
  issue 14).

The engine reads the weights when it is built: build a new one after the weights change.
"""

from __future__ import annotations

from typing import Callable, Mapping

import keras
import numpy as np

from midigen_tf.config import KERNELS
from midigen_tf.models.fast_lstm import FastLSTM



def resolve(kernel: str, engine: str, preferred: Mapping[str, str] | None = None) -> str:
    """The kernel ``kernel`` means for ``engine`` ("windowed" or "stateful"). ``preferred``:
    a family's declared exceptions to ``auto`` per engine (``Pipeline.auto_kernel``), where
    the benchmark measured another kernel faster than ``fused`` for its models."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel {kernel!r} is not one of {KERNELS}")
    if kernel == "auto":
        return (preferred or {}).get(engine, "fused")
    return kernel


def jit(kernel: str) -> bool:
    """Whether the engine's traced functions are XLA-compiled."""
    return kernel in ("fused", "xla")


def fusable(layer) -> bool:
    """A plain LSTM layer whose step ``lstm_step`` computes with the same maths."""
    if type(layer) not in (keras.layers.LSTM, FastLSTM) or layer.go_backwards:
        return False
    cell = layer.cell
    return (cell.use_bias and cell.activation is keras.activations.tanh
            and cell.recurrent_activation is keras.activations.sigmoid
            and cell.compute_dtype == "float32" and cell.variable_dtype == "float32")


def lstm_step(layer) -> Callable:
    """``step(x (K, F), [h, c]) -> (h, [h, c])`` of ``layer`` (an LSTM ``fusable`` accepts) as one
    matrix product: Keras's gate order (input, forget, cell, output) and activations."""
    import tensorflow as tf

    cell = layer.cell
    kernel = tf.constant(np.concatenate([np.asarray(cell.kernel), np.asarray(cell.recurrent_kernel)]))
    bias = tf.constant(np.asarray(cell.bias))

    def step(x, state):
        h, c = state
        z = tf.matmul(tf.concat([x, h], axis=1), kernel) + bias
        i, f, g, o = tf.split(z, 4, axis=1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        return h, [h, c]

    return step


def cell_step(layer, kernel: str) -> Callable:
    """``step(x (K, F), state) -> (output, state)`` of one recurrent layer, as ``kernel`` says."""
    if kernel == "fused" and fusable(layer):
        return lstm_step(layer)
    return lambda x, state: layer.cell(x, state, training=False)
