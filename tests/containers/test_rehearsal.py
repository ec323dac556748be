"""Deployment rehearsal: the closest honest test of the chart without a cluster.

The chart is rendered twice: with the production shape (external PostgreSQL, credentials from
an operator-made Secret, signed webhooks) plus the simulator, and with the sandbox values
(SQLite on the chart's volume claim, a chart-made Secret). Then, on one Docker network where
containers answer to the chart's Service names: a PostgreSQL container (production), the
migration hook Job's container to completion, each Deployment's container with exactly the
rendered command, environment (ConfigMap and Secret references resolved), ports, security
context, memory limit and emptyDir/claim mounts. The rendered readiness and liveness probes are
asked as the kubelet asks them, an SMS is driven through gateway -> router -> sender ->
simulator, and the chart's own `helm test` Pod runs last.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest
from docker.models.containers import Container

from numproxy.client import NumproxyClient
from numproxy.common.local_ca import identity_files
from numproxy.common.scopes import Scope
from numproxy.common.tls import ClientTls
from tests.containers.conftest import CHART
from tests.containers.kube import (
    Doc,
    Rehearsal,
    hooks,
    issue_certificates,
    of_kind,
    render,
    tls_secret,
)

pytestmark = pytest.mark.containers

VALUES = Path(__file__).with_name("rehearsal-values.yaml")
SECRET = "numproxy-credentials"
DB_PASSWORD = "rehearsal-" + uuid.uuid4().hex[:12]


@dataclass
class Deployed:
    rehearsal: Rehearsal
    docs: list[Doc]
    started: dict[str, tuple[Container, Doc]]  # Deployment name -> (container, its spec)
    migrate_logs: str
    client_tls: ClientTls  # a client certificate of the components' CA

    def host(self, deployment: str, port_name: str) -> str:
        container, spec = self.started[deployment]
        return f"127.0.0.1:{self.rehearsal.host_port(container, spec, port_name)}"


def start_postgres(rehearsal: Rehearsal, image: str) -> Container:
    """The external database, with the official image's variables, at the Secret's host."""
    container = rehearsal.client.containers.create(
        image,
        environment={
            "POSTGRES_USER": "numproxy",
            "POSTGRES_PASSWORD": DB_PASSWORD,
            "POSTGRES_DB": "numproxy",
        },
        name=f"postgres-{rehearsal.run_id}",
        network=rehearsal.network.name,
        labels={"numproxy.rehearsal": rehearsal.run_id},
    )
    rehearsal.containers.append(container)
    rehearsal.network.disconnect(container)
    rehearsal.network.connect(container, aliases=["postgres"])
    container.start()
    deadline = time.monotonic() + 60
    check = [
        "psql",
        "--host=127.0.0.1",
        "--username=numproxy",
        "--dbname=numproxy",
        "-c",
        "select 1",
    ]
    while container.exec_run(check, environment={"PGPASSWORD": DB_PASSWORD}).exit_code != 0:
        container.reload()
        assert container.status == "running", container.logs().decode(errors="replace")
        assert time.monotonic() < deadline, "PostgreSQL did not accept connections in 60 s"
        time.sleep(0.2)
    return container


# production: external PostgreSQL, an operator-made Secret, the simulator standing in for Vonage.
# sandbox: ci/sandbox-values.yaml as it is (SQLite on the chart's volume claim, a chart-made
# Secret, certificates from cert-manager, whose part the rehearsal plays), with the locally
# built image.
SCENARIOS = {
    "production": ([VALUES], []),
    "sandbox": (
        [CHART / "ci" / "sandbox-values.yaml"],
        [
            "image.repository=numproxy",
            "image.tag=dev",
            "image.pullPolicy=Never",
            # The rehearsal's own calls present the admin certificate: list what it may do.
            "router.callers.admin.scopes={" + ",".join(sorted(Scope)) + "}",
        ],
    ),
}


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def deployed(
    request: pytest.FixtureRequest,
    docker_client: docker.DockerClient,
    numproxy_image: str,
    postgres_image: str,
    helm3: Path,
) -> Iterator[Deployed]:
    values, sets = SCENARIOS[request.param]
    docs = render(helm3, CHART, values, sets)
    # The Secret an operator creates before installing (kubectl create secret generic ...).
    operator_secret = {
        "vonage-api-key": "simkey",
        "vonage-api-secret": "simsecret",
        "signature-secret": secrets.token_hex(16),
        "database-url": f"postgresql+asyncpg://numproxy:{DB_PASSWORD}@postgres:5432/numproxy",
    }
    chart_secrets = {
        d["metadata"]["name"]: {
            k: base64.b64decode(v).decode() for k, v in d.get("data", {}).items()
        }
        for d in of_kind(docs, "Secret")
    }
    # The certificates: made by the operator (production) or by cert-manager (sandbox).
    ca = Path(tempfile.mkdtemp(prefix="rehearsal-ca-"))
    tls_secrets = issue_certificates(docs, ca)
    if request.param == "production":
        assert not tls_secrets, "production names the operator's Secrets"
        tls_secrets = {
            f"numproxy-{c}-tls": tls_secret(ca, [c, f"numproxy-{c}"])
            for c in ("router", "sender", "gateway")
        }
    tls_secret(ca, ["admin"])
    client_tls = identity_files(ca, "admin").client_tls()
    secrets_made = {**chart_secrets, SECRET: operator_secret, **tls_secrets}
    rehearsal = Rehearsal(docker_client, docs, secrets_made)
    try:
        if request.param == "production":
            start_postgres(rehearsal, postgres_image)
        else:
            assert chart_secrets, "the sandbox uses a chart-made Secret"

        # helm install: pre-install hooks first (the migration Job), then the release.
        jobs = [d for d in of_kind(docs, "Job") if "pre-install" in hooks(d)]
        assert len(jobs) == 1, "exactly one pre-install Job (the migrations)"
        pod = jobs[0]["spec"]["template"]["spec"]
        (container_spec,) = pod["containers"]
        code, migrate_logs = rehearsal.run_to_completion(pod, container_spec, name="migrate")
        assert code == 0, f"migration Job failed:\n{migrate_logs}"

        services = of_kind(docs, "Service")
        started: dict[str, tuple[Container, Doc]] = {}
        for deployment in of_kind(docs, "Deployment"):
            template = deployment["spec"]["template"]
            labels = template["metadata"]["labels"]
            # The Service whose selector picks this pod gives the container its DNS name.
            (service,) = [s for s in services if s["spec"]["selector"].items() <= labels.items()]
            (spec,) = template["spec"]["containers"]
            container = rehearsal.run(
                template["spec"],
                spec,
                name=deployment["metadata"]["name"],
                alias=service["metadata"]["name"],
            )
            started[deployment["metadata"]["name"]] = (container, spec)
        rehearsal.wait_probes(started, "readinessProbe")
        yield Deployed(rehearsal, docs, started, migrate_logs, client_tls)
    finally:
        rehearsal.close()
        shutil.rmtree(ca, ignore_errors=True)


def test_every_deployment_becomes_ready_and_live(deployed: Deployed) -> None:
    assert sorted(deployed.started) == [
        "numproxy-gateway",
        "numproxy-router",
        "numproxy-sender",
        "numproxy-simulator",
    ]
    # Readiness passed in the fixture; liveness is asked the same way.
    deployed.rehearsal.wait_probes(deployed.started, "livenessProbe", timeout=30)
    for name, (container, _) in deployed.started.items():
        container.reload()
        assert container.status == "running", name
        config = container.attrs["Config"]
        assert config["User"] == "10001:10001", name
        assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True, name
        assert container.attrs["HostConfig"]["CapDrop"] == ["ALL"], name


def test_migrations_ran_in_the_hook_job_and_not_at_start_up(deployed: Deployed) -> None:
    assert "migrations applied" in deployed.migrate_logs
    for deployment in of_kind(deployed.docs, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert "migrate" not in container["command"] + container.get("args", [])


def test_unsigned_webhooks_are_refused(deployed: Deployed) -> None:
    """The signature secret reached the gateway from the Secret reference."""
    gateway = deployed.host("numproxy-gateway", "http")
    reply = httpx.post(
        f"http://{gateway}/webhooks/inbound-sms",
        data={
            "msisdn": "15551230001",
            "to": "15550000001",
            "messageId": "X1",
            "text": "hi",
            "type": "text",
        },
    )
    assert 400 <= reply.status_code < 500 and reply.status_code != 404, reply.text


async def test_an_sms_crosses_the_deployed_stack(deployed: Deployed) -> None:
    alice, bob = "+15557770001", "+15557770002"
    proxies = ["+15558880001", "+15558880002"]
    router = deployed.host("numproxy-router", "grpc")
    async with NumproxyClient(router, tls=deployed.client_tls) as client:
        await client.create_pool("rehearsal")
        await client.add_numbers("rehearsal", proxies)
        session = await client.create_session(alice, bob, pool="rehearsal")
    proxy_for = {p.number: p.proxy_number for p in session.participants}

    simulator = f"http://{deployed.host('numproxy-simulator', 'http')}"
    text = f"rehearsal {uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=simulator, timeout=10) as http:
        reply = await http.post(
            "/_sim/inbound", json={"from": alice, "to": proxy_for[alice], "text": text}
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["statuses"] == [204], "the gateway accepted the signed webhook"

        deadline = time.monotonic() + 20
        while True:
            outbox = (await http.get("/_sim/outbox")).json()
            delivered = [m for m in outbox if m["text"] == text]
            if delivered or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    assert len(delivered) == 1, "the SMS reached Bob's phone exactly once"
    sms = delivered[0]
    assert sms["to"] == bob.lstrip("+")
    # Bob sees Alice only as his own proxy number, never her real number.
    assert sms["from"] == proxy_for[bob].lstrip("+")
    assert alice.lstrip("+") not in str(sms)


def test_helm_test_hook_passes(deployed: Deployed) -> None:
    (pod,) = [d for d in of_kind(deployed.docs, "Pod") if "test" in hooks(d)]
    (spec,) = pod["spec"]["containers"]
    code, logs = deployed.rehearsal.run_to_completion(
        pod["spec"], spec, name="helm-test", timeout=60
    )
    assert code == 0, logs
    # Asked on the plaintext health-only port (the API port takes mTLS only).
    assert "numproxy-router:8086 (overall): SERVING" in logs
    assert "numproxy-sender:8086 numproxy.internal.v1.SenderService: SERVING" in logs
    assert "/readyz: 200" in logs
