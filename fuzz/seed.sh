#!/usr/bin/env bash
# Builds the fuzz seed corpora from the repository's own files, into OUT (an argument):
#   OUT/policy/    every .rollguard file: examples/, stdlib/, tests/ (tests/bad-input/ included),
#                  the editors' grammar tests and fuzz/regressions/policy/
#   OUT/snapshot/  every snapshot JSON: examples/*/snapshots/, tests/eval/ (not the expected
#                  decisions), tests/bad-input/, tests/ui/fixtures/, tests/formats/*/snapshots/
#   OUT/request/   the same snapshot JSON files, as request bodies, and fuzz/regressions/request/
# (fuzz/regressions/snapshot/ joins OUT/snapshot/ too.) A seed's name is its path with `/`
# written `__`, so two files never collide. Files already in OUT are kept, so a campaign's corpus
# can be seeded again after the repository changes.
#
# The seeds are built at run time rather than committed: a committed copy goes stale as soon as
# a policy or snapshot is added or changed. fuzz/ci.sh and tests/fuzz_regressions.rs call this.
set -euo pipefail
if [ "$#" -ne 1 ]; then
  echo "usage: $0 OUT" >&2
  exit 2
fi
out="$(mkdir -p "$1" && cd "$1" && pwd)"
cd "$(dirname "$0")/.."

for t in policy snapshot request; do
  mkdir -p "$out/$t"
done

copy() { # copy TARGET < paths
  local f
  while IFS= read -r f; do
    cp "$f" "$out/$1/${f//\//__}"
  done
}

find examples stdlib tests editors fuzz/regressions/policy -name '*.rollguard' -type f \
  -not -path '*/node_modules/*' | sort | copy policy

# Every JSON under examples/ and tests/ is a snapshot but the expected outputs: tests/eval's
# expected decisions, tests/formats' golden files (whose snapshots/ are inputs) and
# tests/fixtures/ (the SARIF schema).
snapshots() {
  find examples tests -name '*.json' -type f \
    -not -name expected.json -not -path 'tests/fixtures/*' \
    -not \( -path 'tests/formats/*' -not -path '*/snapshots/*' \) | sort
}
snapshots | copy snapshot
snapshots | copy request
find fuzz/regressions/snapshot -type f -not -name '.*' | sort | copy snapshot
find fuzz/regressions/request -type f -not -name '.*' | sort | copy request

for t in policy snapshot request; do
  echo "seeds/$t: $(find "$out/$t" -type f | wc -l) files"
done
