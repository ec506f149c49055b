#!/usr/bin/env bash
# Throwaway ZooKeeper for tests and demos: standalone or a 3-node ensemble on free 127.0.0.1
# ports, all state in a temp dir, admin server off, 4lw whitelist, maxClientCnxns=0.
#
#   eval "$(scripts/zk.sh start [--ensemble] [--tick MS] [--dir DIR])"
#       -> sets ZK_CONNECT=127.0.0.1:p1[,...] and ZK_DIR=<state dir>; waits until serving.
#   scripts/zk.sh stop DIR [--keep-data]
#                                 stops exactly the servers started in DIR and removes DIR
#                                 (with --keep-data the znodes stay in DIR for a later start
#                                 --dir DIR, e.g. to --resume a job after the script ended).
#   scripts/zk.sh kill DIR N      SIGKILLs server N (1..3) of DIR (fault tests).
#   scripts/zk.sh restart DIR N   starts server N of DIR again.
#   ... start --ensemble --netns ns1,ns2,ns3 --addresses a1,a2,a3
#       runs node N inside network namespace nsN bound to aN (multi-host tests); ports are
#       then the standard 2181/2888/3888 of each namespace.
set -euo pipefail

ZK_BIN=/usr/share/zookeeper/bin/zkServer.sh

EARLY_EXIT=""
die() { echo "zk.sh: $*" >&2; exit 1; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if port_free "$p" && ! grep -qs ":$p\$" "$USED_PORTS" 2>/dev/null; then
      echo ":$p" >>"$USED_PORTS"
      echo "$p"
      return 0
    fi
  done
  die "no free port found on 127.0.0.1"
}

four_letter() {  # four_letter ADDRESS PORT WORD [NETNS] -> server's answer (empty if none)
  local script='{ exec 3<>"/dev/tcp/$0/$1"; } 2>/dev/null || exit 0
printf "%s" "$2" >&3; timeout 2 cat <&3 2>/dev/null || true'
  if [[ -n ${4:-} ]]; then
    ip netns exec "$4" bash -c "$script" "$1" "$2" "$3"
  else
    bash -c "$script" "$1" "$2" "$3"
  fi
}

start_node() {  # start_node DIR N
  local dir=$1 n=$2 prefix=()
  if [[ -s $dir/netns$n ]]; then prefix=(ip netns exec "$(cat "$dir/netns$n")"); fi
  JMXDISABLE=true SERVER_JVMFLAGS="-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1" \
    setsid "${prefix[@]}" "$ZK_BIN" start-foreground "$dir/zoo$n.cfg" >"$dir/server$n.out" 2>&1 </dev/null &
  echo $! >"$dir/pid$n"
}

wait_serving() {  # wait_serving DIR N DEADLINE_EPOCH
  local dir=$1 n=$2 deadline=$3 port addr ns=""
  port=$(sed -n 's/^clientPort=//p' "$dir/zoo$n.cfg")
  addr=$(sed -n 's/^clientPortAddress=//p' "$dir/zoo$n.cfg")
  [[ -s $dir/netns$n ]] && ns=$(cat "$dir/netns$n")
  while (($(date +%s) < deadline)); do
    if four_letter "$addr" "$port" srvr "$ns" | grep -q '^Mode: '; then return 0; fi
    if ! kill -0 "$(cat "$dir/pid$n")" 2>/dev/null; then
      EARLY_EXIT="server $n exited early; see $dir/server$n.out: $(tail -3 "$dir/server$n.out" | tr '\n' ' ')"
      return 2
    fi
    sleep 0.2
  done
  die "server $n on 127.0.0.1:$port not serving within the deadline; see $dir/server$n.out"
}

cmd_start() {
  local ensemble=0 tick=200 dir="" netns="" addresses=""
  while (($#)); do
    case $1 in
      --ensemble) ensemble=1 ;;
      --netns) netns=$2; shift ;;
      --addresses) addresses=$2; shift ;;
      --tick) tick=$2; shift ;;
      --dir) dir=$2; shift ;;
      *) die "unknown option '$1' (use --ensemble, --tick MS, --dir DIR)" ;;
    esac
    shift
  done
  [[ -x $ZK_BIN ]] || die "$ZK_BIN not found; run scripts/setup.sh"
  if [[ -z $dir ]]; then dir=$(mktemp -d "${TMPDIR:-/tmp}/ringtrain-zk.XXXXXX"); fi
  mkdir -p "$dir"
  USED_PORTS="$dir/ports"
  local nodes=1
  ((ensemble)) && nodes=3
  # A server that dies at start (typically a port another process took between our free-port
  # check and its bind) is retried twice with fresh ports; namespaced nodes use fixed ports.
  local attempts=3 attempt rc
  [[ -n $netns ]] && attempts=1
  for attempt in $(seq 1 $attempts); do
    rc=0
    start_attempt || rc=$?
    ((rc == 0)) && return 0
    for pidf in "$dir"/pid*; do
      [[ -e $pidf ]] || continue
      pkill -KILL -P "$(cat "$pidf")" 2>/dev/null || true
      kill -9 "$(cat "$pidf")" 2>/dev/null || true
      rm -f "$pidf"
    done
    ((attempt < attempts)) && echo "zk.sh: $EARLY_EXIT; retrying with fresh ports" >&2
  done
  die "$EARLY_EXIT"
}

# One try of cmd_start with fresh ports (reads cmd_start's locals); 2 if a server exited early.
start_attempt() {
  local client_ports=() servers="" addrs=() nss=()
  if [[ -n $netns ]]; then
    IFS=, read -r -a nss <<<"$netns"
    IFS=, read -r -a addrs <<<"$addresses"
    ((${#nss[@]} == nodes && ${#addrs[@]} == nodes)) ||
      die "--netns and --addresses need $nodes comma-separated entries each"
  fi
  for n in $(seq 1 $nodes); do
    if [[ -n $netns ]]; then
      client_ports+=(2181)
      echo "${nss[$((n - 1))]}" >"$dir/netns$n"
      ((ensemble)) && servers+="server.$n=${addrs[$((n - 1))]}:2888:3888"$'\n'
    else
      addrs+=(127.0.0.1)
      client_ports+=("$(free_port)")
      if ((ensemble)); then
        servers+="server.$n=127.0.0.1:$(free_port):$(free_port)"$'\n'
      fi
    fi
  done
  for n in $(seq 1 $nodes); do
    mkdir -p "$dir/data$n"
    ((ensemble)) && echo "$n" >"$dir/data$n/myid"
    cat >"$dir/zoo$n.cfg" <<CFG
tickTime=$tick
initLimit=20
syncLimit=10
dataDir=$dir/data$n
clientPort=${client_ports[$((n - 1))]}
clientPortAddress=${addrs[$((n - 1))]}
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,mntr,cons
forceSync=no
minSessionTimeout=$((tick * 2))
maxSessionTimeout=60000
$servers
CFG
  done
  for n in $(seq 1 $nodes); do start_node "$dir" "$n"; done
  local deadline=$(($(date +%s) + 60))
  for n in $(seq 1 $nodes); do wait_serving "$dir" "$n" "$deadline" || return 2; done
  local connect
  connect=""
  for n in $(seq 1 $nodes); do connect+="${addrs[$((n - 1))]}:${client_ports[$((n - 1))]},"; done
  connect=${connect%,}
  echo "$connect" >"$dir/connect"
  echo "ZK_CONNECT=$connect"
  echo "ZK_DIR=$dir"
}

cmd_stop() {
  local dir=${1:-} keep=${2:-}
  [[ -n $dir && -d $dir ]] || die "stop: no such state dir '$dir'"
  for pidf in "$dir"/pid*; do
    [[ -e $pidf ]] || continue
    local pid
    pid=$(cat "$pidf")
    # start-foreground execs java, but under `ip netns exec` the JVM may be a child.
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
  done
  for pidf in "$dir"/pid*; do
    [[ -e $pidf ]] || continue
    local pid
    pid=$(cat "$pidf")
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [[ $keep == --keep-data ]]; then
    rm -f "$dir"/pid* "$dir/ports" "$dir/connect"
  else
    rm -rf "$dir"
  fi
}

cmd_kill() {
  pkill -KILL -P "$(cat "$1/pid$2")" 2>/dev/null || true
  kill -9 "$(cat "$1/pid$2")" 2>/dev/null || true
}
cmd_restart() {
  start_node "$1" "$2"
  wait_serving "$1" "$2" $(($(date +%s) + 60)) || echo "zk.sh: $EARLY_EXIT" >&2
}

case ${1:-} in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  kill) shift; cmd_kill "$@" ;;
  restart) shift; cmd_restart "$@" ;;
  *) die "usage: zk.sh start [--ensemble] [--tick MS] [--dir DIR] | stop DIR | kill DIR N | restart DIR N" ;;
esac
