#!/usr/bin/env bash
# tests/reliability/bad_input_test.sh [main|pending] — the bad-input table (issue 7 item 2),
# driving the real binary. For each bad input: the documented exit code (1 usage/config,
# 2 data, 3 ZooKeeper), exactly one ERROR line saying what, where and what to do, within a
# deadline, and the pre-existing --output file untouched. `main` is what CTest runs; `pending`
# holds the rows that fail today because of code outside this suite's reach (docs/reliability.md
# lists them with the fix); it is left out of CMake until they are fixed.
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/rel_lib.sh"
set_=${1:-main}
HS=$HEART
OUT=$WORK/existing.model
SENTINEL="pre-existing output, must survive a failed run"
reset_out() { printf '%s\n' "$SENTINEL" >"$OUT"; }
check_out() { [[ $(cat "$OUT") == "$SENTINEL" ]] || fail "$1: the --output file was touched"; }
# bad TAG RC [--no-hint] [NEEDLE..] -- ARGS: one row of the table.
bad() {
  local tag=$1 rc=$2
  shift 2
  local checks=()
  while [[ $1 != -- ]]; do checks+=("$1"); shift; done
  shift
  reset_out
  run_cli "$tag" 60 "$@"
  check_error "$tag" "$rc" "${checks[@]}"
  check_out "$tag"
}

cd "$WORK"
printf '+1 1:0.5 2:abc\n' >bad_value.svm
printf '+1 3:1 2:1\n' >descending.svm
printf '+1 0:1\n' >zero_index.svm
printf 'x 1:1\n' >bad_label.svm
: >empty.svm
printf '1,2,3\n1,x,3\n' >bad.csv
printf '1,2,3\n1,2\n' >ragged.csv
printf '\x00\x00\x08\x03\x00\x00\x00\x05' >trunc-images-idx3-ubyte
printf '\x00\x00\x08\x01\x00\x00\x00\x01\x01' >ok-labels-idx1-ubyte
printf 'BAD!\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x07' >magic-images-idx3-ubyte
mkfifo fifo.svm
printf 'data = "%s"\nno_such_key = 3\n' "$HS" >unknown_key.toml
printf 'data = "%s"\nC = "abc"\n' "$HS" >wrong_type.toml
printf 'data = [\n' >broken.toml
printf '1 1:1\n2 1:1 20:1\n3 5:1\n' >three_classes.svm
printf '3 1:1\n2.5 1:2\n' >continuous.svm

if [[ $set_ == main ]]; then
  # --- data files (exit 2) ---
  bad libsvm_bad_value 2 "bad_value.svm:1" -- train --data bad_value.svm --output "$OUT"
  bad libsvm_descending_index 2 "descending.svm:1" -- train --data descending.svm --output "$OUT"
  bad libsvm_zero_index 2 "zero_index.svm:1" -- train --data zero_index.svm --output "$OUT"
  bad libsvm_bad_label 2 "bad_label.svm:1" -- train --data bad_label.svm --output "$OUT"
  bad csv_bad_field 2 "bad.csv:2" -- train --data bad.csv --output "$OUT"
  bad csv_ragged_row 2 "ragged.csv:2" -- train --data ragged.csv --output "$OUT"
  bad idx_truncated 2 "trunc-images-idx3-ubyte" -- train --data trunc-images-idx3-ubyte \
    --labels ok-labels-idx1-ubyte --format idx --output "$OUT"
  bad idx_bad_magic 2 "magic-images-idx3-ubyte" -- train --data magic-images-idx3-ubyte \
    --labels ok-labels-idx1-ubyte --format idx --output "$OUT"
  bad empty_file 2 "empty.svm" -- train --data empty.svm --output "$OUT"
  bad file_not_found 2 "$WORK/nope.svm" -- train --data "$WORK/nope.svm" --output "$OUT"
  # Root ignores chmod 000, so unreadable = a directory (EISDIR), a path through a regular
  # file (ENOTDIR), and a FIFO nobody writes (must not block).
  bad unreadable_directory 2 "$WORK" -- train --data "$WORK" --output "$OUT"
  bad unreadable_enotdir 2 "$HS/x" -- train --data "$HS/x" --output "$OUT"
  bad unreadable_fifo 2 "fifo.svm" -- train --data fifo.svm --output "$OUT"
  bad unreadable_fifo_idx 2 "fifo.svm" -- train --data fifo.svm --labels ok-labels-idx1-ubyte \
    --format idx --output "$OUT"
  bad test_data_not_found 2 "nope-test.svm" -- train --data "$HS" --test-data nope-test.svm \
    --output "$OUT"
  bad continuous_labels 2 "continuous.svm:2" "--model svr" -- train --data continuous.svm \
    --output "$OUT"

  # --- labels/features that do not match the model (exit 2) ---
  reset_out
  run_cli train_ok 120 train --data "$HS" --output model.bin
  [[ $RC -eq 0 ]] || fail "reference training failed: $ERR"
  # Classes the model never saw are not an error: evaluated as errors, with one warning.
  run_cli eval_foreign_labels 60 eval --model model.bin --data three_classes.svm
  [[ $RC -eq 0 ]] || fail "eval_foreign_labels: exit $RC, want 0; stderr: $ERR"
  [[ $(grep -c '^WARN' "$WORK/eval_foreign_labels.err") -eq 1 && $ERR == *"classes 2, 3"* ]] ||
    fail "eval_foreign_labels: want one warning naming classes 2 and 3; stderr: $ERR"
  pass "eval_foreign_labels -> exit 0, one warning naming the unseen classes"

  # --- model files (exit 2): truncated, corrupted payload, wrong version, not a model ---
  size=$(stat -c %s model.bin)
  head -c $((size - 9)) model.bin >truncated.model
  cp model.bin corrupt.model
  printf '\x55' | dd of=corrupt.model bs=1 seek=$((size - 12)) conv=notrunc status=none
  cp model.bin version.model
  printf '\x07' | dd of=version.model bs=1 seek=8 conv=notrunc status=none
  cp "$HS" notamodel.model
  for m in truncated corrupt version notamodel; do
    bad "model_${m}_eval" 2 "$m.model" -- eval --model "$m.model" --data "$HS"
    bad "model_${m}_predict" 2 "$m.model" -- predict --model "$m.model" --data "$HS" --output "$OUT"
    bad "model_${m}_export" 2 "$m.model" -- export --model "$m.model" --format liblinear \
      --output "$OUT"
  done
  bad model_fifo 2 "fifo.svm" -- eval --model fifo.svm --data "$HS"
  bad model_not_found 2 "nope.model" -- eval --model nope.model --data "$HS"

  # --- config and flags (exit 1) ---
  bad config_unknown_key 1 "no_such_key" "unknown_key.toml" -- train --config unknown_key.toml \
    --output "$OUT"
  bad config_wrong_type 1 --no-hint "'C'" "wrong_type.toml" -- train --config wrong_type.toml \
    --output "$OUT"
  bad config_not_found 1 "--config" -- train --config nope.toml --data "$HS" --output "$OUT"
  bad c_zero 1 --no-hint "--C" -- train --data "$HS" --C 0 --output "$OUT"
  bad c_negative 1 --no-hint "--C" -- train --data "$HS" --C -1 --output "$OUT"
  bad epochs_zero 1 --no-hint "--epochs" -- train --data "$HS" --epochs 0 --output "$OUT"
  bad conflicting_resume 1 --no-hint "--resume" -- train --data "$HS" --resume --resume-from 2 \
    --output "$OUT"
  bad conflicting_loss 1 --no-hint "--loss" -- train --data "$HS" --model lr --loss hinge \
    --output "$OUT"
  bad job_with_slash 1 "a/b" "--job" -- train --data "$HS" --job a/b --ranks 2 \
    --zk 127.0.0.1:1 --output "$OUT"
  bad status_job_with_slash 1 "a/b" -- status --job a/b --zk 127.0.0.1:1

  # --- option parsing of every subcommand (exit 1, issue 12 item 6): unknown option,
  # conversion failure, missing value; top level: unknown option, unknown command, none ---
  for cmd in train predict eval export status checkpoints; do
    bad "parse_unknown_$cmd" 1 "unknown option '--no-such-option'" "(at ringtrain $cmd)" \
      "ringtrain $cmd --help" -- "$cmd" --no-such-option
  done
  bad parse_conversion_train 1 "--epochs" "abc" "(at ringtrain train)" -- train --data "$HS" \
    --epochs abc
  bad parse_conversion_status 1 "--timeout" "(at ringtrain status)" -- status --job j \
    --timeout soon
  bad parse_conversion_checkpoints 1 "epoch" "(at ringtrain checkpoints)" -- checkpoints \
    --job j show ten
  bad parse_missing_value_train 1 "--epochs" "missing value" -- train --data "$HS" --epochs
  bad parse_missing_value_eval 1 "--model" "missing value" "(at ringtrain eval)" -- eval --model
  bad parse_missing_value_predict 1 "--output" "(at ringtrain predict)" -- predict \
    --model m --data "$HS" --output
  bad parse_extra_argument 1 "unexpected argument 'extra'" -- checkpoints --job j show 3 extra
  bad parse_top_unknown_option 1 "unknown option '--frobnicate'" "(at ringtrain)" -- --frobnicate
  bad parse_top_unknown_command 1 "unknown command 'trian'" "train" -- trian --data "$HS"
  bad parse_no_command 1 "no command" -- --log-level debug
  bad parse_bad_log_level 1 "--log-level" -- --log-level loud train --data "$HS"
  run_cli version 10 --version
  [[ $RC -eq 0 && $(cat "$WORK/version.out") =~ ^ringtrain\ [0-9]+\.[0-9]+\.[0-9]+$ ]] ||
    fail "--version: exit $RC, stdout '$(cat "$WORK/version.out")'"
  [[ ! -s $WORK/version.err ]] || fail "--version wrote to stderr: $ERR"
  pass "--version -> exit 0, one line 'ringtrain X.Y.Z'"

  # --- gzip'd text data is read transparently (a .gz name or not), bad gzip is exit 2 ---
  gzip -c "$HS" >hs.libsvm.gz
  cp hs.libsvm.gz hs-gzip-no-suffix.libsvm
  printf '1,0.5,2\n0,1.5,1\n1,0.25,3\n0,2.5,0\n' >small.csv
  gzip -c small.csv >small.csv.gz
  run_cli gz_plain 60 train --data "$HS" --output plain.model
  run_cli gz_libsvm 60 train --data hs.libsvm.gz --output gz.model
  [[ $RC -eq 0 ]] || fail "gz_libsvm: exit $RC: $ERR"
  cmp -s plain.model gz.model || fail "gz_libsvm: the model differs from the plain file's"
  run_cli gz_no_suffix 60 train --data hs-gzip-no-suffix.libsvm --output gz2.model
  [[ $RC -eq 0 ]] && cmp -s plain.model gz2.model || fail "gz_no_suffix: exit $RC: $ERR"
  run_cli gz_csv_plain 60 train --data small.csv --label-column 0 --output csv.model
  run_cli gz_csv 60 train --data small.csv.gz --label-column 0 --output csvgz.model
  [[ $RC -eq 0 ]] && cmp -s csv.model csvgz.model || fail "gz_csv: exit $RC: $ERR"
  run_cli gz_eval 60 eval --model plain.model --data hs.libsvm.gz
  [[ $RC -eq 0 && $(cat "$WORK/gz_eval.out") == *accuracy* ]] || fail "gz_eval: exit $RC: $ERR"
  pass "gzip'd LIBSVM and CSV (train, eval) give the plain file's model bit for bit"
  head -c 400 hs.libsvm.gz >truncated.libsvm.gz
  bad gz_truncated 2 "truncated.libsvm.gz" "gzip" -- train --data truncated.libsvm.gz \
    --output "$OUT"
  printf '\x1f\x8bnot deflate data at all' >garbage.libsvm.gz
  bad gz_garbage 2 "garbage.libsvm.gz" "gzip" -- train --data garbage.libsvm.gz --output "$OUT"

  # --- an unresolvable ZooKeeper host is exit 3 naming it, at once ---
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  bad zk_unresolvable_train 3 "no-such-host.invalid" -- train --data "$HS" --job rel-dns \
    --ranks 2 --zk no-such-host.invalid:2181 --timeout 5 --output "$OUT"
  bad zk_unresolvable_status 3 "no-such-host.invalid" -- status --job rel-dns \
    --zk no-such-host.invalid:2181 --timeout 5
  bad zk_unresolvable_checkpoints 3 "no-such-host.invalid" -- checkpoints --job rel-dns \
    --zk no-such-host.invalid:2181 --timeout 5 list
  # One host of several unresolvable: the client uses the others; if none answers, the error
  # says which host did not resolve.
  bad zk_unresolvable_one_of_two 3 "cannot resolve the ZooKeeper host 'no-such-host.invalid'" \
    -- status --job rel-dns --zk "127.0.0.1:$port,no-such-host.invalid:2181" --timeout 2
  bad zk_malformed_connect 3 "--zk" -- status --job rel-dns --zk "127.0.0.1:port" --timeout 5

  # --- ZooKeeper (exit 3), each within its --timeout plus a margin ---
  t0=$(date +%s)
  bad zk_closed_port 3 "127.0.0.1:$port" -- train --data "$HS" --job rel-closed --ranks 2 \
    --zk "127.0.0.1:$port" --timeout 5 --output "$OUT"
  (($(date +%s) - t0 <= 20)) || fail "zk_closed_port took $(($(date +%s) - t0))s for --timeout 5"
  bad status_zk_closed_port 3 "127.0.0.1:$port" -- status --job rel-closed --zk "127.0.0.1:$port"

  # Blackholed: a namespace where 10.213.0.77 sits behind a veth pair whose far end does not
  # forward (static neighbour entry, no ARP): SYNs vanish, no RST, no ICMP, so connects hang
  # until our deadline.
  ns=rt-bh-$$
  ip netns add "$ns"
  on_exit "ip netns del '$ns'"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add bh0 type veth peer name bh1
  ip -n "$ns" addr add 10.213.0.1/24 dev bh0
  ip -n "$ns" link set bh0 up
  ip -n "$ns" link set bh1 up
  ip -n "$ns" neigh add 10.213.0.77 lladdr 02:00:00:00:00:77 dev bh0 nud permanent
  t0=$(date +%s)
  reset_out
  RC=0
  SECS=?
  timeout -s KILL 60 ip netns exec "$ns" "$BIN" train --data "$HS" --job rel-bh --ranks 2 \
    --zk 10.213.0.77:2181 --timeout 5 --output "$OUT" >"$WORK/zk_blackholed.out" \
    2>"$WORK/zk_blackholed.err" || RC=$?
  ERR=$(cat "$WORK/zk_blackholed.err")
  SECS=$(($(date +%s) - t0))
  check_error zk_blackholed 3 "10.213.0.77:2181"
  check_out zk_blackholed
  (($(date +%s) - t0 <= 20)) || fail "zk_blackholed took $(($(date +%s) - t0))s for --timeout 5"

  start_zk
  job=$(job_name auth)
  run_cli auth_owner 120 train --data "$HS" --job "$job" --ranks 1 --zk "$ZK" \
    --zk-auth alice:s3cret-pw --timeout 30
  [[ $RC -eq 0 ]] || fail "the owner's run failed: $ERR"
  bad zk_wrong_auth 3 "--zk-auth" -- train --data "$HS" --job "$job" --ranks 1 --zk "$ZK" \
    --zk-auth alice:wrong --timeout 10 --output "$OUT"
  bad zk_no_auth 3 "--zk-auth" -- train --data "$HS" --job "$job" --ranks 1 --zk "$ZK" \
    --timeout 10 --output "$OUT"
  bad status_wrong_auth 3 -- status --job "$job" --zk "$ZK" --zk-auth alice:wrong
  bad zk_auth_file_missing 1 "nope.auth" -- train --data "$HS" --job "$job" --ranks 1 \
    --zk "$ZK" --zk-auth-file nope.auth --timeout 10 --output "$OUT"
fi
if [[ $set_ == main || $set_ == pending ]]; then
  # Rows that failed in the first run (docs/reliability.md "Open findings" F2, F2b, F2c),
  # fixed since: hints on option errors, malformed TOML, --output directory checked early.
  bad config_broken_toml 1 "broken.toml" -- train --config broken.toml --output "$OUT"
  bad config_wrong_type_hint 1 "'C'" "wrong_type.toml" -- train --config wrong_type.toml \
    --output "$OUT"
  bad c_zero_hint 1 "--C" -- train --data "$HS" --C 0 --output "$OUT"
  bad epochs_zero_hint 1 "--epochs" -- train --data "$HS" --epochs 0 --output "$OUT"
  bad output_dir_missing 1 "/nonexistent-dir" -- train --data "$HS" \
    --output /nonexistent-dir/m.model
  # An existing directory as the model path: refused before training, not at the rename.
  bad output_is_directory 1 "is a directory" -- train --data "$HS" --output "$WORK"
  bad metrics_is_directory 1 "--metrics" -- train --data "$HS" --metrics "$WORK/"
fi
echo "--- table ---"
cat "$WORK/table"
pass "bad input table ($set_)"
