#!/usr/bin/env bash
# Build numproxy:dev offline: the wheelhouse is prepared on the host, the base image is the
# local debootstrapped one, and the build runs with --network none. Docker's layer cache makes
# a rebuild with unchanged inputs take a second or two.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

engine_up || die "no Docker engine (run scripts/docker/engine.sh)"
image_exists "$BASE_IMAGE" || bash "$NUMPROXY_ROOT/scripts/docker/base-image.sh"
bash "$NUMPROXY_ROOT/scripts/docker/wheelhouse.sh"
start=$SECONDS
build() {
    docker build --force-rm --network none --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        -f "$NUMPROXY_ROOT/Dockerfile" "$@" "$NUMPROXY_ROOT" \
        2> >(grep -v -E 'legacy builder|buildx|docs.docker.com/go/buildx|^ *$' >&2) \
        | { if [ -n "${VERBOSE:-}" ]; then cat; else grep -E '^(Successfully|Step [0-9]+/[0-9]+ : (RUN|COPY))' || true; fi; }
}
# The build stage is tagged too, so that its layers stay cached when older images are pruned.
build --target build -t local/numproxy-build:cache
build -t "$NUMPROXY_IMAGE"
# Earlier numproxy:dev images and build stages, now untagged (only ours: other projects may
# share this engine).
docker image prune -f --filter label=io.numproxy.image >/dev/null
size="$(docker image inspect -f '{{.Size}}' "$NUMPROXY_IMAGE")"
log "$NUMPROXY_IMAGE built in $((SECONDS - start)) s, $((size / 1000000)) MB"
