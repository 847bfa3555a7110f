"""midigen web app: pick a trained model, generate, listen, look at the roll and score, download.

Start it with ``midigen app`` (or ``streamlit run midigen_tf/app/streamlit_app.py -- --weights-root
weights``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from midigen_tf.console import quiet_tensorflow_import

quiet_tensorflow_import()  # before anything imports TensorFlow: its start-up lines stay out of the log

import streamlit as st  # noqa: E402

from midigen_tf.app import studio  # noqa: E402
from midigen_tf.config import WEIGHTS_ROOT  # noqa: E402
from midigen_tf.errors import MidigenError  # noqa: E402

MAX_LENGTH = 2000


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="streamlit_app.py")
    parser.add_argument("--weights-root", default=os.environ.get("MIDIGEN_WEIGHTS", WEIGHTS_ROOT))
    return parser.parse_known_args(sys.argv[1:])[0]


@st.cache_resource(show_spinner="loading the model ...")
def load(weights: str, mtime: float):
    """``(model, bundle, pipeline)``; cached per file and modification time."""
    from midigen_tf.console import captured_stderr_fd
    from midigen_tf.loading import load_for_generation

    with captured_stderr_fd():  # TensorFlow's first device look-up logs a failed cuInit
        return load_for_generation(weights)


@st.cache_resource
def session_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="midigen-app-"))


def sidebar(root: Path):
    st.sidebar.header("Model")
    every = st.sidebar.checkbox("show every checkpoint", value=False)
    found = studio.find_checkpoints(root, every=every)
    if not found:
        st.sidebar.warning(f"no checkpoint with a bundle under {root}/")
        st.info(f"Train a model first, e.g. `python lstm.py --weights-dir {root}`, or start the "
                "app with `midigen app --weights-root DIR`.")
        st.stop()
    chosen = st.sidebar.selectbox("checkpoint", found, format_func=lambda c: c.label(root))
    st.sidebar.header("Sampling")
    s = studio.Settings()
    s.length = st.sidebar.number_input("length (events)", 1, MAX_LENGTH, 100, step=10)
    s.sampling = st.sidebar.radio("choice of the next event", ["argmax", "sample"],
                                  format_func=lambda v: {"argmax": "argmax (the reports)",
                                                         "sample": "temperature sampling"}[v])
    sampling = s.sampling == "sample"
    s.temperature = st.sidebar.slider("temperature", 0.1, 2.0, 1.0, 0.05, disabled=not sampling)
    s.top_k = st.sidebar.number_input("top-k (0: off)", 0, 1000, 0, disabled=not sampling)
    s.top_p = st.sidebar.slider("top-p (1: off)", 0.05, 1.0, 1.0, 0.05, disabled=not sampling)
    s.seed = st.sidebar.number_input("seed", 0, 2**31 - 1, 0)
    s.extra = st.sidebar.text_input("model options (KEY=VALUE, comma-separated)", "")
    primer = st.sidebar.file_uploader("primer (MIDI, optional)", type=["mid", "midi"])
    return chosen, s, primer


def show(result) -> None:
    files = result.files
    st.subheader(result.midi.name)
    if "wav" in files:
        st.audio(files["wav"].read_bytes(), format="audio/wav")
        st.caption(f"audio: {result.audio.describe()}")
    columns = st.columns(3)
    downloads = [("MIDI", "midi", result.midi, "audio/midi"),
                 ("WAV", "wav", files.get("wav"), "audio/wav"),
                 ("MusicXML", "musicxml", files.get("musicxml"), "application/vnd.recordare.musicxml+xml")]
    for column, (label, key, path, mime) in zip(columns, downloads):
        if path is not None:
            column.download_button(f"Download {label}", path.read_bytes(), file_name=path.name,
                                   mime=mime, key=f"download-{key}", on_click="ignore")
    if "roll" in files:
        st.image(str(files["roll"]), caption="piano roll")
    if "score" in files:
        st.image(str(files["score"]), caption="score (first page, engraved by verovio)")
    for kind, why in result.problems.items():
        st.warning(f"no {kind}: {why}")


def main() -> None:
    st.set_page_config(page_title="midigen", layout="wide")
    st.title("midigen: generate, listen, look")
    root = Path(arguments().weights_root)
    chosen, settings, primer = sidebar(root)
    if st.button("Generate", type="primary"):
        out = Path(tempfile.mkdtemp(dir=session_dir()))
        primer_path = None
        if primer is not None:
            primer_path = out / "primer.mid"
            primer_path.write_bytes(primer.getvalue())
        try:
            model, bundle, pipeline = load(str(chosen.weights), chosen.weights.stat().st_mtime)
            with st.spinner(f"generating {settings.length} events and rendering ..."):
                st.session_state["result"] = studio.generate_piece(
                    model, bundle, pipeline, settings, out, primer_path)
        except MidigenError as err:
            st.error(str(err))
            return
    if "result" in st.session_state:
        show(st.session_state["result"])
    else:
        st.write("Choose a checkpoint and the sampling on the left, then press **Generate**.")


main()
