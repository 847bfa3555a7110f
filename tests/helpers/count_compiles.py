"""Count XLA compilations and tf.function traces of generations (issue 25).

    XLA_FLAGS=--xla_dump_to=DUMP python count_compiles.py DUMP N

XLA writes one ``*.before_optimizations.txt`` file per compiled module into DUMP; for each
case (family x engine x kernel x pick) this prints one JSON line with the modules compiled
and the traces made while a fresh engine generates N steps. Run in its own process: XLA
reads its flags once.
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np

from midigen_tf import registry
from midigen_tf.generate import Engine, float_encoding, generate_steps, scalar_encoding
from midigen_tf.pipelines.tokens import id_encoding
from midigen_tf.sampling import Pick, sampler

dump, n = Path(sys.argv[1]), int(sys.argv[2])


class Threshold(Pick):  # a numpy pick, one step per call, as the piano roll's
    def __call__(self, probs):
        return (np.asarray(probs) >= 0.5).astype(np.float32)


def tiny(preset, **extra):
    config = registry.make_config(preset, extra)
    return registry.build_model(config)


families = {
    "classic": (tiny("lstm", units=[8, 8], dense_units=8, sequence_length=6, n_vocab=12),
                scalar_encoding(12), "int64", 12),
    "tokens": (tiny("lstm-tokens-tiny", units=[8, 8], dense_units=8, embedding_dim=4,
                    sequence_length=6, n_vocab=12), id_encoding, "int64", 12),
    "pianoroll": (tiny("pianoroll-tiny", units=[8], sequence_length=6), float_encoding,
                  "float32", None),
}
picks = {"argmax": {}, "temperature": {"temperature": 1.2}, "top-k": {"top_k": 3},
         "top-p": {"temperature": 1.0, "top_p": 0.9}}


def modules() -> int:
    return len(list(dump.glob("*.before_optimizations.txt")))


rng = np.random.default_rng(0)
for family, (model, encode, dtype, vocab) in families.items():
    for engine in ("windowed", "stateful"):
        for kernel in ("fused", "xla", "layers"):
            for pick_name, options in (picks.items() if vocab else [("threshold", None)]):
                runner = Engine(model, encode, engine, dtype=dtype, kernel=kernel)
                windows = (rng.integers(0, vocab, (2, 6)) if vocab
                           else (rng.random((2, 6, model.input_shape[-1])) < 0.1))
                pick = Threshold() if vocab is None else sampler(np.random.default_rng(1), **options)
                before = modules()
                generate_steps(runner, windows, n, pick)
                traces = {k: f.experimental_get_tracing_count()
                          for k, f in runner.traced_functions().items()}
                print(json.dumps({"family": family, "engine": engine, "kernel": kernel,
                                  "pick": pick_name, "compiled": modules() - before,
                                  "traces": traces}), flush=True)
