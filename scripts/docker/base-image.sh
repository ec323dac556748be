#!/usr/bin/env bash
# Build local/python-base:bookworm without a registry: debootstrap a minimal Debian 12 with its
# Python 3.11 and `docker import` it. It stands in for the official python:3.11-slim (the
# Dockerfile's default BASE_IMAGE) on machines that cannot pull. Skipped when the image exists
# (FORCE=1 rebuilds).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

engine_up || die "no Docker engine (run scripts/docker/engine.sh)"
if image_exists "$BASE_IMAGE" && [ -z "${FORCE:-}" ]; then
    log "$BASE_IMAGE exists"
    exit 0
fi
start=$SECONDS
debootstrap_import "$BASE_IMAGE" "python3,python3-venv,ca-certificates" \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]'
log "$BASE_IMAGE built in $((SECONDS - start)) s"
