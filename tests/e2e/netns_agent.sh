#!/usr/bin/env bash
# OpenMPI plm_rsh_agent for multi-host tests in network namespaces: mpirun calls
# "netns_agent.sh HOST command..." where ssh would be; we run the command inside the namespace
# that owns HOST's address.
host=$1
shift
for ns in $(ip netns list | awk '{print $1}'); do
  if ip -n "$ns" -4 -o addr show 2>/dev/null | grep -q " $host/"; then
    exec ip netns exec "$ns" bash -c "$*"
  fi
done
echo "netns_agent.sh: no network namespace has address $host" >&2
exit 1
