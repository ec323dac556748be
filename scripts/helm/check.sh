#!/usr/bin/env bash
# Chart checks, offline: with helm 3 and helm 4, `helm lint --strict` and `helm template` of the
# default values and of every deploy/helm/numproxy/ci/*-values.yaml combination, each rendering
# validated by kubernetes-validate --strict against Kubernetes 1.29 and the newest schema it
# ships; renderings must be deterministic and the same under both helms; values the chart must
# refuse are refused. The defaults alone are refused (no signature secret): ci/default-values.yaml
# is the defaults plus where that secret comes from. Output of each rendering is kept in .tools/rendered/ for inspection.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
chart="$root/deploy/helm/numproxy"
out="$root/.tools/rendered"
validate="${KUBERNETES_VALIDATE:-$root/.venv/bin/kubernetes-validate}"
py="${PYTHON:-$root/.venv/bin/python}"
bash "$root/scripts/helm/tools.sh"
[ -x "$validate" ] || { echo "check.sh: kubernetes-validate missing (pip install -e '.[dev]')" >&2; exit 1; }

newest="$("$py" - <<'PY'
import pathlib, re, kubernetes_validate
d = pathlib.Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
versions = {tuple(map(int, m.groups())) for p in d.iterdir() if (m := re.match(r"v(\d+)\.(\d+)\.(\d+)-local-strict$", p.name))}
print(".".join(map(str, max(versions))))
PY
)"
k8s_versions=("1.29.0" "$newest")

rm -rf "$out"
mkdir -p "$out"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

combos=()
for f in "$chart"/ci/*-values.yaml; do combos+=("$(basename "$f" -values.yaml)"); done

for helm_dir in helm3 helm4; do
    helm="$root/.tools/$helm_dir/helm"
    version="$("$helm" version --short)"
    echo "== $helm_dir ($version)"
    for combo in "${combos[@]}"; do
        args=(-f "$chart/ci/$combo-values.yaml")
        if ! "$helm" lint --strict --quiet "$chart" "${args[@]}" >"$out/$helm_dir-$combo.lint" 2>&1; then
            cat "$out/$helm_dir-$combo.lint" >&2
            fail "$helm_dir lint --strict ($combo)"
        fi
        file="$out/$helm_dir-$combo.yaml"
        if ! "$helm" template numproxy "$chart" --namespace numproxy "${args[@]}" >"$file"; then
            fail "$helm_dir template ($combo)"; continue
        fi
        "$helm" template numproxy "$chart" --namespace numproxy "${args[@]}" >"$file.again"
        cmp -s "$file" "$file.again" || fail "$helm_dir template ($combo) is not deterministic"
        rm -f "$file.again"
        for k in "${k8s_versions[@]}"; do
            if ! "$validate" --strict --quiet -k "$k" "$file" >"$file.$k.log" 2>&1; then
                cat "$file.$k.log" >&2
                fail "kubernetes-validate --strict -k $k ($helm_dir, $combo)"
            fi
        done
        if [ "$helm_dir" = helm4 ]; then
            # NOTES.txt renders only on install; helm 4's client-side dry run needs no cluster.
            "$helm" install numproxy "$chart" --namespace numproxy --dry-run=client "${args[@]}" \
                >"$file.install" 2>&1 && grep -q '^NOTES:' "$file.install" \
                || { cat "$file.install" >&2; fail "$helm_dir install --dry-run=client ($combo)"; }
        fi
        echo "ok   $combo: lint, template ($(grep -c '^kind:' "$file") objects), validate ${k8s_versions[*]}"
    done
    # Values the chart must refuse (schema or validation), with their reason.
    refuse() {
        local why="$1"; shift
        # On top of values that render (a signature secret), so each fails for its own reason.
        if "$helm" template numproxy "$chart" --set secrets.signatureSecret=check \
            --set tls.secrets.router=r --set tls.secrets.sender=s --set tls.secrets.gateway=g "$@" \
            >/dev/null 2>"$out/refused.log"; then
            fail "$helm_dir accepted values it must refuse: $why ($*)"
        elif ! grep -qiE "schema|fail|error" "$out/refused.log"; then
            fail "$helm_dir refused ($why) without a reason"
        fi
    }
    refuse "unknown value" --set gateway.replicaCunt=2
    refuse "unknown database type" --set database.type=mysql
    refuse "sqlite with two routers" --set router.replicaCount=2
    refuse "postgresql without a URL" --set database.type=postgresql
    refuse "bad signature method" --set gateway.signature.method=crc32
    refuse "console without authentication" --set console.enabled=true \
        --set secrets.consoleSecretKey=0123456789abcdef0123456789abcdef
    refuse "signed webhooks without a secret" --set secrets.signatureSecret=
    refuse "mTLS without the router's certificate" --set tls.secrets.router=
    refuse "cert-manager without an issuer" --set tls.certManager.enabled=true
    echo "ok   refuses bad values"
done

for combo in "${combos[@]}"; do
    # (helm 4 separates documents with an extra blank line; nothing else may differ)
    diff -q -B "$out/helm3-$combo.yaml" "$out/helm4-$combo.yaml" >/dev/null \
        || fail "helm 3 and helm 4 render $combo differently"
done

if [ "$failures" -ne 0 ]; then
    echo "helm-check: $failures failure(s)" >&2
    exit 1
fi
echo "helm-check: all passed (${#combos[@]} value sets x helm 3, helm 4 x Kubernetes ${k8s_versions[*]})"
