"""The Helm chart, rendered by real helm 3 and helm 4 binaries: what every rendering must hold.

No cluster and no Docker needed; scripts/helm/check.sh runs `helm lint --strict` and the same
renderings through kubernetes-validate, and these tests repeat the validation so `make test`
covers it too.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.containers.conftest import CHART, ROOT
from tests.containers.kube import Doc, hooks, of_kind, one, render, render_text

COMBOS = {
    **{
        p.name.removesuffix("-values.yaml"): [p]
        for p in sorted((CHART / "ci").glob("*-values.yaml"))
    },
    "rehearsal": [Path(__file__).with_name("rehearsal-values.yaml")],
}
WORKLOAD_KINDS = ("Deployment", "Job", "Pod")
TLS_SECRETS = [f"tls.secrets.{c}=numproxy-{c}-tls" for c in ("router", "sender", "gateway")]


def pod_specs(docs: list[Doc]) -> list[tuple[str, Doc]]:
    specs = []
    for doc in docs:
        if doc["kind"] == "Pod":
            specs.append((doc["metadata"]["name"], doc["spec"]))
        elif doc["kind"] in ("Deployment", "Job"):
            specs.append((doc["metadata"]["name"], doc["spec"]["template"]["spec"]))
    return specs


@pytest.fixture(scope="module", params=sorted(COMBOS))
def combo(request: pytest.FixtureRequest, helm: Path) -> tuple[str, list[Doc]]:
    return request.param, render(helm, CHART, COMBOS[request.param])


def test_expected_value_combinations_exist() -> None:
    assert {"default", "ha", "external-postgres", "sandbox"} <= set(COMBOS)


def test_every_pod_is_locked_down(combo: tuple[str, list[Doc]]) -> None:
    _, docs = combo
    specs = pod_specs(docs)
    assert len(specs) >= 5  # 3 Deployments, the migration Job, the helm test Pod
    for name, spec in specs:
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, name
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["enableServiceLinks"] is False, name
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert container["resources"]["requests"]["memory"], name
            assert container["resources"]["limits"]["memory"], name


def test_probes_are_native_grpc_for_router_and_sender(combo: tuple[str, list[Doc]]) -> None:
    _, docs = combo
    for dep in of_kind(docs, "Deployment"):
        component = dep["metadata"]["labels"]["app.kubernetes.io/component"]
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            if component in ("router", "sender"):
                # The plaintext health-only port the service itself opens (HEALTH_PORT).
                assert container[probe]["grpc"]["port"] == ports["health"] != ports["grpc"]
                config = one(docs, "ConfigMap", dep["metadata"]["name"])["data"]
                assert config[f"NUMPROXY_{component.upper()}_HEALTH_PORT"] == str(ports["health"])
            elif component == "gateway":
                assert container[probe]["httpGet"]["path"] in ("/readyz", "/healthz")
        assert container["command"] == ["numproxy", component]


def test_labels_follow_helm_create(combo: tuple[str, list[Doc]]) -> None:
    _, docs = combo
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "numproxy", doc["metadata"]["name"]
        assert labels["app.kubernetes.io/instance"] == "numproxy"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "numproxy-0.1.0"
    for dep in of_kind(docs, "Deployment"):
        selector = dep["spec"]["selector"]["matchLabels"]
        assert set(selector) == {
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/component",
        }


def test_migrations_only_in_a_pre_install_pre_upgrade_job(combo: tuple[str, list[Doc]]) -> None:
    _, docs = combo
    (job,) = of_kind(docs, "Job")
    assert hooks(job) == {"pre-install", "pre-upgrade"}
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["numproxy", "router", "migrate"]
    names = {e["name"] for e in container["env"]}
    assert "NUMPROXY_ROUTER_DATABASE_URL" in names
    for dep in of_kind(docs, "Deployment"):
        for c in dep["spec"]["template"]["spec"]["containers"]:
            assert "migrate" not in c["command"]


def test_network_policies_follow_the_call_chain(combo: tuple[str, list[Doc]]) -> None:
    _, docs = combo
    policies = {p["metadata"]["name"]: p["spec"] for p in of_kind(docs, "NetworkPolicy")}
    assert {"numproxy-gateway", "numproxy-router", "numproxy-sender"} <= set(policies)

    def peers(rules: list[Any], key: str) -> set[str]:
        return {
            p["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
            for rule in rules
            for p in rule.get(key, [])
            if p.get("podSelector", {}).get("matchLabels")
        }

    assert "router" in peers(policies["numproxy-gateway"]["egress"], "to")
    assert "sender" in peers(policies["numproxy-router"]["egress"], "to")
    assert peers(policies["numproxy-sender"]["ingress"], "from") == {"router", "test"}
    # The router admits its own callers only: never the whole namespace by default.
    router_from = [p for rule in policies["numproxy-router"]["ingress"] for p in rule["from"]]
    assert {"podSelector": {}} not in router_from
    assert peers(policies["numproxy-router"]["ingress"], "from") <= {"gateway", "test", "console"}
    assert "gateway" in peers(policies["numproxy-router"]["ingress"], "from")


def test_router_admits_the_api_clients_listed(helm: Path) -> None:
    app = {"podSelector": {"matchLabels": {"app": "shop"}}}
    docs = render(
        helm,
        CHART,
        COMBOS["default"],
        sets=["networkPolicy.router.clients[0].podSelector.matchLabels.app=shop"],
    )
    ingress = one(docs, "NetworkPolicy", "numproxy-router")["spec"]["ingress"]
    assert app in [p for rule in ingress for p in rule["from"]]


def test_callers_and_reflection_render_into_the_router_and_sender(helm: Path) -> None:
    docs = render(helm, CHART, COMBOS["default"])
    router = one(docs, "ConfigMap", "numproxy-router")["data"]
    sender = one(docs, "ConfigMap", "numproxy-sender")["data"]
    assert json.loads(router["NUMPROXY_ROUTER_CALLERS"]) == {"gateway": {"scopes": ["inbound"]}}
    assert json.loads(sender["NUMPROXY_SENDER_CALLERS"]) == {"router": {"scopes": ["sms:send"]}}
    assert router["NUMPROXY_ROUTER_REFLECTION"] == sender["NUMPROXY_SENDER_REFLECTION"] == "false"

    docs = render(
        helm,
        CHART,
        COMBOS["default"],
        sets=[
            "grpcReflection=true",
            "router.callers.shop.scopes={sessions:read,sessions:write}",
            "router.callers.shop.pools={shop}",
        ],
    )
    router = one(docs, "ConfigMap", "numproxy-router")["data"]
    assert json.loads(router["NUMPROXY_ROUTER_CALLERS"]) == {
        "gateway": {"scopes": ["inbound"]},
        "shop": {"scopes": ["sessions:read", "sessions:write"], "pools": ["shop"]},
    }
    assert router["NUMPROXY_ROUTER_REFLECTION"] == "true"
    assert one(docs, "ConfigMap", "numproxy-sender")["data"]["NUMPROXY_SENDER_REFLECTION"] == "true"


def test_the_console_gets_the_scopes_it_uses(helm: Path) -> None:
    router = one(render(helm, CHART, COMBOS["console"]), "ConfigMap", "numproxy-router")["data"]
    callers = json.loads(router["NUMPROXY_ROUTER_CALLERS"])
    assert set(callers) == {"gateway", "console"}
    assert set(callers["console"]["scopes"]) == {
        "sessions:read",
        "sessions:write",
        "interactions:read",
        "pools:admin",
        "events:read",
    }


def test_ha_has_autoscalers_and_disruption_budgets(helm: Path) -> None:
    docs = render(helm, CHART, COMBOS["ha"])
    assert {h["metadata"]["name"] for h in of_kind(docs, "HorizontalPodAutoscaler")} == {
        "numproxy-gateway",
        "numproxy-router",
    }
    assert {p["metadata"]["name"] for p in of_kind(docs, "PodDisruptionBudget")} == {
        "numproxy-gateway",
        "numproxy-router",
        "numproxy-sender",
    }
    # An autoscaled Deployment leaves replicas to its HPA.
    assert "replicas" not in one(docs, "Deployment", "numproxy-router")["spec"]
    assert one(docs, "Deployment", "numproxy-sender")["spec"]["replicas"] == 2
    assert of_kind(docs, "Ingress") and of_kind(docs, "ServiceMonitor")


def test_single_replicas_get_no_disruption_budget(helm: Path) -> None:
    docs = render(helm, CHART, COMBOS["default"])
    assert of_kind(docs, "PodDisruptionBudget") == []
    assert of_kind(docs, "HorizontalPodAutoscaler") == []
    assert of_kind(docs, "Ingress") == [] and of_kind(docs, "ServiceMonitor") == []


def test_existing_secret_is_referenced_not_created(helm: Path) -> None:
    docs = render(helm, CHART, COMBOS["external-postgres"])
    assert of_kind(docs, "Secret") == []
    router = one(docs, "Deployment", "numproxy-router")["spec"]["template"]["spec"]
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"] for e in router["containers"][0].get("env", [])
    }
    assert refs["NUMPROXY_ROUTER_DATABASE_URL"] == {
        "name": "numproxy-credentials",
        "key": "database-url",
    }
    sender = one(docs, "Deployment", "numproxy-sender")["spec"]["template"]["spec"]
    keys = {e["valueFrom"]["secretKeyRef"]["key"] for e in sender["containers"][0]["env"]}
    assert keys == {"api-key", "api-secret", "signature-secret"}
    # Nothing secret in any ConfigMap.
    for cm in of_kind(docs, "ConfigMap"):
        assert not any("SECRET" in k or "DATABASE_URL" in k for k in cm["data"]), cm


def test_sandbox_points_the_sender_at_the_simulator(helm: Path) -> None:
    docs = render(helm, CHART, COMBOS["sandbox"])
    sender = one(docs, "ConfigMap", "numproxy-sender")["data"]
    assert sender["NUMPROXY_SENDER_BASE_URL"] == "http://numproxy-simulator:8090"
    simulator = one(docs, "ConfigMap", "numproxy-simulator")["data"]
    assert simulator["NUMPROXY_SIMULATOR_GATEWAY_URL"] == "http://numproxy-gateway:8080"
    assert one(docs, "Service", "numproxy-simulator")["spec"]["ports"][0]["port"] == 8090
    # Off by default.
    default = render(helm, CHART, COMBOS["default"])
    assert not [d for d in default if "simulator" in d["metadata"]["name"]]


def test_rendering_is_deterministic_and_config_changes_roll_pods(helm: Path) -> None:
    defaults = ("-f", str(COMBOS["default"][0]))
    first = render_text(helm, CHART, *defaults)
    assert first == render_text(helm, CHART, *defaults)

    def checksum(text: str) -> str:
        docs = [d for d in yaml.safe_load_all(text) if d]
        dep = one(docs, "Deployment", "numproxy-router")
        value: str = dep["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        return value

    debug = render_text(helm, CHART, *defaults, "--set", "logLevel=DEBUG")
    assert checksum(first) != checksum(debug)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["router.replicaCount=2"], "exactly one router replica"),
        (["database.type=postgresql"], "needs the database URL"),
        (["gateway.replicaCunt=2"], "replicaCunt"),
        (["database.type=mysql"], "postgresql"),
        (["gateway.signature.method=crc32"], "signature"),
        (
            ["console.enabled=true", "secrets.consoleSecretKey=" + "k" * 32],
            "console.enabled needs authentication",
        ),
        (["console.enabled=true", "secrets.consoleUsers=a:admin:x"], "consoleSecretKey"),
        (["console.enabled=true", "console.auth.header=X-User"], "trustedProxies"),
        (["secrets.signatureSecret="], "needs the Vonage signature secret"),
        (["router.callers.shop.scopes={sessions:raed}"], "callers"),
        (["router.callers.shop.pools={Shop}"], "callers"),
        (["sender.callers.router.scope={sms:send}"], "callers"),
        (["tls.secrets.sender="], "tls.enabled needs the sender's certificate"),
        (
            [
                "console.enabled=true",
                "console.auth.header=X-User",
                "console.auth.trustedProxies={10.0.0.0/8}",
                "secrets.existingSecret=s",
            ],
            "tls.enabled needs the console's certificate",
        ),
        (["tls.certManager.enabled=true"], "needs tls.certManager.issuerRef.name"),
        (["tls.certManager.issuerRef.kind=Vault"], "kind"),
    ],
)
def test_bad_values_are_refused(helm: Path, sets: list[str], message: str) -> None:
    # Each on top of values that render (a signature secret, certificates), so each fails for
    # its own reason.
    sets = ["secrets.signatureSecret=chart-test-secret", *TLS_SECRETS, *sets]
    args = [arg for s in sets for arg in ("--set", s)]
    with pytest.raises(subprocess.CalledProcessError) as failed:
        render_text(helm, CHART, *args)
    assert message in failed.value.stderr


def test_signed_webhooks_by_default_and_unsigned_only_when_asked(helm: Path) -> None:
    with pytest.raises(subprocess.CalledProcessError) as failed:
        render_text(helm, CHART)  # the bare defaults name no signature secret
    assert "gateway.signature.enabled needs the Vonage signature secret" in failed.value.stderr

    signed = one(render(helm, CHART, COMBOS["default"]), "ConfigMap", "numproxy-gateway")["data"]
    assert signed["NUMPROXY_GATEWAY_SIGNATURE_METHOD"] == "sha256"
    assert "NUMPROXY_GATEWAY_ALLOW_UNSIGNED" not in signed

    docs = render(helm, CHART, sets=["gateway.signature.enabled=false", *TLS_SECRETS])
    unsigned = one(docs, "ConfigMap", "numproxy-gateway")["data"]
    assert unsigned["NUMPROXY_GATEWAY_ALLOW_UNSIGNED"] == "true"
    gateway = one(docs, "Deployment", "numproxy-gateway")["spec"]["template"]["spec"]
    assert "SIGNATURE_SECRET" not in str(gateway["containers"][0].get("env", []))


def _leaves(values: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(values, dict) and values:
        return [leaf for k, v in values.items() for leaf in _leaves(v, (*path, k))]
    return [path]


def test_schema_describes_every_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    for path in _leaves(values):
        node = schema
        for key in path:
            props = node.get("properties", {})
            if key in props:
                node = props[key]
            elif isinstance(node.get("additionalProperties"), dict):
                node = node["additionalProperties"]
            else:
                raise AssertionError(f"values.schema.json does not describe {'.'.join(path)}")
        assert "type" in node, ".".join(path)


def _newest_kubernetes() -> str:
    import kubernetes_validate

    folder = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    found = [re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)-local-strict", p.name) for p in folder.iterdir()]
    versions = [tuple(int(g) for g in m.groups()) for m in found if m]
    return ".".join(map(str, max(versions)))


@pytest.mark.parametrize("combo_name", sorted(COMBOS))
def test_kubernetes_validate_strict(helm3: Path, tmp_path: Path, combo_name: str) -> None:
    rendered = tmp_path / "rendered.yaml"
    args = [a for p in COMBOS[combo_name] for a in ("-f", str(p))]
    rendered.write_text(render_text(helm3, CHART, *args))
    validate = ROOT / ".venv" / "bin" / "kubernetes-validate"
    for version in ("1.29.0", _newest_kubernetes()):
        result = subprocess.run(
            [str(validate), "--strict", "--quiet", "-k", version, str(rendered)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_console_is_off_by_default(helm: Path) -> None:
    docs = render(helm, CHART, COMBOS["default"])
    labels = [d["metadata"]["labels"].get("app.kubernetes.io/component") for d in docs]
    assert "console" not in labels and not any("console" in d["metadata"]["name"] for d in docs)


def test_the_console_component(helm: Path) -> None:
    docs = render(helm, CHART, COMBOS["console"])
    console = [d for d in docs if d["metadata"]["name"] == "numproxy-console"]
    assert {d["kind"] for d in console} == {
        "ConfigMap",
        "Deployment",
        "Service",
        "NetworkPolicy",
        "Ingress",
    }
    (dep,) = of_kind(console, "Deployment")
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["numproxy", "console"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert secrets["NUMPROXY_CONSOLE_SECRET_KEY"]["key"] == "console-secret-key"
    assert secrets["NUMPROXY_CONSOLE_USERS"] == {
        "name": "numproxy",
        "key": "console-users",
        "optional": True,
    }
    (config,) = of_kind(console, "ConfigMap")
    assert config["data"]["NUMPROXY_CONSOLE_ROUTER_ADDRESS"] == "numproxy-router:50051"
    assert config["data"]["NUMPROXY_CONSOLE_TRUSTED_PROXIES"] == '["10.42.0.0/16"]'
    assert not any("SECRET" in key or "USERS" in key for key in config["data"])
    (ingress,) = of_kind(console, "Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "numproxy-console", "port": {"number": 8070}}
    (policy,) = of_kind(console, "NetworkPolicy")
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress_ports == {53, 50051}
    router_policy = one(docs, "NetworkPolicy", "numproxy-router")
    router_peers = [
        p["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component")
        for rule in router_policy["spec"]["ingress"]
        for p in rule["from"]
        if "podSelector" in p  # not the metrics port's scrapers (a namespaceSelector)
    ]
    assert "console" in router_peers


def test_tls_from_secrets_by_default(helm: Path) -> None:
    docs = render(helm, CHART, COMBOS["default"])
    for component in ("router", "sender", "gateway"):
        name = f"numproxy-{component}"
        spec = one(docs, "Deployment", name)["spec"]["template"]["spec"]
        (volume,) = [v for v in spec["volumes"] if v["name"] == "tls"]
        assert volume["secret"]["secretName"] == f"numproxy-{component}-tls"
        (mount,) = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "tls"]
        assert mount == {"name": "tls", "mountPath": "/etc/numproxy/tls", "readOnly": True}
        config = one(docs, "ConfigMap", name)["data"]
        prefix = f"NUMPROXY_{component.upper()}_"
        assert config[prefix + "TLS_CERT"] == "/etc/numproxy/tls/tls.crt"
        assert config[prefix + "TLS_KEY"] == "/etc/numproxy/tls/tls.key"
        assert config[prefix + "TLS_CA"] == "/etc/numproxy/tls/ca.crt"
        assert prefix + "ALLOW_PLAINTEXT" not in config
    assert not of_kind(docs, "Certificate")
    # helm test asks the health ports, the only plaintext ones.
    (test_pod,) = of_kind(docs, "Pod")
    script = test_pod["spec"]["containers"][0]["command"][2]
    assert "numproxy-router:8086" in script and "numproxy-sender:8086" in script


def test_cert_manager_certificates_name_the_caller_first(helm: Path) -> None:
    docs = render(helm, CHART, COMBOS["ha"])
    certificates = {c["metadata"]["name"]: c["spec"] for c in of_kind(docs, "Certificate")}
    assert set(certificates) == {"numproxy-router", "numproxy-sender", "numproxy-gateway"}
    router = certificates["numproxy-router"]
    assert router["dnsNames"][:2] == ["router", "numproxy-router"]
    assert router["issuerRef"] == {
        "name": "internal-ca",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }
    assert {"server auth", "client auth"} <= set(router["usages"])
    spec = one(docs, "Deployment", "numproxy-router")["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == "tls"]
    assert volume["secret"]["secretName"] == router["secretName"] == "numproxy-router-tls"


def test_plaintext_only_when_asked(helm: Path) -> None:
    docs = render(helm, CHART, sets=["secrets.signatureSecret=s", "tls.enabled=false"])
    for component in ("router", "sender", "gateway"):
        config = one(docs, "ConfigMap", f"numproxy-{component}")["data"]
        assert config[f"NUMPROXY_{component.upper()}_ALLOW_PLAINTEXT"] == "true"
        assert f"NUMPROXY_{component.upper()}_TLS_CERT" not in config
        spec = one(docs, "Deployment", f"numproxy-{component}")["spec"]["template"]["spec"]
        assert "tls" not in [v["name"] for v in spec["volumes"]]
