#!/usr/bin/env bash
# Build local/postgres:15 without a registry: debootstrap Debian 12 with postgresql-15, import
# it, then add an entrypoint that honours POSTGRES_USER/POSTGRES_PASSWORD/POSTGRES_DB like the
# official image (so testcontainers' PostgresContainer works with it). The debootstrap step is
# skipped when its image exists; the small second build is cached by Docker. FORCE=1 redoes both.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

engine_up || die "no Docker engine (run scripts/docker/engine.sh)"
rootfs=local/postgres-rootfs:15
start=$SECONDS
if ! image_exists "$rootfs" || [ -n "${FORCE:-}" ]; then
    debootstrap_import "$rootfs" "postgresql-15"
fi
docker build -q --force-rm --network none --build-arg "ROOTFS=$rootfs" -t "$POSTGRES_IMAGE" \
    "$NUMPROXY_ROOT/scripts/docker/postgres" >/dev/null
log "$POSTGRES_IMAGE ready in $((SECONDS - start)) s"
