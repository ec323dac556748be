"""Render the chart, and rehearse what it deploys on Docker: each container with exactly the
rendered command, environment (ConfigMaps and Secrets resolved as the kubelet would), ports,
security context, memory limit and emptyDir mounts, on a network where containers answer to the
names of the chart's Services; probes asked the way the kubelet asks them."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import docker
import httpx
import yaml
from docker.models.containers import Container

from numproxy.common.local_ca import ensure_local_ca
from numproxy.testing import grpc_serving

Doc = dict[str, Any]


def render(
    helm: Path,
    chart: Path,
    values: Iterable[Path] = (),
    sets: Iterable[str] = (),
    *,
    release: str = "numproxy",
    namespace: str = "numproxy",
) -> list[Doc]:
    args = [str(helm), "template", release, str(chart), "--namespace", namespace]
    for path in values:
        args += ["-f", str(path)]
    for item in sets:
        args += ["--set", item]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def render_text(helm: Path, chart: Path, *args: str) -> str:
    cmd = [str(helm), "template", "numproxy", str(chart), "--namespace", "numproxy", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def of_kind(docs: Iterable[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: Iterable[Doc], kind: str, name: str) -> Doc:
    found = [doc for doc in of_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def hooks(doc: Doc) -> set[str]:
    value = doc["metadata"].get("annotations", {}).get("helm.sh/hook", "")
    return {h.strip() for h in value.split(",") if h.strip()}


def memory_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(quantity)


def tls_secret(folder: Path, names: list[str]) -> dict[str, str]:
    """A Secret in the kubernetes.io/tls shape (tls.crt, tls.key, ca.crt) for ``names`` (the
    first is the identity), signed by the CA in ``folder``; 127.0.0.1 is added so that a test
    reaches the published ports."""
    files = ensure_local_ca(folder, [names[0]], [*names[1:], "127.0.0.1"])[names[0]]
    return {
        "tls.crt": files.cert.read_text(),
        "tls.key": files.key.read_text(),
        "ca.crt": files.ca.read_text(),
    }


def issue_certificates(docs: Iterable[Doc], folder: Path) -> dict[str, dict[str, str]]:
    """The Secrets cert-manager would write for the rendered Certificates."""
    return {
        cert["spec"]["secretName"]: tls_secret(folder, cert["spec"]["dnsNames"])
        for cert in of_kind(docs, "Certificate")
    }


class Rehearsal:
    """Runs rendered pods' containers on one Docker network; clean up with close()."""

    def __init__(
        self, client: docker.DockerClient, docs: list[Doc], secrets: Mapping[str, Mapping[str, str]]
    ) -> None:
        self.client = client
        self.docs = docs
        self.run_id = uuid.uuid4().hex[:8]
        self.configmaps = {
            d["metadata"]["name"]: d.get("data", {}) for d in of_kind(docs, "ConfigMap")
        }
        # Secrets the chart renders (base64) and those an operator made (given as text).
        self.secrets: dict[str, dict[str, str]] = {
            name: dict(data) for name, data in secrets.items()
        }
        self.network = client.networks.create(f"rehearsal-{self.run_id}", driver="bridge")
        self.containers: list[Container] = []
        self.volumes: list[str] = []
        self.folders: list[Path] = []

    # --- the kubelet's part -------------------------------------------------------------

    def env(self, spec: Doc) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in spec.get("envFrom", []):
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                data = self.configmaps[source["configMapRef"]["name"]]
            else:
                data = self.secrets[source["secretRef"]["name"]]
            env.update({prefix + k: str(v) for k, v in data.items()})
        for var in spec.get("env", []):
            if "value" in var:
                env[var["name"]] = str(var["value"])
                continue
            ref = var["valueFrom"]
            if "secretKeyRef" in ref:
                key_ref, store = ref["secretKeyRef"], self.secrets
            elif "configMapKeyRef" in ref:
                key_ref, store = ref["configMapKeyRef"], self.configmaps
            else:
                raise AssertionError(f"unsupported valueFrom in rehearsal: {ref}")
            data = store.get(key_ref["name"])
            if data is None or key_ref["key"] not in data:
                if key_ref.get("optional"):
                    continue
                # What the kubelet reports as CreateContainerConfigError.
                raise AssertionError(
                    f"{var['name']}: {key_ref['name']}/{key_ref['key']} does not exist"
                )
            env[var["name"]] = str(data[key_ref["key"]])
        return env

    def run(self, pod: Doc, container: Doc, *, name: str, alias: str | None = None) -> Container:
        """Create and start one container of a pod spec as the kubelet would."""
        sc = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        tmpfs: dict[str, str] = {}
        binds: dict[str, dict[str, str]] = {}
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            if "emptyDir" in volume:
                size = volume["emptyDir"].get("sizeLimit")
                tmpfs[mount["mountPath"]] = f"size={memory_bytes(size)}" if size else ""
            elif "persistentVolumeClaim" in volume:
                vol = f"rehearsal-{self.run_id}-{volume['persistentVolumeClaim']['claimName']}"
                if vol not in self.volumes:
                    self.volumes.append(vol)
                binds[vol] = {"bind": mount["mountPath"], "mode": "rw"}
            elif "secret" in volume:
                # The kubelet's projection: one file per key, read-only.
                folder = Path(tempfile.mkdtemp(prefix=f"rehearsal-{self.run_id}-"))
                folder.chmod(0o755)  # the container runs as another user
                self.folders.append(folder)
                for key, value in self.secrets[volume["secret"]["secretName"]].items():
                    (folder / key).write_text(value)
                    (folder / key).chmod(0o644)
                binds[str(folder)] = {"bind": mount["mountPath"], "mode": "ro"}
            else:
                raise AssertionError(f"unsupported volume in rehearsal: {volume}")
        user = None
        if "runAsUser" in sc:
            user = f"{sc['runAsUser']}:{sc.get('runAsGroup', sc['runAsUser'])}"
        limits = container.get("resources", {}).get("limits", {})
        created = self.client.containers.create(
            container["image"],
            entrypoint=container.get("command"),
            command=container.get("args"),
            environment=self.env(container),
            user=user,
            group_add=[str(sc["fsGroup"])] if "fsGroup" in sc else None,
            read_only=bool(sc.get("readOnlyRootFilesystem")),
            cap_drop=sc.get("capabilities", {}).get("drop"),
            cap_add=sc.get("capabilities", {}).get("add"),
            security_opt=["no-new-privileges"]
            if sc.get("allowPrivilegeEscalation") is False
            else None,
            privileged=bool(sc.get("privileged")),
            tmpfs=tmpfs or None,
            volumes=binds or None,
            mem_limit=memory_bytes(limits["memory"]) if "memory" in limits else None,
            ports={
                f"{p['containerPort']}/{p.get('protocol', 'TCP').lower()}": ("127.0.0.1", None)
                for p in container.get("ports", [])
            },
            name=f"{name}-{self.run_id}",
            hostname=name[:63],
            network=self.network.name,
            labels={"numproxy.rehearsal": self.run_id},
        )
        self.containers.append(created)
        if alias:
            # Reachable by the Service's name, as kube-dns would resolve it.
            self.network.disconnect(created)
            self.network.connect(created, aliases=[alias])
        created.start()
        return created

    def run_to_completion(
        self, pod: Doc, container: Doc, *, name: str, timeout: float = 120
    ) -> tuple[int, str]:
        created = self.run(pod, container, name=name)
        result = created.wait(timeout=timeout)
        logs = created.logs().decode(errors="replace")
        return int(result["StatusCode"]), logs

    # --- probes, as the kubelet asks them -------------------------------------------------

    def host_port(self, container: Container, spec: Doc, port: int | str) -> int:
        if isinstance(port, str):
            port = next(p["containerPort"] for p in spec["ports"] if p.get("name") == port)
        container.reload()
        bindings = container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"]
        return int(bindings[0]["HostPort"])

    def probe(self, container: Container, spec: Doc, probe: Doc) -> bool:
        timeout = float(probe.get("timeoutSeconds", 1))
        if "grpc" in probe:
            port = self.host_port(container, spec, probe["grpc"]["port"])
            return grpc_serving(f"127.0.0.1:{port}", probe["grpc"].get("service", ""))
        if "httpGet" in probe:
            get = probe["httpGet"]
            port = self.host_port(container, spec, get["port"])
            try:
                code = httpx.get(
                    f"http://127.0.0.1:{port}{get.get('path', '/')}", timeout=timeout
                ).status_code
            except httpx.HTTPError:
                return False
            return 200 <= code < 400
        if "tcpSocket" in probe:
            port = self.host_port(container, spec, probe["tcpSocket"]["port"])
            try:
                socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
            except OSError:
                return False
            return True
        raise AssertionError(f"unsupported probe: {probe}")

    def wait_probes(
        self, started: Mapping[str, tuple[Container, Doc]], kind: str, timeout: float = 90
    ) -> None:
        """Poll every container's `kind` probe (readinessProbe, livenessProbe) until it passes."""
        pending = dict(started)
        deadline = time.monotonic() + timeout
        while pending:
            for name, (container, spec) in list(pending.items()):
                container.reload()
                if container.status in ("exited", "dead"):
                    raise AssertionError(
                        f"{name} exited:\n{container.logs().decode(errors='replace')}"
                    )
                if self.probe(container, spec, spec[kind]):
                    del pending[name]
            if pending and time.monotonic() > deadline:
                logs = "\n".join(
                    f"--- {n}\n{c.logs().decode(errors='replace')}" for n, (c, _) in pending.items()
                )
                raise AssertionError(
                    f"{kind} not passing within {timeout}s: {sorted(pending)}\n{logs}"
                )
            if pending:
                time.sleep(0.2)

    def close(self) -> None:
        for container in reversed(self.containers):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
        self.network.remove()
        for vol in self.volumes:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.volumes.get(vol).remove(force=True)
        for folder in self.folders:
            shutil.rmtree(folder, ignore_errors=True)
