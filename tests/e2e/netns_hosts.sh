#!/usr/bin/env bash
# netns_hosts.sh — "hosts" for multi-host tests on one machine: network namespaces joined by
# a bridge that lives in its own namespace, so nothing is added to the machine's own network.
#
#   netns_hosts.sh up PREFIX N      creates PREFIX-sw (bridge) and PREFIX-h1..hN with
#                                   addresses 10.213.<k>.1..N/24 (a private test range);
#                                   prints the addresses, one per line
#   netns_hosts.sh down PREFIX      removes every namespace starting with PREFIX-
set -euo pipefail

cmd=${1:-}; prefix=${2:-}
[[ -n $prefix && $prefix =~ ^[a-z0-9]+$ ]] || { echo "usage: netns_hosts.sh up|down PREFIX [N]" >&2; exit 1; }

down() {
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix-" || true); do
    # Kill whatever still runs inside (ranks, ZooKeeper) before removing the namespace.
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}

case $cmd in
  up)
    n=${3:-3}
    down
    # A /24 per prefix so concurrent runs with different prefixes do not collide.
    k=$(( $(cksum <<<"$prefix" | cut -d' ' -f1) % 200 + 20 ))
    ip netns add "$prefix-sw"
    ip -n "$prefix-sw" link add br0 type bridge
    ip -n "$prefix-sw" link set br0 up
    ip -n "$prefix-sw" link set lo up
    for i in $(seq 1 "$n"); do
      ns="$prefix-h$i"
      ip netns add "$ns"
      ip link add "${prefix}v$i" netns "$ns" type veth peer name "p$i" netns "$prefix-sw"
      ip -n "$prefix-sw" link set "p$i" master br0
      ip -n "$prefix-sw" link set "p$i" up
      ip -n "$ns" link set lo up
      ip -n "$ns" link set "${prefix}v$i" name eth0
      ip -n "$ns" addr add "10.213.$k.$i/24" dev eth0
      ip -n "$ns" link set eth0 up
      echo "10.213.$k.$i"
    done
    ;;
  down) down ;;
  *) echo "usage: netns_hosts.sh up|down PREFIX [N]" >&2; exit 1 ;;
esac
