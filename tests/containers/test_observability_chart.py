"""The chart's observability: a ServiceMonitor per component, metrics ports, the PrometheusRule
(checked and unit-tested by promtool: tests/containers/alerts-test.yaml), each alert's runbook
in docs/operations.md, the Grafana dashboard's ConfigMap, and tracing's settings.

promtool (Debian's prometheus package; .ci/run installs it) is skipped outside CI when absent,
and fails the test in CI, as helm does."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.containers.conftest import CHART, IN_CI, ROOT
from tests.containers.kube import Doc, of_kind, one, render

ALERTS = CHART / "files" / "alerts.yaml"
ALERT_TESTS = Path(__file__).with_name("alerts-test.yaml")
OPERATIONS = ROOT / "docs" / "operations.md"
ALL_ON = [
    "serviceMonitor.enabled=true",
    "prometheusRule.enabled=true",
    "grafanaDashboard.enabled=true",
    "networkPolicy.enabled=true",
    "tracing.otlpEndpoint=http://otel-collector.observability:4318",
    "tracing.env.OTEL_TRACES_SAMPLER=parentbased_traceidratio",
]


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        reason = "promtool is missing (apt-get install prometheus)"
        if IN_CI:
            pytest.fail(f"{reason}; CI must not skip the alert tests", pytrace=False)
        pytest.skip(reason)
    return found


def rendered(helm: Path, *sets: str) -> list[Doc]:
    return render(helm, CHART, [CHART / "ci" / "default-values.yaml"], sets)


def test_alert_rules_pass_promtool_check_as_rendered(
    helm: Path, promtool: str, tmp_path: Path
) -> None:
    (rule,) = of_kind(rendered(helm, *ALL_ON), "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text()), "the chart carries the file as is"
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    check = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 7 rules found" in check.stdout


def test_each_alert_fires_as_its_unit_test_expects(promtool: str) -> None:
    tested = subprocess.run(
        [promtool, "test", "rules", ALERT_TESTS.name],
        cwd=ALERT_TESTS.parent,
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = {r["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]}
    cases = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    fired = {
        check["alertname"]
        for case in cases
        for check in case["alert_rule_test"]
        if check["exp_alerts"]
    }
    assert fired == alerts, "every alert has a test in which it fires"


def test_every_alert_links_its_runbook() -> None:
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("#")
    }
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            url = rule["annotations"]["runbook_url"]
            assert url.startswith(
                "https://github.com/numproxy/numproxy/blob/main/docs/operations.md#"
            )
            assert url.split("#", 1)[1] in anchors, f"no runbook heading for {rule['alert']}"


def test_service_monitors_and_metrics_ports(helm: Path) -> None:
    docs = rendered(helm, *ALL_ON)
    monitors = {m["metadata"]["name"]: m for m in of_kind(docs, "ServiceMonitor")}
    assert set(monitors) == {"numproxy-gateway", "numproxy-router", "numproxy-sender"}
    assert monitors["numproxy-gateway"]["spec"]["endpoints"][0]["port"] == "http"
    for name in ("numproxy-router", "numproxy-sender"):
        assert monitors[name]["spec"]["endpoints"][0]["port"] == "metrics"
        service = one(docs, "Service", name)
        assert _port(service["spec"]["ports"], "metrics") == {"name": "metrics", "port": 9090}
        deployment = one(docs, "Deployment", name)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
        config = one(docs, "ConfigMap", name)["data"]
        component = name.removeprefix("numproxy-").upper()
        assert config[f"NUMPROXY_{component}_METRICS_PORT"] == "9090"
        policy = one(docs, "NetworkPolicy", name)
        (scrape,) = [
            rule
            for rule in policy["spec"]["ingress"]
            if {"port": 9090, "protocol": "TCP"} in rule["ports"]
        ]
        assert scrape["from"] == [{"namespaceSelector": {}}], "any pod of the cluster"
    assert not of_kind(rendered(helm), "ServiceMonitor"), "off by default"
    assert not of_kind(rendered(helm), "PrometheusRule"), "off by default"


def test_tracing_settings_reach_the_three_services_only(helm: Path) -> None:
    docs = rendered(helm, *ALL_ON)
    for name in ("numproxy-gateway", "numproxy-router", "numproxy-sender"):
        config = one(docs, "ConfigMap", name)["data"]
        assert config["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4318"
        assert config["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
        assert config["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
        egress = one(docs, "NetworkPolicy", name)["spec"]["egress"]
        assert 4318 in {p["port"] for rule in egress for p in rule["ports"]}
    default = one(rendered(helm), "ConfigMap", "numproxy-router")["data"]
    assert not any(key.startswith("OTEL_") for key in default), "tracing is off by default"


def test_dashboard_config_map_for_the_grafana_sidecar(helm: Path) -> None:
    docs = rendered(helm, *ALL_ON)
    board = one(docs, "ConfigMap", "numproxy-dashboard")
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(board["data"]["numproxy.json"])
    assert dashboard["uid"] == "numproxy"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def _port(ports: list[Doc], name: str) -> dict[str, object]:
    (port,) = [p for p in ports if p["name"] == name]
    return {"name": port["name"], "port": port["port"]}
