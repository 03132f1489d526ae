#!/usr/bin/env bash
# Bounded fuzzing for CI: builds the three targets and runs each for FUZZ_SECONDS (default 60)
# from seeds that fuzz/seed.sh builds out of the repository's current files, in a temporary
# directory. Exits non-zero if a target crashes (panics), times out or runs out of memory; the
# input is left under fuzz/artifacts/<target>/. See docs/testing.md, "Fuzzing".
#
# Works on the stable toolchain: cargo-fuzz with `--sanitizer none` passes only -C flags.
# Needs cargo-fuzz (installed here if missing) and a C++ compiler (libFuzzer is built from the
# libfuzzer-sys crate's sources).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
TARGETS=(policy snapshot request)
CARGO_FUZZ_VERSION=0.13.2

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

echo "== building the fuzz targets (stable, --sanitizer none)"
cargo fuzz build --sanitizer none

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
echo "== building the seed corpora"
bash fuzz/seed.sh "$scratch/corpus"

failed=()
for t in "${TARGETS[@]}"; do
  dict=fuzz/dicts/json.dict
  [ "$t" = policy ] && dict=fuzz/dicts/policy.dict
  mkdir -p "fuzz/artifacts/$t"
  echo "== fuzzing $t for ${SECONDS_PER_TARGET}s"
  # libFuzzer adds the inputs it finds to the corpus directory, which is thrown away with the
  # rest of the scratch directory.
  if ! cargo fuzz run --sanitizer none "$t" "$scratch/corpus/$t" -- \
      -dict="$dict" -max_total_time="$SECONDS_PER_TARGET" -timeout=30 -rss_limit_mb=2048 \
      -print_final_stats=1 2>"$scratch/$t.log"; then
    failed+=("$t")
    grep -v '^\(#[0-9]\|INFO\|WARNING\)' "$scratch/$t.log" | tail -n 60 >&2 || true
  fi
  grep -E '^(stat::|Done|#[0-9]+\s+DONE)' "$scratch/$t.log" || true
done

cat <<'EOF'

The long campaign: seed fuzz/corpus/ (ignored by git; again after the repository's policies or
snapshots change, which keeps what the corpus has grown), then per target, two at a time on two
cores:
  bash fuzz/seed.sh fuzz/corpus
  cargo fuzz run --sanitizer none TARGET fuzz/corpus/TARGET -- \
    -dict=fuzz/dicts/DICT.dict -max_total_time=1800 -timeout=30 \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1
  (TARGET: policy, snapshot, request; DICT: policy for policy, json otherwise.)
Crashes land in fuzz/artifacts/TARGET/; reproduce one with
  cargo fuzz run --sanitizer none TARGET fuzz/artifacts/TARGET/crash-...
and keep it, minimized (cargo fuzz tmin), under fuzz/regressions/TARGET/.
EOF

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing found a crash in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzzing: ${#TARGETS[@]} targets, ${SECONDS_PER_TARGET}s each, no crash"
