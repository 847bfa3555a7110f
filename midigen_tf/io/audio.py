"""Audio from notes, numpy only: the report's sine-wave synthesiser and a WAV writer.

Seed 000 renders a list of predicted notes as one sine wave per note, 0.5 s each at 44.1 kHz,
amplitude 0.5, concatenated, normalised by the peak to int16 and written as WAV (then MP3 via
pydub/ffmpeg). ``sequence_audio`` + ``write_wav`` do exactly that; ``render_notes`` mixes a note
table with its real timings, for any family. A FluidSynth renderer can live beside these.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import wave
from pathlib import Path
from typing import Iterable

import numpy as np

from midigen_tf.errors import MidigenError
from midigen_tf.io import atomic

SAMPLE_RATE = 44100
NOTE_SECONDS = 0.5
AMPLITUDE = 0.5
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def midi_to_hz(pitch) -> np.ndarray:
    """Equal-tempered frequency of MIDI note numbers (69 = A4 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


def note_name(pitch: int) -> str:
    """``60 -> 'C4'``, ``61 -> 'C#4'`` ... ``83 -> 'B5'`` (the report's spelling)."""
    pitch = int(pitch)
    return f"{PITCH_CLASSES[pitch % 12]}{pitch // 12 - 1}"


def sequence_audio(pitches: Iterable[int], note_seconds: float = NOTE_SECONDS,
                   sample_rate: int = SAMPLE_RATE, amplitude: float = AMPLITUDE,
                   fade_ms: float = 0.0) -> np.ndarray:
    """One sine per note, back to back (the report). ``fade_ms`` > 0 ramps each note in and out
    to remove the clicks between notes (an option; the report has none)."""
    freqs = midi_to_hz(np.fromiter(pitches, dtype=np.float64))
    n = int(sample_rate * note_seconds)
    t = (np.arange(n) / sample_rate).astype(np.float32)
    waves = amplitude * np.sin((2 * np.pi * freqs[:, None]).astype(np.float32) * t[None, :])
    if fade_ms > 0 and n > 1:
        k = min(n // 2, max(1, int(sample_rate * fade_ms / 1000)))
        ramp = np.linspace(0.0, 1.0, k, dtype=np.float32)
        waves[:, :k] *= ramp
        waves[:, n - k:] *= ramp[::-1]
    return waves.reshape(-1)


def render_notes(notes: np.ndarray, sample_rate: int = SAMPLE_RATE, amplitude: float = AMPLITUDE,
                 fade_ms: float = 5.0, tail: float = 0.25) -> np.ndarray:
    """Mix a note table (fields ``pitch``, ``start``, ``end``, optional ``velocity``) as sines
    at their own times; velocity scales loudness. Overlapping notes add up (normalise later)."""
    notes = np.asarray(notes)
    if len(notes) == 0:
        return np.zeros(int(sample_rate * tail), dtype=np.float32)
    total = int(np.ceil((float(notes["end"].max()) + tail) * sample_rate))
    out = np.zeros(total, dtype=np.float32)
    fade = max(1, int(sample_rate * fade_ms / 1000))
    has_velocity = "velocity" in (notes.dtype.names or ())
    for note in notes:
        a = int(float(note["start"]) * sample_rate)
        n = max(1, int((float(note["end"]) - float(note["start"])) * sample_rate))
        gain = amplitude * (float(note["velocity"]) / 127.0 if has_velocity else 1.0)
        wave_ = gain * np.sin(2 * np.pi * float(midi_to_hz(note["pitch"])) * np.arange(n) / sample_rate)
        k = min(fade, n // 2)
        if k:
            ramp = np.linspace(0.0, 1.0, k)
            wave_[:k] *= ramp
            wave_[n - k:] *= ramp[::-1]
        out[a:a + n] += wave_[: total - a]
    return out


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Scale by the peak to the int16 range, as the report (``audio / max|audio| * 32767``).
    Silence stays silence instead of dividing by zero."""
    audio = np.asarray(audio, dtype=np.float64)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        return np.zeros(audio.shape, dtype=np.int16)
    return (audio / peak * 32767).astype(np.int16)


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono 16-bit PCM; float audio is peak-normalised with ``to_int16`` first."""
    audio = np.asarray(audio)
    samples = audio if audio.dtype == np.int16 else to_int16(audio)

    def _write(tmp: Path) -> None:
        with wave.open(str(tmp), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(int(sample_rate))
            wav.writeframes(samples.astype("<i2").tobytes())

    return atomic.write_output(path, _write)


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """``(int16 samples, sample rate)`` of a mono 16-bit WAV."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise MidigenError(f"{path} is not a mono 16-bit WAV")
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2"), wav.getframerate()


def write_mp3(wav_path: str | os.PathLike, mp3_path: str | os.PathLike | None = None) -> Path | None:
    """Encode a WAV as MP3 with ffmpeg when it is installed; ``None`` (nothing written) if not."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    wav_path = Path(wav_path)
    target = Path(mp3_path) if mp3_path else wav_path.with_suffix(".mp3")
    with atomic.atomic_path(target) as tmp:
        result = subprocess.run([ffmpeg, "-y", "-loglevel", "error", "-i", str(wav_path),
                                 "-f", "mp3", str(tmp)], capture_output=True, text=True)
        if result.returncode != 0:
            raise MidigenError(f"ffmpeg could not encode {wav_path} as MP3: "
                               f"{result.stderr.strip()[:300]}", hint="use the WAV instead")
    return target
