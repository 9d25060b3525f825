#!/usr/bin/env bash
# Runs the libvirt daemons the Vagrant libvirt provider needs on a host without
# systemd: virtlogd and libvirtd, daemonized, each with a pid file.
#
#   vagrant/host-daemons.sh start    start what is not running, then wait until
#                                    `virsh -c qemu:///system version` answers
#                                    and the "default" storage pool is active
#   vagrant/host-daemons.sh stop     stop them, by the pids in the pid files only
#   vagrant/host-daemons.sh status   report
#
# Exit codes: start/stop: 0 done (or nothing to do), 1 failure.
#             status: 0 both running and libvirtd answers, 1 partly running or
#             not answering, 3 neither running (LSB convention).
# Environment:
#   HARNESS_RUN_DIR          pid files (default /run/harness)
#   HARNESS_LIBVIRT_TIMEOUT  seconds start waits for libvirtd (default 30)
# Logs: /var/log/libvirt/{virtlogd,libvirtd}.log (QEMU's own: /var/log/libvirt/qemu/).
# libvirtd is started without --listen: it serves only its local UNIX sockets.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
run_dir=${HARNESS_RUN_DIR:-/run/harness}
timeout=${HARNESS_LIBVIRT_TIMEOUT:-30}
uri=qemu:///system
log_dir=/var/log/libvirt
daemons=(virtlogd libvirtd)

say() { echo "host-daemons: $*"; }
err() { echo "host-daemons: ERROR: $*" >&2; }

pidfile() { echo "$run_dir/$1.pid"; }

# Prints the pid of daemon $1 if its pid file names a live process running
# that program; nothing (and status 1) otherwise.
running_pid() {
    local f pid exe
    f=$(pidfile "$1")
    [ -s "$f" ] || return 1
    pid=$(tr -dc '0-9' <"$f")
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    [ "$(basename "${exe% (deleted)}")" = "$1" ] || return 1
    echo "$pid"
}

# Whether process $1 still runs: a zombie does not (a daemon's parent is init, which on some
# hosts reaps only every second or two: waiting for /proc/PID to vanish waited for that).
alive() {
    local stat
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

answers() { timeout 10 virsh -c "$uri" version >/dev/null 2>&1; }

ensure_pool() {
    # vagrant-libvirt creates the "default" pool itself when missing, but two
    # parallel `vagrant up` processes would race doing so: create it here.
    if ! virsh -c "$uri" pool-info default >/dev/null 2>&1; then
        mkdir -p /var/lib/libvirt/images
        virsh -c "$uri" pool-define-as default dir --target /var/lib/libvirt/images >/dev/null \
            && virsh -c "$uri" pool-autostart default >/dev/null || return 1
    fi
    local info
    info=$(virsh -c "$uri" pool-info default 2>/dev/null)
    if ! grep -q '^State:.*running' <<<"$info"; then
        virsh -c "$uri" pool-start default >/dev/null || return 1
    fi
}

start_one() {
    local name=$1 pid bin
    if pid=$(running_pid "$name"); then
        say "$name already running (pid $pid)"
        return 0
    fi
    bin=$(command -v "$name") || { err "$name not installed (run vagrant/setup-host.sh)"; return 1; }
    rm -f "$(pidfile "$name")"
    # The daemon forks, writes the pid file and holds a lock on it; under reaper.py (in a session of
    # its own), which reaps it and libvirtd's QEMU processes as soon as they exit (see there).
    local reaper=()
    command -v python3 >/dev/null && reaper=(setsid python3 "$here/reaper.py")
    LIBVIRT_LOG_OUTPUTS="3:file:$log_dir/$name.log" "${reaper[@]}" "$bin" --daemon --pid-file "$(pidfile "$name")" \
        </dev/null >>"$log_dir/$name.log" 2>&1 &
    for _ in $(seq 1 50); do
        if pid=$(running_pid "$name"); then
            say "$name started (pid $pid)"
            return 0
        fi
        sleep 0.1
    done
    err "$name did not start; see $log_dir/$name.log"
    return 1
}

stop_one() {
    local name=$1 pid
    if ! pid=$(running_pid "$name"); then
        rm -f "$(pidfile "$name")"
        say "$name not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 200); do
        alive "$pid" || break
        sleep 0.05
    done
    if alive "$pid"; then
        say "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null
        sleep 0.5
    fi
    if alive "$pid"; then
        err "could not stop $name (pid $pid)"
        return 1
    fi
    rm -f "$(pidfile "$name")"
    say "$name stopped (was pid $pid)"
}

cmd_start() {
    mkdir -p "$run_dir" "$log_dir" /run/libvirt || return 1
    start_one virtlogd || return 1
    if ! running_pid libvirtd >/dev/null && answers; then
        # Someone else's libvirtd (e.g. an init script) serves the socket.
        say "libvirtd not started by this script already answers on $uri; using it"
    else
        start_one libvirtd || return 1
    fi
    local t0=$SECONDS
    until answers; do
        if ! running_pid libvirtd >/dev/null; then
            err "libvirtd exited during start-up; see $log_dir/libvirtd.log:"
            grep ': error : ' "$log_dir/libvirtd.log" | tail -n 3 >&2
            return 1
        fi
        if [ $((SECONDS - t0)) -ge "$timeout" ]; then
            err "libvirtd (pid $(running_pid libvirtd)) does not answer on $uri after ${timeout} s; see $log_dir/libvirtd.log"
            return 1
        fi
        sleep 0.2
    done
    ensure_pool || { err "could not define/start the libvirt storage pool 'default'"; return 1; }
    say "libvirtd answers on $uri"
}

cmd_stop() {
    local rc=0 doms
    if running_pid libvirtd >/dev/null; then
        doms=$(timeout 10 virsh -c "$uri" list --name 2>/dev/null | grep -c . || true)
        [ "${doms:-0}" -gt 0 ] && say "warning: $doms domain(s) still running; their QEMU processes keep running"
    fi
    stop_one libvirtd || rc=1
    stop_one virtlogd || rc=1
    return $rc
}

cmd_status() {
    local n=0 pid d
    for d in "${daemons[@]}"; do
        if pid=$(running_pid "$d"); then
            say "$d running (pid $pid, $(pidfile "$d"))"
            n=$((n + 1))
        else
            say "$d not running"
        fi
    done
    if [ "$n" -eq 0 ]; then return 3; fi
    if [ "$n" -lt "${#daemons[@]}" ]; then return 1; fi
    if answers; then
        say "libvirtd answers on $uri"
        return 0
    fi
    say "libvirtd does not answer on $uri"
    return 1
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
