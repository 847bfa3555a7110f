"""Data pipelines: from a folder of music to training batches, and from a model back to music.

Each module here ends with ``PIPELINE = Pipeline(name, prepare, generate, ...)``: the hooks the
trainer and the CLI call, each with its default written in ``base.py``.
"""
