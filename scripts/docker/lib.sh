# shellcheck shell=bash
# Shared helpers of scripts/docker/*.sh. Source it; it does nothing by itself.
#
# Everything here is idempotent: a step whose result already exists is skipped, so the scripts
# can run on every CI run and every `make image` without redoing work.

set -euo pipefail

NUMPROXY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Where an engine started by us keeps its images and state. /var/lib survives a fresh clone of
# the repository (CI clones into a new folder on every run), so image layers stay cached.
NUMPROXY_DOCKER_ROOT="${NUMPROXY_DOCKER_ROOT:-/var/lib/numproxy-docker}"
BASE_IMAGE="${NUMPROXY_BASE_IMAGE:-local/python-base:bookworm}"
POSTGRES_IMAGE="${NUMPROXY_POSTGRES_IMAGE:-local/postgres:15}"
NUMPROXY_IMAGE="${NUMPROXY_IMAGE:-numproxy:dev}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

engine_up() { docker info >/dev/null 2>&1; }

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# apt-get install the named packages when any of the given commands is missing.
#   ensure_packages "cmd1 cmd2" pkg1 pkg2
ensure_packages() {
    local cmds="$1"; shift
    local missing=0 c
    for c in $cmds; do command -v "$c" >/dev/null 2>&1 || missing=1; done
    [ "$missing" -eq 0 ] && return 0
    log "installing $* (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    # An update is needed on a fresh machine (empty lists); a failed one is retried once.
    as_root apt-get update -qq || as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The Debian mirror this machine's apt uses (deb822 `URIs:` or one-line `deb` sources), so that
# debootstrap goes where apt already goes.
debian_mirror() {
    local m=""
    if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
    m="$(grep -h -A3 -E '^Types:.*deb' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '/^URIs:/ {print $2}' | grep -E '/debian/?$' | head -n1 || true)"
    if [ -z "$m" ]; then
        m="$(grep -h -E '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' \
            | grep -E '/debian/?$' | head -n1 || true)"
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

# debootstrap a minimal Debian into a fresh folder and `docker import` it as IMAGE.
#   debootstrap_import IMAGE "pkg1,pkg2" [docker import --change ...]
debootstrap_import() {
    local image="$1" include="$2"; shift 2
    ensure_packages "debootstrap" debootstrap
    local work
    as_root mkdir -p "$NUMPROXY_DOCKER_ROOT"
    work="$(mktemp -d "${NUMPROXY_DOCKER_ROOT}/rootfs.XXXXXX")"
    # shellcheck disable=SC2064
    trap "as_root rm -rf '$work'" RETURN
    local mirror
    mirror="$(debian_mirror)"
    log "debootstrap $DEBIAN_SUITE (+$include) from $mirror"
    as_root debootstrap --variant=minbase --include="$include" "$DEBIAN_SUITE" \
        "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
    # Leave no package lists, caches or docs in the image; keep the copyright files.
    as_root rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"* \
        "$work/rootfs/var/log/"*.log "$work/rootfs/usr/share/doc/"*/changelog* \
        "$work/rootfs/usr/share/man" "$work/rootfs/usr/share/info" \
        "$work/rootfs/usr/share/locale"
    log "docker import -> $image"
    as_root tar --numeric-owner -C "$work/rootfs" -c . | docker import "$@" - "$image" >/dev/null
}
