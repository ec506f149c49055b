#!/usr/bin/env bash
# Throwaway ZooKeeper for tests and demos: standalone or a 3-node ensemble on free 127.0.0.1
# ports, all state in a temp dir, admin server off, 4lw whitelist, maxClientCnxns=0.
#
#   eval "$(scripts/zk.sh start [--ensemble] [--tick MS] [--dir DIR])"
#       -> sets ZK_CONNECT=127.0.0.1:p1[,...] and ZK_DIR=<state dir>; waits until serving.
#   scripts/zk.sh stop DIR        stops exactly the servers started in DIR and removes DIR.
#   scripts/zk.sh kill DIR N      SIGKILLs server N (1..3) of DIR (fault tests).
#   scripts/zk.sh restart DIR N   starts server N of DIR again.
set -euo pipefail

ZK_BIN=/usr/share/zookeeper/bin/zkServer.sh

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

four_letter() {  # four_letter PORT WORD -> server's answer (empty if none)
  local ans=""
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 0
  printf '%s' "$2" >&3
  ans=$(timeout 2 cat <&3 2>/dev/null || true)
  exec 3<&- 3>&-
  printf '%s' "$ans"
}

start_node() {  # start_node DIR N
  local dir=$1 n=$2
  JMXDISABLE=true SERVER_JVMFLAGS="-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1" \
    setsid "$ZK_BIN" start-foreground "$dir/zoo$n.cfg" >"$dir/server$n.out" 2>&1 </dev/null &
  echo $! >"$dir/pid$n"
}

wait_serving() {  # wait_serving DIR N DEADLINE_EPOCH
  local dir=$1 n=$2 deadline=$3 port
  port=$(sed -n 's/^clientPort=//p' "$dir/zoo$n.cfg")
  while (($(date +%s) < deadline)); do
    if four_letter "$port" srvr | grep -q '^Mode: '; then return 0; fi
    if ! kill -0 "$(cat "$dir/pid$n")" 2>/dev/null; then
      die "server $n exited early; see $dir/server$n.out: $(tail -3 "$dir/server$n.out" | tr '\n' ' ')"
    fi
    sleep 0.2
  done
  die "server $n on 127.0.0.1:$port not serving within the deadline; see $dir/server$n.out"
}

cmd_start() {
  local ensemble=0 tick=200 dir=""
  while (($#)); do
    case $1 in
      --ensemble) ensemble=1 ;;
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
  local client_ports=() servers=""
  for n in $(seq 1 $nodes); do
    client_ports+=("$(free_port)")
    if ((ensemble)); then
      servers+="server.$n=127.0.0.1:$(free_port):$(free_port)"$'\n'
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
clientPortAddress=127.0.0.1
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
  for n in $(seq 1 $nodes); do wait_serving "$dir" "$n" "$deadline"; done
  local connect
  connect=$(printf '127.0.0.1:%s,' "${client_ports[@]}")
  connect=${connect%,}
  echo "$connect" >"$dir/connect"
  echo "ZK_CONNECT=$connect"
  echo "ZK_DIR=$dir"
}

cmd_stop() {
  local dir=${1:-}
  [[ -n $dir && -d $dir ]] || die "stop: no such state dir '$dir'"
  for pidf in "$dir"/pid*; do
    [[ -e $pidf ]] || continue
    local pid
    pid=$(cat "$pidf")
    kill "$pid" 2>/dev/null || true
  done
  for pidf in "$dir"/pid*; do
    [[ -e $pidf ]] || continue
    local pid
    pid=$(cat "$pidf")
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$dir"
}

cmd_kill() { kill -9 "$(cat "$1/pid$2")" 2>/dev/null || true; }
cmd_restart() {
  start_node "$1" "$2"
  wait_serving "$1" "$2" $(($(date +%s) + 60)) || true
}

case ${1:-} in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  kill) shift; cmd_kill "$@" ;;
  restart) shift; cmd_restart "$@" ;;
  *) die "usage: zk.sh start [--ensemble] [--tick MS] [--dir DIR] | stop DIR | kill DIR N | restart DIR N" ;;
esac
