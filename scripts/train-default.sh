#!/usr/bin/env bash
# Reproduces the bundled model models/default.gguf: corpus -> BPE -> ternary QAT -> GGUF.
# Usage: scripts/train-default.sh [WORKDIR]   (default /tmp/bitnet-default; resumable: run it again after an interruption)
# About 30-45 minutes on one free core. Ctrl-C saves a checkpoint; re-running resumes it.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/bitnet-default}
steps=${STEPS:-850}
mkdir -p "$work"
[ -f build/train.wasm ] && [ -f dist/src/cli/main.js ] || npm run build
[ -f "$work/kjv.txt" ] || scripts/make-corpus.sh "$work/kjv.txt"
resume=(); compgen -G "$work/run/checkpoint-*.ckpt" >/dev/null && resume=(--resume)
node bin/bitnet.js train --config small --steps "$steps" --data "$work/kjv.txt" --out "$work/run" --export tq2_0,i2_s "${resume[@]}"
cp "$work/run/model-tq2_0.gguf" models/default.gguf.tmp && mv models/default.gguf.tmp models/default.gguf
echo "models/default.gguf <- $work/run/model-tq2_0.gguf (loss curve: $work/run/loss.svg, its data: $work/run/log.json)"
