#!/usr/bin/env bash
# Reproduces the bundled model models/default.gguf: corpus -> BPE -> ternary QAT -> GGUF.
# Usage: scripts/train-default.sh [WORKDIR]   (default /tmp/bitnet-default; resumable: run it again after an interruption)
# About 30-45 minutes on one free core. Ctrl-C saves a checkpoint; re-running resumes it.
set -euo pipefail
usage='usage: scripts/train-default.sh [WORKDIR]
Reproduces models/default.gguf: corpus -> BPE -> ternary QAT -> GGUF; resumable (run it again after an interruption).
  WORKDIR  corpus, checkpoints, loss curve (default: /tmp/bitnet-default)
  STEPS    environment variable: training steps (default: 850)'
case "${1:-}" in
  -h|--help) echo "$usage"; exit 0 ;;
  -*) echo "train-default.sh: unknown option '$1'" >&2; echo "$usage" >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "train-default.sh: expected at most one argument, WORKDIR (got $#)" >&2; echo "$usage" >&2; exit 2; }
steps=${STEPS:-850}
[[ "$steps" =~ ^[1-9][0-9]*$ ]] || { echo "train-default.sh: STEPS must be a positive integer, got '$steps'" >&2; exit 2; }
work=$(realpath -m "${1:-/tmp/bitnet-default}")
cd "$(dirname "$0")/.."
mkdir -p "$work"
[ -f build/train.wasm ] && [ -f dist/src/cli/main.js ] || npm run build
[ -f "$work/kjv.txt" ] || scripts/make-corpus.sh "$work/kjv.txt"
resume=(); compgen -G "$work/run/checkpoint-*.ckpt" >/dev/null && resume=(--resume)
node bin/bitnet.js train --config small --steps "$steps" --data "$work/kjv.txt" --out "$work/run" --export tq2_0,i2_s "${resume[@]}"
cp "$work/run/model-tq2_0.gguf" models/default.gguf.tmp && mv models/default.gguf.tmp models/default.gguf
echo "models/default.gguf <- $work/run/model-tq2_0.gguf (loss curve: $work/run/loss.svg, its data: $work/run/log.json)"
