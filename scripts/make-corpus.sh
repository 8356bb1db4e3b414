#!/usr/bin/env bash
# Builds the training corpus of the bundled model: the King James Bible (public domain) from Debian's
# bible-kjv package, one verse per line, without chapter headings and verse numbers.
# Usage: scripts/make-corpus.sh OUT.txt   (installs bible-kjv with apt-get if missing)
set -euo pipefail
usage='usage: scripts/make-corpus.sh OUT.txt
Writes the King James Bible (Debian bible-kjv, installed with apt-get if missing), one verse per line, to OUT.txt.'
case "${1:-}" in
  -h|--help) echo "$usage"; exit 0 ;;
  -*) echo "make-corpus.sh: unknown option '$1'" >&2; echo "$usage" >&2; exit 2 ;;
esac
[ $# -eq 1 ] || { echo "make-corpus.sh: expected one argument, OUT.txt (got $#)" >&2; echo "$usage" >&2; exit 2; }
out=$1
if ! command -v bible >/dev/null; then apt-get update -qq && apt-get install -y -qq bible-kjv >/dev/null; fi
bible "Gen1:1-Rev22:21" | node -e '
let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
  const verses = []; let cur = null;
  for (const line of s.split("\n")) {
    const m = /^\s+(\d+) (.*)$/.exec(line);
    if (m) { if (cur) verses.push(cur); cur = m[2].trim(); }
    else if (/^\S.* \d+$/.test(line) || line.trim() === "") { if (cur) verses.push(cur); cur = null; }
    else if (cur !== null) cur += " " + line.trim();
  }
  if (cur) verses.push(cur);
  process.stdout.write(verses.join("\n") + "\n");
});' > "$out.tmp"
mv "$out.tmp" "$out"
echo "corpus: $out ($(wc -l < "$out") verses, $(wc -c < "$out") bytes)"
