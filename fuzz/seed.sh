#!/usr/bin/env bash
# Refreshes the committed seed corpora from the repository's own files:
#   seeds/policy/    every .rollguard under examples/, stdlib/, tests/
#   seeds/snapshot/  every .json under examples/ and tests/eval/
#   seeds/request/   the same .json files
# A seed's name is its path with `/` written `__`, so two files never collide.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in policy snapshot request; do
  rm -rf "fuzz/seeds/$t"
  mkdir -p "fuzz/seeds/$t"
done
find examples stdlib tests -name '*.rollguard' -type f | sort | while read -r f; do
  cp "$f" "fuzz/seeds/policy/${f//\//__}"
done
find examples tests/eval -name '*.json' -type f | sort | while read -r f; do
  cp "$f" "fuzz/seeds/snapshot/${f//\//__}"
  cp "$f" "fuzz/seeds/request/${f//\//__}"
done
for t in policy snapshot request; do
  echo "seeds/$t: $(find "fuzz/seeds/$t" -type f | wc -l) files"
done
