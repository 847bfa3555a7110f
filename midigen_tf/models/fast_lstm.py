"""``FastLSTM``: ``keras.layers.LSTM`` with the same maths and another TensorFlow time loop.

The classic presets' layer on CPU (``lstm_impl=auto``, the default; ``--set lstm_impl=fast``
names it anywhere): docs/performance.md measured 1.37-1.71x the plain layer's training speed
on the ``lstm`` preset on three 2-core CPUs, loss equal to float tolerance. On a GPU ``auto``
keeps Keras's own layer (cuDNN), where this one was never measured faster.

It is a subclass that keeps the layer's cell, weight names and shapes (``layer.cell`` serves
the stateful generation engine unchanged, checkpoints are interchangeable with the plain
layer, Keras 2 ``.hdf5`` files load) and replaces only ``inner_loop``:

* the input projection of every step, ``x @ W + b``, is one 2-D matrix product over all steps
  (it has no recurrence), so only ``h @ U`` stays inside the loop;
* the rows of a batch run as ``STREAMS`` (2) independent loops, which TensorFlow runs side by
  side: two cores stay busier than with one loop of small products;
* the elementwise work of a step (gates, carry, output) is one XLA-compiled kernel, vectorised
  for this CPU, while the matrix products stay in oneDNN;
* the gradient is written by hand (``tf.custom_gradient``): the backward loop carries only
  ``dz @ U^T`` and recomputes each step's gates from its stored pre-activation while they are
  in cache; the gradients of ``U`` (and, through autodiff, of ``W`` and ``b``) are single
  matrix products over all steps after the loop, instead of 100 small products summed in it.

Dropout keeps Keras 3's semantics exactly: ``keras.layers.RNN.call`` draws the masks (from
the cell's seed generator, shared by all steps of a batch) before ``inner_loop`` runs, and
this loop applies them where the cell would. With ``recurrent_dropout`` the Keras cell uses
its ``implementation=1``: four masks per input and four per state, one for each gate,
``z_k = (x * m_k) @ W_k + b_k + (h * r_k) @ U_k``; the loop then keeps the gates in a
leading axis ``(4, B, u)`` and runs one batched product ``(4, B, u) @ (4, u, u)`` per step.
Without it the gates are fused, ``(B, u) @ (u, 4u)``. Only rounding differs (``x @ W + b + h @ U``
is summed in another order, the weight gradients are summed per stream, and the sigmoid is
computed as ``0.5 * tanh(0.5 z) + 0.5``), so results agree to float tolerance.

Anything the fast loop does not cover (masks, ``go_backwards``, ``unroll``, other
activations, another backend) falls back to the plain layer's loop.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="midigen_tf")
class FastLSTM(keras.layers.LSTM):
    """Drop-in ``keras.layers.LSTM`` (same arguments, weights and maths), its own time loop."""

    def _fast_ok(self, mask) -> bool:
        cell = self.cell
        return (keras.backend.backend() == "tensorflow" and mask is None
                and not self.go_backwards and not self.unroll and cell.use_bias
                and cell.activation is keras.activations.tanh
                and cell.recurrent_activation is keras.activations.sigmoid)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if not self._fast_ok(mask):
            return super().inner_loop(sequences, initial_state, mask=mask, training=training)
        import tensorflow as tf

        cell, dtype = self.cell, self.compute_dtype
        h0, c0 = initial_state[0], initial_state[1]
        x_masks = cell.get_dropout_mask(sequences[:, 0, :]) if (
            training and 0.0 < cell.dropout < 1.0) else None
        r_masks = cell.get_recurrent_dropout_mask(h0) if (
            training and 0.0 < cell.recurrent_dropout < 1.0) else None
        x_masks = None if x_masks is None else tf.stack(
            [ops.cast(m, dtype) for m in x_masks] if cell.implementation == 1 else [x_masks])
        r_masks = None if r_masks is None else tf.stack([ops.cast(m, dtype) for m in r_masks])
        parts = _split_rows(STREAMS, sequences, h0, c0, x_masks, r_masks)
        outs = [self._part(*part) for part in parts]  # each (hs (T, b, u), h_T, c_T)
        hs, h_last, c_last = outs[0] if len(outs) == 1 else (
            tf.concat(o, axis) for o, axis in zip(zip(*outs), (1, 0, 0)))
        outputs = tf.transpose(hs, (1, 0, 2)) if self.return_sequences else h_last[:, None]
        return h_last, outputs, [h_last, c_last]

    def _part(self, sequences, h0, c0, x_masks, r_masks):
        """``(hs (T, B, u), h_T, c_T)`` of one group of rows (masks stacked per gate)."""
        import tensorflow as tf

        cell, dtype = self.cell, self.compute_dtype
        units = cell.units
        kernel = ops.cast(cell.kernel, dtype)
        recurrent = ops.cast(cell.recurrent_kernel, dtype)
        bias = ops.cast(cell.bias, dtype)
        per_gate = cell.implementation == 1 and (x_masks is not None or r_masks is not None)
        if per_gate:  # Keras: one dropout mask per gate; gate-major layout (T, 4, B, u)
            w4 = tf.reshape(kernel, (-1, 4, units))
            if x_masks is not None:
                xz = tf.einsum("gbtf,fgu->tgbu", sequences[None] * x_masks[:, :, None], w4)
                xz = xz + tf.reshape(bias, (4, 1, units))
            else:  # one 2-D product, (B*T, f) @ (f, 4u), then (B, T, 4, u) -> (T, 4, B, u)
                b, t, f = tf.unstack(tf.shape(sequences))
                xz = tf.matmul(tf.reshape(sequences, (b * t, f)), kernel) + bias
                xz = tf.transpose(tf.reshape(xz, (b, t, 4, units)), (1, 2, 0, 3))
            u4 = tf.transpose(tf.reshape(recurrent, (units, 4, units)), (1, 0, 2))
            r = r_masks if r_masks is not None else tf.ones((4,) + tuple(tf.unstack(tf.shape(h0))),
                                                            dtype)
            return _loops().per_gate(xz, u4, h0, c0, r)
        x = sequences if x_masks is None else sequences * x_masks[0][:, None]
        xz = tf.reshape(_project(x, kernel) + bias, (tf.shape(x)[1], -1, 4 * units))
        return _loops().fused(xz, recurrent, h0, c0)


def _project(sequences, kernel):
    """Every step's input projection at once, time-major: ``(T * B, 4u)`` from ``(B, T, f)``
    (a plain 2-D product: MKL runs it several times faster than the same ``einsum``)."""
    import tensorflow as tf

    x = tf.transpose(sequences, (1, 0, 2))
    return tf.matmul(tf.reshape(x, (-1, tf.shape(x)[2])), kernel)


# Rows of a batch run as this many independent loops, which TensorFlow runs side by side: on a
# 2-core CPU the small per-step products keep both cores busier than one loop of twice the rows.
STREAMS = 2


def _split_rows(n: int, sequences, h0, c0, x_masks, r_masks):
    """The per-row arguments cut into ``n`` groups of rows; the sizes are computed in the graph
    when the batch size is unknown when tracing (as in ``fit``). One group for a small batch."""
    import tensorflow as tf

    batch = sequences.shape[0]
    if n < 2 or (batch is not None and batch < 2 * n):
        return [(sequences, h0, c0, x_masks, r_masks)]
    b = tf.shape(sequences)[0]
    sizes = tf.stack([(b + n - 1 - k) // n for k in range(n)])  # they sum to b

    def cut(t, axis):
        return [None] * n if t is None else tf.split(t, sizes, axis, num=n)

    return list(zip(cut(sequences, 0), cut(h0, 0), cut(c0, 0), cut(x_masks, 1), cut(r_masks, 1)))


# Keras 3's weight files (.weights.h5, .keras) key each layer of a list by its class name in
# snake case ("layers/lstm/cell/vars"). Under the registered name "midigen_tf>FastLSTM" the
# class calls itself LSTM, so its weight files and the plain layer's are the same file.
FastLSTM.__name__ = FastLSTM.__qualname__ = "LSTM"


class _Layout:
    """Where the four gate blocks live: fused ``(..., B, 4u)`` or per gate ``(..., 4, B, u)``."""

    def __init__(self, per_gate: bool):
        self.per_gate = per_gate
        self.forward_step, self.backward_step = _steps(self)

    def mix(self, h, r):
        """What multiplies ``U``: the state, or its per-gate dropout copies ``(4, B, u)``."""
        return h[None] * r if self.per_gate else h

    def unmix(self, d, r):
        """The gradient of the state from that of ``mix(h, r)``."""
        import tensorflow as tf

        return tf.reduce_sum(d * r, 0) if self.per_gate else d

    def gate(self, z, k: int, u):
        return z[k] if self.per_gate else z[..., k * u:(k + 1) * u]

    def join(self, parts):
        import tensorflow as tf

        return tf.stack(parts, 0) if self.per_gate else tf.concat(parts, -1)

    def cell(self, z, c_prev, u):
        """The gates of pre-activation ``z`` and the new carry: ``(i, f, g, o, c)``."""
        import tensorflow as tf

        s = 0.5 * tf.tanh(0.5 * z) + 0.5  # the sigmoid (TensorFlow's own is 7x slower here)
        i, f, o = (self.gate(s, k, u) for k in (0, 1, 3))
        g = tf.tanh(self.gate(z, 2, u))
        return i, f, g, o, f * c_prev + i * g


def _steps(lay: _Layout):
    """The elementwise work of one forward and one backward step, each XLA-compiled into one
    fused kernel (built for this CPU's vector units; TensorFlow's own elementwise kernels run
    op by op). The matrix products stay outside, in oneDNN."""
    import tensorflow as tf

    @tf.function(jit_compile=True)
    def forward(xz_t, hU, c, r):
        z = xz_t + hU
        _, _, _, o, c_new = lay.cell(z, c, tf.shape(c)[1])
        h = o * tf.tanh(c_new)
        return z, h, c_new, lay.mix(h, r)

    @tf.function(jit_compile=True)
    def backward(z, c_prev, dhU, r, dc, d_out):
        """dz of this step and dc carried back, from the product ``dz_next @ U^T``."""
        dh = lay.unmix(dhU, r) + d_out
        i, f, g, o, c = lay.cell(z, c_prev, tf.shape(c_prev)[1])
        tc = tf.tanh(c)
        dc = dc + dh * o * (1 - tc * tc)
        dz = lay.join([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g),
                       dh * tc * o * (1 - o)])
        return dz, dc * f

    return forward, backward


def _forward(lay: _Layout, xz, U, h0, c0, r):
    """Every step's output, and what the backward loop reads: each step's pre-activation and
    the carry it started from (the gates are recomputed from them there, a step at a time)."""
    import tensorflow as tf

    T = tf.shape(xz)[0]
    hs = tf.TensorArray(xz.dtype, size=T, element_shape=h0.shape)
    cs = tf.TensorArray(xz.dtype, size=T, element_shape=h0.shape)
    zs = tf.TensorArray(xz.dtype, size=T, element_shape=xz.shape[1:])

    def body(t, hm, c, hs, cs, zs):
        z, h, c_new, hm_new = lay.forward_step(xz[t], tf.matmul(hm, U), c, r)
        # the compiled step's outputs lose the static batch size; the loop needs it unchanged
        h.set_shape(h0.shape), c_new.set_shape(c.shape), hm_new.set_shape(hm.shape)
        hm = hm_new
        return t + 1, hm, c_new, hs.write(t, h), cs.write(t, c), zs.write(t, z)

    _, _, c, hs, cs, zs = tf.while_loop(
        lambda t, *_: t < T, body, (tf.constant(0), lay.mix(h0, r), c0, hs, cs, zs),
        parallel_iterations=1)
    hs = hs.stack()
    return hs, cs.stack(), zs.stack(), hs[-1], c


def _backward(lay: _Layout, U, h0, r, hs, cs, zs, d_hs, d_h, d_c):
    """Gradients of (xz, U, h0, c0) from those of (hs, h_T, c_T). Each step's activation
    derivatives are computed inside the loop, where that step's arrays are still in cache."""
    import tensorflow as tf

    T = tf.shape(zs)[0]
    u = tf.shape(h0)[1]
    dzs = tf.TensorArray(zs.dtype, size=T, element_shape=zs.shape[1:])
    d_hs = tf.concat([d_hs[:-1], d_hs[-1:] + d_h[None]], 0)  # h_T is the last output too

    Ut = tf.transpose(U, (0, 2, 1) if lay.per_gate else (1, 0))  # once, not at every step

    def body(t, dhU, dc, dzs):
        dz, dc = lay.backward_step(zs[t], cs[t], dhU, r, dc, d_hs[t])
        return t - 1, tf.matmul(dz, Ut), dc, dzs.write(t, dz)

    _, dhU, dc0, dzs = tf.while_loop(lambda t, *_: t >= 0, body,
                                     (T - 1, tf.zeros_like(lay.mix(h0, r)), d_c, dzs),
                                     parallel_iterations=1)
    dh0 = lay.unmix(dhU, r)
    dz = dzs.stack()
    h_prev = tf.concat([h0[None], hs[:-1]], 0)
    if lay.per_gate:  # dU_k = sum over steps and rows of (h * r_k)^T dz_k
        hm = tf.reshape(r[:, None] * h_prev[None], (4, -1, u))  # (4, T * B, u)
        dU = tf.matmul(hm, tf.reshape(tf.transpose(dz, (1, 0, 2, 3)), (4, -1, u)), transpose_a=True)
    else:
        dU = tf.matmul(tf.reshape(h_prev, (-1, u)), tf.reshape(dz, (-1, 4 * u)), transpose_a=True)
    return dz, dU, dh0, dc0


class _Loops:
    def __init__(self):
        import tensorflow as tf

        def make(lay):
            @tf.custom_gradient
            def loop(xz, U, h0, c0, r):
                hs, cs, zs, h, c = _forward(lay, xz, U, h0, c0, r)

                def grad(d_hs, d_h, d_c):
                    d_hs, d_h, d_c = (tf.zeros_like(ref) if d is None else d
                                      for d, ref in ((d_hs, hs), (d_h, h), (d_c, c)))
                    return (*_backward(lay, U, h0, r, hs, cs, zs, d_hs, d_h, d_c),
                            tf.zeros_like(r))

                return (hs, h, c), grad

            return loop

        self._fused, self.per_gate = make(_Layout(False)), make(_Layout(True))

    def fused(self, xz, U, h0, c0):
        import tensorflow as tf

        return self._fused(xz, U, h0, c0, tf.zeros((), xz.dtype))


_CACHE: list = []


def _loops() -> _Loops:
    if not _CACHE:
        _CACHE.append(_Loops())
    return _CACHE[0]
