#!/usr/bin/env bash
# Multi-host in network namespaces: 3 "hosts" (namespaces joined by a bridge, private test
# addresses), a 3-node ZooKeeper ensemble with one node per host, and one rank per host with
# the TCP transport, each advertising its own address. The result equals the single-host
# run. A rank that advertises an address peers cannot reach is reported by address.
source "$(dirname "$0")/lib.sh"
[[ $(id -u) -eq 0 ]] || fail "needs root for ip netns (CI runs as root)"

prefix="rt$$"
prefix=${prefix:0:8}
mapfile -t addr < <("$(dirname "$0")/netns_hosts.sh" up "$prefix" 3)
on_exit "'$(dirname "$0")/netns_hosts.sh' down '$prefix'"
((${#addr[@]} == 3)) || fail "could not create 3 namespaces"
ns=("$prefix-h1" "$prefix-h2" "$prefix-h3")

out=$("$E2E_ROOT/scripts/zk.sh" start --ensemble --netns "${ns[0]},${ns[1]},${ns[2]}" \
  --addresses "${addr[0]},${addr[1]},${addr[2]}")
eval "$out"
on_exit "'$E2E_ROOT/scripts/zk.sh' stop '$ZK_DIR'"
zk=$ZK_CONNECT

# --shm off: the namespaces share one kernel and /dev/shm, so --shm auto would move the links to
# shared memory; this test is about TCP between hosts.
common=(train --zk "$zk" --transport tcp --shm off --data "$HEART" --bias --C 1 --tol 1e-4)
job=$(job_name mh)
pids=()
# The three ways to choose the address: explicit, by interface, and the default (the
# local address facing the first ZooKeeper server).
choice=(--advertise-address "${addr[0]}")
for i in 0 1 2; do
  ((i == 1)) && choice=(--interface eth0)
  ((i == 2)) && choice=()
  ip netns exec "${ns[$i]}" "$BIN" "${common[@]}" --ranks 3 --timeout 60 --job "$job" "${choice[@]}" \
    --metrics "$WORK/mh$i.jsonl" --output "$WORK/mh$i.model" >"$WORK/mh$i.log" 2>&1 &
  pids+=($!)
done
for i in 0 1 2; do
  wait "${pids[$i]}" || fail "rank process on ${ns[$i]} failed: $(tail -3 "$WORK/mh$i.log")"
done
metrics=$(ls -S "$WORK"/mh*.jsonl 2>/dev/null | head -1)
[[ -s $metrics ]] || fail "no metrics written by the leader"
[[ $(json_field "$metrics" world_size) == 3 ]] || fail "world_size is not 3"
# Every member advertised its own namespace's address (the leader's ring header lists them).
header=$(grep -h 'ring of 3 formed' "$WORK"/mh*.log || true)
[[ -n $header ]] || fail "the leader printed no ring header"
for i in 0 1 2; do
  grep -q "(${addr[$i]}:[0-9]*)" <<<"$header" || fail "address ${addr[$i]} not in the ring: $header"
done

"$BIN" train --data "$HEART" --bias --C 1 --tol 1e-4 --metrics "$WORK/one.jsonl" 2>/dev/null ||
  fail "single-host run failed"
o1=$(json_field "$WORK/one.jsonl" objective)
om=$(json_field "$metrics" objective)
d=$(rel_diff "$o1" "$om")
le "$d" 1e-6 || fail "multi-host objective $om vs single-host $o1 (relative $d)"

# The same across the 3 hosts under mpirun (MPI transport), launched from host 1 with the
# namespaces standing in for ssh. routed=direct: with the default tree routing Open MPI 4.1's
# daemons sometimes abort at launch here ("internal programming error ... set the MCA param
# routed=direct"; 3 of 10 runs on a loaded 2-core host), before any rank starts. routed=direct
# still hits it now and then under load (1 of 3 runs with two other e2e tests beside it), so
# that one launch failure — Open MPI's message and no rank having written a metric — is
# retried, at most twice; any other failure fails the test.
for attempt in 1 2 3; do
  job3=$(job_name mhmpi)
  rm -f "$WORK/mpi.jsonl"
  rc=0
  ip netns exec "${ns[0]}" mpirun --allow-run-as-root --oversubscribe -np 3 \
    -H "${addr[0]},${addr[1]},${addr[2]}" --mca plm_rsh_agent "$(dirname "$0")/netns_agent.sh" \
    --mca oob_tcp_if_include eth0 --mca btl_tcp_if_include eth0 --mca routed direct \
    "$BIN" train --zk "$zk" --transport mpi --data "$HEART" --bias --C 1 --tol 1e-4 --job "$job3" \
    --metrics "$WORK/mpi.jsonl" >"$WORK/mpi.log" 2>&1 || rc=$?
  ((rc == 0)) && break
  if ((attempt < 3)) && [[ ! -e $WORK/mpi.jsonl ]] &&
    grep -q 'internal programming error' "$WORK/mpi.log"; then
    echo "mpirun launch failed before any rank started (Open MPI's routed flake); retrying"
    continue
  fi
  fail "mpirun across hosts failed (exit $rc): $(tail -5 "$WORK/mpi.log")"
done
[[ $(json_field "$WORK/mpi.jsonl" world_size) == 3 ]] || fail "mpirun run: world_size is not 3"
ompi=$(json_field "$WORK/mpi.jsonl" objective)
dm=$(rel_diff "$o1" "$ompi")
le "$dm" 1e-6 || fail "mpirun multi-host objective $ompi vs single-host $o1 (relative $dm)"

# A wrong advertised address. (a) one this host does not have: refused at once, named.
ip netns exec "${ns[0]}" "$BIN" "${common[@]}" --ranks 2 --job "$(job_name mhnone)" \
  --advertise-address 10.213.250.77 --timeout 8 >"$WORK/none.log" 2>&1 && fail "bound a foreign address"
grep -q 'no address 10.213.250.77' "$WORK/none.log" || fail "foreign address not named: $(cat "$WORK/none.log")"
# (b) one peers cannot reach (loopback advertised across hosts, the classic wrong interface):
# the peer's failure names the address it tried.
job2=$(job_name mhbad)
pids=()
for i in 0 1; do
  adv=${addr[$i]}
  ((i == 1)) && adv=127.0.0.1  # reachable only from inside host 2 itself
  ip netns exec "${ns[$i]}" "$BIN" "${common[@]}" --ranks 2 --job "$job2" --advertise-address "$adv" \
    --timeout 8 >"$WORK/bad$i.log" 2>&1 &
  pids+=($!)
done
rcs=()
for i in 0 1; do rc=0; wait "${pids[$i]}" || rc=$?; rcs+=("$rc"); done
[[ ${rcs[0]} != 0 || ${rcs[1]} != 0 ]] || fail "a rank advertising an unreachable address succeeded"
grep -q '127.0.0.1:[0-9]' "$WORK/bad0.log" ||
  fail "no error names the unreachable address: $(tail -2 "$WORK/bad0.log") / $(tail -2 "$WORK/bad1.log")"
cat "$WORK/bad0.log" "$WORK/bad1.log" | grep -i error | head -3
pass "3 hosts + 3-node ensemble: objective $om equals single host $o1 (relative $d); under mpirun $ompi; bad address named (exit codes ${rcs[*]})"
