#!/usr/bin/env bash
# Prepare scripts/docker/wheelhouse/ on the host (which reaches PyPI through pip) so the image
# builds with no network: wheels of exactly the versions pinned in deploy/requirements.lock,
# the build backend (setuptools, wheel) and a requirements.txt (the lock). The Dockerfile
# installs from it with --no-index when it exists. Skipped while the lock, pyproject.toml and
# the Python version are unchanged (FORCE=1 redoes it).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

wh="$NUMPROXY_ROOT/scripts/docker/wheelhouse"
# The Python that builds the wheels must match the image's (3.11, glibc Linux).
py="${WHEELHOUSE_PYTHON:-}"
if [ -z "$py" ]; then
    for cand in "$NUMPROXY_ROOT/.venv/bin/python" python3.11 python3; do
        if command -v "$cand" >/dev/null 2>&1 \
            && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            py="$cand"; break
        fi
    done
fi
[ -n "$py" ] || die "no Python 3.11 on this machine to build the wheelhouse with"

lock="$NUMPROXY_ROOT/deploy/requirements.lock"
key="$( { sha256sum "$NUMPROXY_ROOT/pyproject.toml" "$lock"; "$py" -c 'import sys, sysconfig; print(sys.version_info[:2], sysconfig.get_platform())'; } | sha256sum | cut -c1-16)"
if [ -z "${FORCE:-}" ] && [ -f "$wh/.key" ] && [ "$(cat "$wh/.key")" = "$key" ] \
    && [ -f "$wh/requirements.txt" ]; then
    log "wheelhouse up to date"
    exit 0
fi

start=$SECONDS
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
log "building the wheelhouse with $py"
# (grep: this machine's pip configuration names local indexes that may not exist)
{
    "$py" -m pip wheel -q --disable-pip-version-check --no-deps --wheel-dir "$tmp" -r "$lock"
    "$py" -m pip download -q --disable-pip-version-check --only-binary=:all: --dest "$tmp" \
        "setuptools>=77" wheel
} 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
grep -v '^#' "$lock" >"$tmp/requirements.txt"
mkdir -p "$wh"
find "$wh" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
cp "$tmp"/*.whl "$tmp/requirements.txt" "$wh/"
echo "$key" >"$wh/.key"
log "wheelhouse: $(ls "$wh"/*.whl | wc -l) wheels in $((SECONDS - start)) s"
