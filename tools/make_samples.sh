#!/usr/bin/env bash
# Listenable samples of a shipped model: OUT_DIR (default docs/samples/NAME/) gets 4 sampled
# pieces (seeds 1-4), and with ARGMAX=1 the argmax piece too, each as MIDI, OGG (FluidSynth + GM
# soundfont, then ffmpeg) and piano-roll PNG.
#   tools/make_samples.sh NAME [NOTES] [OUT_DIR]
# SAMPLING: the sampling options (default: the README's, --temperature 0.8 --top-p 0.95; empty:
# the model's own default). ARGMAX=1 (default) adds the report's argmax piece (seed 0's window).
set -euo pipefail
name=${1:?usage: tools/make_samples.sh SHIPPED_MODEL_NAME [NOTES] [OUT_DIR]}
notes=${2:-200}
out=${3:-docs/samples/$name}
sampling=${SAMPLING---temperature 0.8 --top-p 0.95}
argmax=${ARGMAX:-1}
mkdir -p "$out"
if [ "$argmax" = 1 ]; then
  python predict.py "$name" -n "$notes" --seed 0 -o "$out/argmax.mid"
fi
for seed in 1 2 3 4; do
  # shellcheck disable=SC2086  # the sampling options are several words
  python predict.py "$name" -n "$notes" $sampling --seed "$seed" -o "$out/sampled-$seed.mid"
done
for midi in "$out"/*.mid; do
  python -m midigen_tf.cli render "$midi" --wav --roll
  ffmpeg -loglevel error -y -i "${midi%.mid}.wav" -ac 1 -c:a libvorbis -q:a 2 "${midi%.mid}.ogg"
  rm "${midi%.mid}.wav"
done
ls -l "$out"
