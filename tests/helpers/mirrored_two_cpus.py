"""Train the tiny classic preset for one epoch on one CPU device, then with ``MirroredStrategy``
over two logical CPU devices; print both histories as JSON.

    python mirrored_two_cpus.py DATA_DIR OUT_DIR

Its own process: the logical-device split must happen before TensorFlow starts and would
change every other test's devices.
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from midigen_tf import registry  # noqa: E402
from midigen_tf.distribute import Placement  # noqa: E402
from midigen_tf.pipelines.base import DataSource  # noqa: E402
from midigen_tf.train import train  # noqa: E402

data, out = Path(sys.argv[1]), Path(sys.argv[2])
tiny = {"units": [8, 8], "dense_units": 8, "sequence_length": 8, "epochs": 2, "batch_size": 16,
        "dropout": 0.0, "recurrent_dropout": 0.0}
config = {**registry.make_config("lstm", tiny), "seed": 4}


def run(name, placement):
    source = DataSource(data_dir=data, cache_dir=None, jobs=1, seed=4, options={"progress": False})
    result = train(config, source, out / name, verbose=0, echo=lambda *a: None,
                   placement=placement)
    return [row["loss"] for row in result.history]


strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
print(json.dumps({
    "logical_cpus": len(tf.config.list_logical_devices("CPU")),
    "replicas": strategy.num_replicas_in_sync,
    "one_device": run("one", Placement()),
    "mirrored": run("mirrored", Placement("mirrored", strategy)),
}))
