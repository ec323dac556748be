#!/usr/bin/env bash
# Regenerate deploy/requirements.lock: the exact runtime dependencies the image installs.
# Run it after changing the dependencies in pyproject.toml; review and commit the result.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --disable-pip-version-check "$NUMPROXY_ROOT" \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
{
    echo "# Runtime dependencies of the numproxy image, pinned (scripts/docker/lock.sh)."
    "$tmp/venv/bin/pip" freeze --exclude numproxy | LC_ALL=C sort -f
} >"$NUMPROXY_ROOT/deploy/requirements.lock"
log "wrote deploy/requirements.lock"
