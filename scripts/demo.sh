#!/usr/bin/env bash
# `make run`: the simulated demo site (config/demo.yaml), a virtual RFID reader (pcscd + vpcd),
# an MQTT broker, the daemon, the scripted demo day (which runs the bench CSMS) and a live view
# in the foreground. Ctrl-C stops everything in order and exits 0. State and logs: state/demo/.
# If a part of the demo dies, the demo says which and where its log is, stops the rest and
# exits 1: a demo going on without its daemon, simulator or CSMS would only show a broken site.
#
# Environment: DEMO_SECONDS_PER_HOUR (default 8) compresses the simulated day; DEMO_STATE_DIR
# (default state/demo) holds state and logs; DEMO_RFID=off leaves pcscd alone (no card reader);
# DEMO_OCPP=2.0.1 (or 2.1) runs the site on that OCPP version (default 1.6).
set -uo pipefail
cd "$(dirname "$0")/.."

CONFIG=config/demo.yaml
STATE=${DEMO_STATE_DIR:-state/demo}
BIN=.venv/bin
PCSC_LOCK=/tmp/edge-controller-pcscd.lock  # shared with the PC/SC tests: one pcscd per machine
PCSC_MARKER=edge-controller-pcscd            # in our pcscd's command line (see tests/.../pcscd.py)
PCSC_DIR=/tmp/$PCSC_MARKER-demo
VPCD_DRIVER=/usr/lib/pcsc/drivers/serial/libifdvpcd.so
NAMES=(view daemon day sim pcscd mosquitto)  # also the stop order
DAY_LOG=$STATE/demo-day.log

mkdir -p "$STATE"
: >"$DAY_LOG"
if [[ $STATE != state/demo ]]; then  # config/demo.yaml names state/demo
    export EDGE_CONTROLLER__STORAGE__STATE_DIR=$STATE EDGE_CONTROLLER__BUSES__RS485__DEVICE=$STATE/ttyDEMO
fi

say() { printf 'demo: %s\n' "$*" | tee -a "$DAY_LOG" >&2; }

alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

pid_of() { cat "$STATE/$1.pid" 2>/dev/null; }

# Stop one process we started (and its process group: socat under the simulator, the CSMS under
# the demo day): SIGTERM, then SIGKILL after $2 seconds.
stop() {
    local name=$1 grace_s=$2 pid
    pid=$(pid_of "$name") || return 0
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < grace_s * 10; i++)); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
    [[ $name != view ]] && kill -TERM -- "-$pid" 2>/dev/null
    rm -f "$STATE/$name.pid"
}

# Processes a previous run left behind (killed demo.sh): only ours, recognised by command line.
stop_leftovers() {
    local name pid cmdline
    for name in "${NAMES[@]}"; do
        pid=$(pid_of "$name") || continue
        cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || cmdline=""
        if [[ $cmdline =~ edge.controller|$PCSC_MARKER|$STATE ]]; then
            say "stopping $name left over from an earlier run (pid $pid)"
            stop "$name" 5
        fi
        rm -f "$STATE/$name.pid"
    done
    rm -f "$STATE/ttyDEMO" "$STATE/ttyDEMO.sim"
}

cleaned=0
cleanup() {
    ((cleaned)) && return
    cleaned=1
    trap '' INT TERM HUP
    printf '\ndemo: stopping (daemon first: it sets every charger to its safe current)\n' >&2
    stop view 3
    stop daemon 15
    stop day 8
    stop sim 5
    stop pcscd 5
    stop mosquitto 5
    rm -f "$STATE/ttyDEMO" "$STATE/ttyDEMO.sim"
    exec 9>&-  # releases the pcscd lock
    echo "demo: stopped; logs in $STATE/" >&2
}
trap 'cleanup; exit 0' INT TERM HUP

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() { "$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {  # port, seconds, pid that must stay alive
    for ((i = 0; i < $2 * 10; i++)); do
        port_taken "$1" && return 0
        alive "$3" || return 1
        sleep 0.1
    done
    return 1
}

# The port from config/demo.yaml, or a free one (then exported as an override) if it is taken.
pick_port() {
    local default=$1 var=$2 port=$1
    if port_taken "$default"; then
        port=$(free_port)
        say "port $default is taken; using $port ($var)"
    fi
    echo "$port"
}

start() {  # name, log file, command...: in its own session (terminal signals do not reach it)
    local name=$1 log=$2
    shift 2
    setsid "$@" </dev/null >>"$log" 2>&1 9>&- &
    echo $! >"$STATE/$name.pid"
}

start_mosquitto() {
    local port conf=$STATE/mosquitto.conf
    port=$(pick_port 18830 EDGE_CONTROLLER__MQTT__PORT)
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stdout\nuser %s\n' \
        "$port" "$(id -un)" >"$conf"
    : >"$STATE/mosquitto.log"
    if command -v mosquitto >/dev/null && start mosquitto "$STATE/mosquitto.log" mosquitto -c "$conf" &&
        wait_port "$port" 5 "$(pid_of mosquitto)"; then
        export EDGE_CONTROLLER__MQTT__ENABLED=true EDGE_CONTROLLER__MQTT__PORT=$port
        say "MQTT on: mosquitto on 127.0.0.1:$port, topics under edge/demo-site/#"
    else
        stop mosquitto 2
        export EDGE_CONTROLLER__MQTT__ENABLED=false
        say "MQTT off: mosquitto did not start ($(tail -n 1 "$STATE/mosquitto.log" 2>/dev/null))"
    fi
}

# Stop a pcscd an earlier demo or test run left behind; never anybody else's.
stray_pcscd_stopped() {
    local pid cmdline
    pid=$(cat /run/pcscd/pcscd.pid 2>/dev/null) || return 0
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 0
    [[ $cmdline == *pcscd* ]] || return 0
    if [[ $cmdline != *$PCSC_MARKER* ]]; then
        say "RFID off: another pcscd runs (pid $pid: $cmdline); stop it to get the virtual reader"
        return 1
    fi
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do alive "$pid" || return 0; sleep 0.1; done
    return 1
}

readers_visible() {
    "$BIN/python" - <<'EOF'
import sys
from smartcard.System import readers
try:
    sys.exit(0 if any("Virtual PCD" in str(r) for r in readers()) else 1)
except Exception:
    sys.exit(1)
EOF
}

start_pcscd() {
    local port=35963  # vpcd's own default slot port (35964 for its second slot)
    if [[ ${DEMO_RFID:-on} == off ]]; then
        say "RFID off (DEMO_RFID=off): no card reader in this demo"
        return
    fi
    exec 9>>"$PCSC_LOCK"
    flock -n 9 || say "waiting up to 60 s for a test run to release the machine's pcscd"
    if ! flock -w 60 9; then
        say "RFID off: the machine's pcscd is held by a test run ($PCSC_LOCK)"
        return
    fi
    stray_pcscd_stopped || return
    if port_taken $port || port_taken $((port + 1)); then
        port=$("$BIN/python" -c 'import socket
for _ in range(50):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    t = socket.socket()
    try:
        t.bind(("0.0.0.0", p + 1)); print(p); break
    except OSError: pass
    finally: t.close()')
    fi
    rm -rf "$PCSC_DIR" && mkdir -p "$PCSC_DIR/reader.conf.d"
    printf 'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:%s\nLIBPATH %s\nCHANNELID %s\n' \
        "$port" "$VPCD_DRIVER" "$port" >"$PCSC_DIR/reader.conf.d/vpcd"
    : >"$STATE/pcscd.log"
    start pcscd "$STATE/pcscd.log" pcscd --foreground --config "$PCSC_DIR/reader.conf.d"
    for ((i = 0; i < 50; i++)); do
        if readers_visible; then
            export EDGE_CONTROLLER_SIM_READERS="entrance=$port"
            say "RFID on: pcscd with the vpcd reader 'Virtual PCD 00 00' (card port $port)"
            return
        fi
        alive "$(pid_of pcscd)" || break
        sleep 0.3
    done
    say "RFID off: pcscd did not show the virtual reader (see $STATE/pcscd.log)"
    stop pcscd 2
}

start_sim() {
    local lan ctl
    lan=$(pick_port 15502 EDGE_CONTROLLER__BUSES__LAN__PORT)
    ctl=$(pick_port 18750 EDGE_CONTROLLER__SIMULATION__CONTROL_PORT)
    export EDGE_CONTROLLER__BUSES__LAN__PORT=$lan EDGE_CONTROLLER__SIMULATION__CONTROL_PORT=$ctl
    : >"$STATE/sim.log"
    start sim "$STATE/sim.log" "$BIN/edge-controller" simulate --config "$CONFIG"
    if ! wait_port "$ctl" 30 "$(pid_of sim)"; then
        say "the simulator did not start:"
        tail -n 20 "$STATE/sim.log" >&2
        cleanup
        exit 1
    fi
    say "simulator: 4 chargers, 6 connectors, grid meter (TCP :$lan, RTU $STATE/ttyDEMO),"
    say "  card terminal 'lobby' for hd1:1 (ZVT :$terminal)"
}

stop_leftovers
# A fresh site each time: the bench CSMS forgets everything when it stops, so should we.
rm -f "$STATE"/edge.db* "$STATE"/ocpp-*.json "$STATE/status.sock" "$STATE/csms-messages.jsonl"
say "starting the demo site (logs in $STATE/)"
start_mosquitto
start_pcscd
csms=$(pick_port 18900 EDGE_CONTROLLER__OCPP__URL)
export EDGE_CONTROLLER__OCPP__URL=ws://127.0.0.1:$csms
# The connectors' QR codes open the bench CSMS's payment page, on the port it got.
export EDGE_CONTROLLER__PAYMENTS__WEB__URL_TEMPLATE="http://127.0.0.1:$csms/pay/{identity}/{evse}?n={nonce}"
if [[ -n ${DEMO_OCPP:-} ]]; then
    export EDGE_CONTROLLER__OCPP__VERSION=$DEMO_OCPP
    say "OCPP $DEMO_OCPP (DEMO_OCPP)"
fi
# The card terminal the simulator plays (ZVT over TCP), on a free port.
terminal=$(pick_port 20007 EDGE_CONTROLLER__PAYMENTS__TERMINALS__LOBBY__PORT)
export EDGE_CONTROLLER__PAYMENTS__TERMINALS__LOBBY__PORT=$terminal
start_sim
web=$(pick_port 18080 EDGE_CONTROLLER__WEB__PORT)
export EDGE_CONTROLLER__WEB__PORT=$web
# An operator login for the console (the hash is read from a file, never from the YAML).
console_password=${DEMO_CONSOLE_PASSWORD:-demo-operator}
printf '%s\n' "$console_password" |
    "$BIN/edge-controller" web-password --output "$STATE/console-ops.hash"
export EDGE_CONTROLLER__WEB__ACCOUNTS="{\"ops\": {\"role\": \"operator\", \"password_hash_file\": \"$STATE/console-ops.hash\"}}"
: >"$STATE/daemon.log"
start daemon "$STATE/daemon.log" "$BIN/edge-controller" run --config "$CONFIG"
for ((i = 0; i < 300; i++)); do
    [[ -S $STATE/status.sock ]] && break
    if ! alive "$(pid_of daemon)"; then
        say "the daemon did not start:"
        tail -n 20 "$STATE/daemon.log" >&2
        cleanup
        exit 1
    fi
    sleep 0.1
done
say "daemon running (log: $STATE/daemon.log); bench CSMS on ws://127.0.0.1:$csms"
say "site display: http://127.0.0.1:$web/display (one connector: http://127.0.0.1:$web/display/keba:1)"
say "operator console: http://127.0.0.1:$web/console (user ops, password $console_password; DEMO_CONSOLE_PASSWORD)"
say "also on that port: /api/v1/openapi.json, /metrics (need web.api_tokens)"
start day "$DAY_LOG" "$BIN/python" -m edge_controller demo-day --config "$CONFIG" \
    --seconds-per-hour "${DEMO_SECONDS_PER_HOUR:-8}" --csms-log "$STATE/csms-messages.jsonl"

# The log of each part, to point at when it dies.
log_of() {
    case $1 in
        day) echo "$DAY_LOG" ;;
        view) echo "(the terminal)" ;;
        *) echo "$STATE/$1.log" ;;
    esac
}

name_of() {  # which part a process id is (none: one we stopped ourselves)
    local name
    for name in "${NAMES[@]}"; do
        [[ "$(pid_of "$name")" == "$1" ]] && echo "$name" && return
    done
}

# A part ended on its own: say loudly which and where its log is, stop the rest, exit 1.
died() {
    local name=$1 status=$2 how log
    log=$(log_of "$name")
    rm -f "$STATE/$name.pid"
    stop view 3  # hands the terminal back, so the message below stays on the screen
    how="exit status $status"
    ((status > 128)) && how="killed by signal $((status - 128))"
    {
        printf '\n'
        say "=================================================================="
        say "the $name process STOPPED ($how): the demo cannot go on without it"
        say "its log: $log"
        [[ -f $log ]] && tail -n 15 "$log" | sed 's/^/    /'
        say "=================================================================="
    } >&2
    cleanup
    echo "demo: failed: the $name process stopped (log: $log)" >&2
    exit 1
}

# The live view takes the terminal's foreground: Ctrl-C reaches it alone, then we stop the rest.
"$BIN/python" -m edge_controller.sim.demo_view --log "$DAY_LOG" -- \
    "$BIN/edge-controller" status --watch --config "$CONFIG" 9>&- &
echo $! >"$STATE/view.pid"
while true; do
    ended=""
    wait -n -p ended
    status=$?
    [[ -z $ended ]] && break  # no process of ours is left
    name=$(name_of "$ended")
    [[ -z $name ]] && continue  # one we stopped ourselves (a broker that did not start)
    [[ $name == view ]] && ((status == 0)) && break  # Ctrl-C in the view
    died "$name" "$status"
done
cleanup
exit 0
