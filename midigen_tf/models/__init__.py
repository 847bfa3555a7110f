"""Model families: one module each, listed in ``midigen_tf.registry``."""


def parameter_counts(model) -> tuple[int, int]:
    """``(trainable, non-trainable)`` parameter counts of a Keras model."""
    import numpy as np

    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    return trainable, frozen
