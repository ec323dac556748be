#!/usr/bin/env bash
# Dependency audit: the image's pinned dependencies (deploy/requirements.lock) against the
# advisories PyPI publishes (pip-audit). Fails on a known advisory. Without a way to the
# advisory data (no network) it says the audit was skipped and succeeds.
#   NUMPROXY_AUDIT_LOCK=FILE audits another pinned, hashed requirements file.
set -euo pipefail
cd "$(dirname "$0")/.."
lock="${NUMPROXY_AUDIT_LOCK:-deploy/requirements.lock}"
python=".venv/bin/python"

# The advisory data for the lock's first pin, fetched as pip-audit fetches it: any answer but
# one carrying advisory data means pip-audit could audit nothing.
if ! "$python" - "$lock" <<'PY'
import json
import re
import sys
import urllib.request

with open(sys.argv[1]) as lock:
    name, version = re.search(r"^([A-Za-z0-9._-]+)==(\S+)", lock.read(), re.M).groups()
url = f"https://pypi.org/pypi/{name}/{version}/json"
try:
    with urllib.request.urlopen(url, timeout=15) as reply:
        sys.exit(0 if "vulnerabilities" in json.load(reply) else 1)
except Exception as exc:
    print(f"advisory data unreachable ({url}: {exc})", file=sys.stderr)
    sys.exit(1)
PY
then
    echo "dependency audit SKIPPED: PyPI's advisory data cannot be reached from here" >&2
    exit 0
fi
# --strict: a dependency that cannot be audited fails the audit too.
exec .venv/bin/pip-audit --strict --disable-pip --require-hashes --progress-spinner off -r "$lock"
