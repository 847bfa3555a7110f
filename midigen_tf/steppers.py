"""Steppers that are not one model's chain of layers, for the shared loop ``generate.generate_steps``.

``EncoderDecoderStepper`` (seq2seq, seed 002): the window of token ids is encoded, then the
one-step decoder runs on the last token, carrying ``[h, c]``. The window slides by one with
every chosen token and is re-encoded every ``period`` steps (0: only at the start), as
``-O reencode=N`` says. Both models are traced, so the argmax loop runs inside the graph too.
"""

from __future__ import annotations

from midigen_tf.generate import Stepper, one_hot_encoding


class EncoderDecoderStepper(Stepper):
    """``start`` / ``push`` / ``run_argmax`` over an encoder and a one-step decoder
    (``models.seq2seq.inference_models``); the memory is ``(window, [h, c, ...], steps)``."""

    def __init__(self, encoder, decoder, period: int):
        import tensorflow as tf

        self.period = int(period)
        one_hot = one_hot_encoding(int(decoder.outputs[0].shape[-1]))

        def encode(window):
            return list(encoder(one_hot(window), training=False))

        def decode(ids, states, window, steps):
            probs, *states = decoder([one_hot(ids[:, None]), *states], training=False)
            return probs[:, -1], (window, states, steps + 1)

        def start(window):
            return decode(window[:, -1], encode(window), window, tf.constant(0))

        def advance(state, ids):
            window, states, steps = state[1]
            window = tf.concat([window[:, 1:], ids[:, None]], axis=1)
            if self.period:
                states = tf.cond(steps % self.period == 0, lambda: encode(window), lambda: states)
            return decode(ids, states, window, steps)

        self._trace(start, advance)
