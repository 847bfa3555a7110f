"""``FastLSTM``: ``keras.layers.LSTM`` with the same maths and another TensorFlow time loop.

Option ``--set lstm_impl=fast`` of the classic presets; not the default because it was not
reliably faster where measured (docs/performance.md: ahead of the plain layer in both full
benchmark runs, behind it when one layer was timed alone; on this loaded Xeon the one large
input projection ran at a fraction of the rate of the 128-row products the plain loop makes).

It is a subclass that keeps the layer's cell, weight names and shapes (``layer.cell`` serves
the stateful generation engine unchanged, checkpoints are interchangeable with the plain
layer, Keras 2 ``.hdf5`` files load) and replaces only ``inner_loop``:

* the input projection of every step, ``x @ W + b``, is one matrix product over all steps
  (it has no recurrence), so only ``h @ U`` stays inside the loop;
* the loop is a ``tf.while_loop`` with the gates fused (one sigmoid over all four blocks);
* the gradient is written by hand (``tf.custom_gradient``): the backward loop carries only
  ``dz @ U^T``; the gradients of ``U`` (and, through autodiff, of ``W`` and ``b``) are single
  matrix products over all steps after the loop, instead of 100 small products summed in it.
  The activation derivatives are computed for all steps at once before the backward loop.

Dropout keeps Keras 3's semantics exactly: ``keras.layers.RNN.call`` draws the masks (from
the cell's seed generator, shared by all steps of a batch) before ``inner_loop`` runs, and
this loop applies them where the cell would. With ``recurrent_dropout`` the Keras cell uses
its ``implementation=1``: four masks per input and four per state, one for each gate,
``z_k = (x * m_k) @ W_k + b_k + (h * r_k) @ U_k``; the loop then keeps the gates in a
leading axis ``(4, B, u)`` and runs one batched product ``(4, B, u) @ (4, u, u)`` per step.
Without it the gates are fused, ``(B, u) @ (u, 4u)``. Only the order of float additions differs
(``x @ W + b + h @ U`` is summed in another order), so results agree to float tolerance.

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
        units = cell.units
        kernel = ops.cast(cell.kernel, dtype)
        recurrent = ops.cast(cell.recurrent_kernel, dtype)
        bias = ops.cast(cell.bias, dtype)
        h0, c0 = initial_state[0], initial_state[1]
        per_gate = cell.implementation == 1  # Keras: one dropout mask per gate
        x_masks = cell.get_dropout_mask(sequences[:, 0, :]) if (
            training and 0.0 < cell.dropout < 1.0) else None
        r_masks = cell.get_recurrent_dropout_mask(h0) if (
            training and 0.0 < cell.recurrent_dropout < 1.0) else None
        if per_gate and (x_masks is not None or r_masks is not None):
            # gate-major layout: (T, 4, B, u)
            w4 = tf.reshape(kernel, (-1, 4, units))
            if x_masks is not None:
                xm = sequences[None] * tf.stack([ops.cast(m, dtype) for m in x_masks])[:, :, None]
                xz = tf.einsum("gbtf,fgu->tgbu", xm, w4)
            else:
                xz = tf.einsum("btf,fgu->tgbu", sequences, w4)
            xz = xz + tf.reshape(bias, (4, 1, units))
            u4 = tf.transpose(tf.reshape(recurrent, (units, 4, units)), (1, 0, 2))
            r = (tf.stack([ops.cast(m, dtype) for m in r_masks]) if r_masks is not None
                 else tf.ones((4,) + tuple(tf.unstack(tf.shape(h0))), dtype))
            hs, h_last, c_last = _loops().per_gate(xz, u4, h0, c0, r)
        else:
            x = sequences
            if x_masks is not None:
                x = x * ops.expand_dims(ops.cast(x_masks, dtype), 1)
            xz = tf.einsum("btf,fg->tbg", x, kernel) + bias  # every step's projection at once
            hs, h_last, c_last = _loops().fused(xz, recurrent, h0, c0)
        outputs = tf.transpose(hs, (1, 0, 2)) if self.return_sequences else h_last[:, None]
        return h_last, outputs, [h_last, c_last]


# Keras 3's weight files (.weights.h5, .keras) key each layer of a list by its class name in
# snake case ("layers/lstm/cell/vars"). Under the registered name "midigen_tf>FastLSTM" the
# class calls itself LSTM, so its weight files and the plain layer's are the same file.
FastLSTM.__name__ = FastLSTM.__qualname__ = "LSTM"


class _Layout:
    """Where the four gate blocks live: fused ``(..., B, 4u)`` or per gate ``(..., 4, B, u)``."""

    def __init__(self, per_gate: bool):
        self.per_gate = per_gate

    def gate(self, z, k: int, u, stacked: bool = False):
        if self.per_gate:
            return z[:, k] if stacked else z[k]
        return z[..., k * u:(k + 1) * u]

    def join(self, ifg, o):
        """dz from (dz_i, dz_f, dz_g) stacked/concatenated as ``q`` is, and dz_o."""
        import tensorflow as tf

        return tf.concat([ifg, o[None]], 0) if self.per_gate else tf.concat([ifg, o], -1)


def _forward(lay: _Layout, xz, U, h0, c0, r):
    import tensorflow as tf

    T, u = tf.shape(xz)[0], tf.shape(h0)[1]
    hs = tf.TensorArray(xz.dtype, size=T, element_shape=h0.shape)
    cs = tf.TensorArray(xz.dtype, size=T, element_shape=h0.shape)
    zs = tf.TensorArray(xz.dtype, size=T, element_shape=xz.shape[1:])

    def body(t, h, c, hs, cs, zs):
        z = xz[t] + tf.matmul(h[None] * r if lay.per_gate else h, U)
        s = tf.sigmoid(z)
        c = lay.gate(s, 1, u) * c + lay.gate(s, 0, u) * tf.tanh(lay.gate(z, 2, u))
        h = lay.gate(s, 3, u) * tf.tanh(c)
        return t + 1, h, c, hs.write(t, h), cs.write(t, c), zs.write(t, z)

    _, h, c, hs, cs, zs = tf.while_loop(
        lambda t, *_: t < T, body, (tf.constant(0), h0, c0, hs, cs, zs), parallel_iterations=1)
    return hs.stack(), cs.stack(), zs.stack(), h, c


def _backward(lay: _Layout, U, h0, c0, r, hs, cs, zs, d_hs, d_h, d_c):
    """Gradients of (xz, U, h0, c0) from those of (hs, h_T, c_T)."""
    import tensorflow as tf

    T, u = tf.shape(zs)[0], tf.shape(h0)[1]
    c_prev = tf.concat([c0[None], cs[:-1]], 0)
    h_prev = tf.concat([h0[None], hs[:-1]], 0)
    s = tf.sigmoid(zs)
    i, f, o = (lay.gate(s, k, u, stacked=True) for k in (0, 1, 3))
    g = tf.tanh(lay.gate(zs, 2, u, stacked=True))
    th = tf.tanh(cs)
    a = o * (1 - th * th)  # dc += dh * a
    p = th * o * (1 - o)  # dz_o = dh * p
    parts = [g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g)]  # dz_ifg = dc * q
    q = tf.stack(parts, 1) if lay.per_gate else tf.concat(parts, -1)
    dzs = tf.TensorArray(zs.dtype, size=T, element_shape=zs.shape[1:])

    def body(t, dh, dc, dzs):
        dh = dh + d_hs[t]
        dc = dc + dh * a[t]
        dz = lay.join((dc[None] if lay.per_gate else tf.tile(dc, (1, 3))) * q[t], dh * p[t])
        dhm = tf.matmul(dz, U, transpose_b=True)
        dh = tf.reduce_sum(dhm * r, 0) if lay.per_gate else dhm
        return t - 1, dh, dc * f[t], dzs.write(t, dz)

    _, dh0, dc0, dzs = tf.while_loop(
        lambda t, *_: t >= 0, body, (T - 1, d_h, d_c, dzs), parallel_iterations=1)
    dz = dzs.stack()
    if lay.per_gate:  # dU_k = sum over steps and rows of (h * r_k)^T dz_k
        hm = tf.transpose(h_prev[:, None] * r[None], (1, 0, 2, 3))
        hm = tf.reshape(hm, (4, -1, u))
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
                    return (*_backward(lay, U, h0, c0, r, hs, cs, zs, d_hs, d_h, d_c),
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
