#!/usr/bin/env bash
# Listenable samples of a shipped model: docs/samples/NAME/ gets 4 pieces (argmax, as the report,
# and 3 sampled at temperature 1.0, top-p 0.95), each as MIDI, OGG (FluidSynth + GM soundfont,
# then ffmpeg) and piano-roll PNG. Usage: tools/make_samples.sh NAME [NOTES] [OUT_DIR]
set -euo pipefail
name=${1:?usage: tools/make_samples.sh SHIPPED_MODEL_NAME [NOTES] [OUT_DIR]}
notes=${2:-200}
out=${3:-docs/samples/$name}
mkdir -p "$out"
python predict.py "$name" -n "$notes" --seed 0 -o "$out/argmax.mid"
for seed in 1 2 3; do
  python predict.py "$name" -n "$notes" --temperature 1.0 --top-p 0.95 --seed "$seed" \
    -o "$out/sampled-$seed.mid"
done
for midi in "$out"/*.mid; do
  python -m midigen_tf.cli render "$midi" --wav --roll
  ffmpeg -loglevel error -y -i "${midi%.mid}.wav" -ac 1 -c:a libvorbis -q:a 2 "${midi%.mid}.ogg"
  rm "${midi%.mid}.wav"
done
ls -l "$out"
