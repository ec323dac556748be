#!/usr/bin/env bash
# Make a Docker engine reachable: use the one that answers, else install docker.io (Debian) when
# dockerd is missing and start dockerd with its state under $NUMPROXY_DOCKER_ROOT.
# Idempotent; exits non-zero when no engine can be had.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if engine_up; then
    log "engine already running"
    exit 0
fi

ensure_packages "dockerd docker debootstrap" docker.io debootstrap

as_root mkdir -p "$NUMPROXY_DOCKER_ROOT/data" "$NUMPROXY_DOCKER_ROOT/exec"
sock=/var/run/docker.sock
logf="$NUMPROXY_DOCKER_ROOT/dockerd.log"
pidf="$NUMPROXY_DOCKER_ROOT/dockerd.pid"

# A dockerd of ours that died (a previous session ended) leaves a pid file and a socket behind.
if [ -f "$pidf" ] && ! kill -0 "$(cat "$pidf")" 2>/dev/null; then
    as_root rm -f "$pidf"
fi
[ -S "$sock" ] && ! engine_up && as_root rm -f "$sock"
# Likewise the containerd it managed: a pid file naming a process that is gone, a zombie, or
# (pid reused) not containerd at all makes the next dockerd wait for it and time out.
cpidf="$NUMPROXY_DOCKER_ROOT/exec/containerd/containerd.pid"
if [ -f "$cpidf" ]; then
    cpid="$(cat "$cpidf" 2>/dev/null || true)"
    comm="$(cat "/proc/$cpid/comm" 2>/dev/null || true)"
    state="$(awk '/^State:/ {print $2}' "/proc/$cpid/status" 2>/dev/null || true)"
    if [ -z "$cpid" ] || [ "$comm" != containerd ] || [ "$state" = Z ]; then
        as_root rm -f "$cpidf"
    fi
fi

log "starting dockerd (data root $NUMPROXY_DOCKER_ROOT/data, log $logf)"
# --iptables=false: containers reach each other on user-defined networks by name and published
# ports are served on the host by docker-proxy; no host firewall rules are changed.
as_root nohup setsid dockerd \
    --iptables=false --ip6tables=false \
    --data-root "$NUMPROXY_DOCKER_ROOT/data" \
    --exec-root "$NUMPROXY_DOCKER_ROOT/exec" \
    --pidfile "$pidf" \
    --host "unix://$sock" \
    >>"$logf" 2>&1 </dev/null &

for _ in $(seq 1 300); do
    engine_up && { log "engine ready"; exit 0; }
    sleep 0.1
done
tail -n 40 "$logf" >&2 || true
die "dockerd did not answer on $sock within 30 s"
