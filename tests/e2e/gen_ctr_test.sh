#!/usr/bin/env bash
# bench/gen_ctr: the same flags give the same bytes (and the CRC-32 it prints is the file's);
# another seed gives other bytes; the train/test split does not change the rows; the shape
# flags hold (rows, feature range, labels); the data is learnable (tron beats chance on the
# test split). The scale benchmark (scripts/bench_scale.sh) relies on all of this.
source "$(dirname "$0")/lib.sh"
GEN=$RINGTRAIN_BUILD_DIR/bench/gen_ctr
[[ -x $GEN ]] || fail "$GEN is not built (RINGTRAIN_BUILD_BENCH=ON builds it)"

flags=(--rows 3000 --test-rows 1000 --hash-bits 8 --nnz 12 --seed 7)
"$GEN" "${flags[@]}" --out "$WORK/a" >"$WORK/a.json"
"$GEN" "${flags[@]}" --out "$WORK/b" >"$WORK/b.json"
cmp -s "$WORK/a.train.svm" "$WORK/b.train.svm" || fail "same flags, different training bytes"
cmp -s "$WORK/a.test.svm" "$WORK/b.test.svm" || fail "same flags, different test bytes"
[[ $(json_field "$WORK/a.json" crc32) == $(json_field "$WORK/b.json" crc32) ]] ||
  fail "same flags, different printed checksums"
crc=$(/usr/bin/python3 -c 'import sys, zlib; print("\"%08x\"" % zlib.crc32(open(sys.argv[1], "rb").read()))' "$WORK/a.train.svm")
[[ $crc == $(json_field "$WORK/a.json" crc32) ]] || fail "printed crc32 is not the file's ($crc)"
[[ $(json_field "$WORK/a.json" bytes) == $(stat -c %s "$WORK/a.train.svm") ]] ||
  fail "printed bytes are not the file's size"

"$GEN" --rows 3000 --test-rows 1000 --hash-bits 8 --nnz 12 --seed 8 --out "$WORK/c" >/dev/null
if cmp -s "$WORK/a.train.svm" "$WORK/c.train.svm"; then fail "another seed gave the same bytes"; fi

# Row r depends only on (seed, r): one 4000-row file is the train file followed by the test file.
"$GEN" --rows 4000 --hash-bits 8 --nnz 12 --seed 7 --out "$WORK/whole" >/dev/null
cat "$WORK/a.train.svm" "$WORK/a.test.svm" | cmp -s - "$WORK/whole.train.svm" ||
  fail "the train/test split changed the rows"

[[ $(wc -l <"$WORK/a.train.svm") == 3000 && $(wc -l <"$WORK/a.test.svm") == 1000 ]] ||
  fail "row counts differ from --rows/--test-rows"
awk '{ for (i = 2; i <= NF; i++) { split($i, kv, ":"); if (kv[1] < 1 || kv[1] > 256 || kv[2] != 1) exit 1 } }' \
  "$WORK/a.train.svm" || fail "a feature index outside [1, 2^8] or a non-binary value"
pos=$(grep -c '^+1 ' "$WORK/a.train.svm" || true)
((pos > 600 && pos < 2400)) || fail "$pos positive labels of 3000: the planted model is degenerate"

"$GEN" --rows 200 --hash-bits 10 --nnz 5 --values real --task regression --out "$WORK/r" >/dev/null
awk '{ if ($1 == "+1" || $1 == "-1") exit 1; for (i = 2; i <= NF; i++) { split($i, kv, ":");
  if (kv[2] <= 0 || kv[2] > 1) exit 1 } }' "$WORK/r.train.svm" ||
  fail "regression targets or real values out of range"

"$BIN" --log-level warn train --data "$WORK/a.train.svm" --test-data "$WORK/a.test.svm" --bias \
  --optimizer tron --metrics "$WORK/m.jsonl" --threads 1 || fail "training on the generated data failed"
acc=$(json_field "$WORK/m.jsonl" test_accuracy)
le 0.65 "$acc" || fail "test accuracy $acc: the data is not learnable"
pass "same bytes for the same flags (crc $crc), split-invariant rows, test accuracy $acc"
