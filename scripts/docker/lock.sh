#!/usr/bin/env bash
# Regenerate deploy/requirements.lock: every runtime dependency of the image at an exact
# version, with the sha256 of each of that release's files, so the image installs them with
# `pip install --require-hashes` (pip-compile from pip-tools, in a throw-away virtualenv).
# Hashing every file of every release takes a few minutes. Run it after changing the
# dependencies in pyproject.toml; review and commit the result.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
# (grep: this machine's pip configuration may name local indexes that do not exist)
"$tmp/venv/bin/pip" install -q --disable-pip-version-check "pip-tools>=7.4" \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
cd "$NUMPROXY_ROOT"
"$tmp/venv/bin/pip-compile" --quiet --no-header --generate-hashes --allow-unsafe \
    --strip-extras --no-emit-index-url --no-emit-find-links --output-file "$tmp/lock" \
    pyproject.toml 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
{
    echo "# Runtime dependencies of the numproxy image, pinned with their hashes"
    echo "# (scripts/docker/lock.sh; the image installs them with --require-hashes)."
    cat "$tmp/lock"
} >"$NUMPROXY_ROOT/deploy/requirements.lock"
log "wrote deploy/requirements.lock"
