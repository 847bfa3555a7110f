"""The folk VAE pipeline (seed 001, model 2): the folk data as autoencoder windows.

The windows are their own targets (``folk.prepare(..., autoencode=True)``); generation and
the rest are the folk pipeline's.
"""

from __future__ import annotations

from midigen_tf.pipelines import folk
from midigen_tf.pipelines.base import DataSource, Prepared

DEFAULT_DATA = folk.DEFAULT_DATA
after_training = folk.after_training
generate = folk.generate


def prepare(config: dict, source: DataSource) -> Prepared:
    return folk.prepare(config, source, autoencode=True)
