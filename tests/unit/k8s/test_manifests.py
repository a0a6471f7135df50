"""The Kubernetes manifests render with kustomize, validate against the API, and run locked down.

Needs ``kubectl`` (any version from 1.20, whose built-in kustomize the manifests
stay compatible with; ``make test`` installs Debian's kubernetes-client when
it is missing).
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from threadline.cli import build_parser
from threadline.suite import SERVICES

yaml: Any = importlib.import_module("yaml")

ROOT = Path(__file__).resolve().parents[3]
KUSTOMIZATIONS = ("k8s/base", "k8s/overlays/production")
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
SECRET_SETTINGS = {
    "THREADLINE_JWT_SECRET",
    "THREADLINE_WRITE_KEYS",
    "THREADLINE_MONGODB_URL",
    "THREADLINE_AMQP_URL",
}
SERVICE_PORTS = {"profile": 4001, "journey": 4002, "scoring": 4003}


def render(path: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render the manifests: run `make install`"
    result = subprocess.run(
        [kubectl, "kustomize", str(ROOT / path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=KUSTOMIZATIONS)
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def containers(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, deployment in of_kind(objects, "Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            yield name, container


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_for_the_kubernetes_api(
    objects: list[dict[str, Any]], version: str
) -> None:
    assert objects
    for obj in objects:
        # strict: unknown fields are errors, so a typo cannot hide in a manifest
        kubernetes_validate.validate(obj, version, strict=True)


def test_apis_and_workers_are_separate_deployments(objects: list[dict[str, Any]]) -> None:
    expected = {"gateway"} | {f"{s}-{role}" for s in SERVICES for role in ("api", "worker")}
    assert set(of_kind(objects, "Deployment")) == expected


def test_every_container_runs_a_threadline_command_the_cli_accepts(
    objects: list[dict[str, Any]],
) -> None:
    parser = build_parser()
    for name, container in containers(objects):
        command = container["command"]
        assert command[0] == "threadline", name
        args = parser.parse_args(command[1:])  # exits (fails the test) when refused
        if name == "gateway":
            assert args.command == "gateway"
            assert args.host == "0.0.0.0"
            continue
        service, role = name.split("-")
        assert args.command == ("serve" if role == "api" else "worker")
        assert args.service == service
        # The kubelet probes from outside the pod; locally everything binds loopback.
        assert args.host == "0.0.0.0"
        if role == "api":
            assert args.with_worker is False, "workers scale apart in a cluster"


def _port(container: dict[str, Any], ref: int | str) -> int:
    if isinstance(ref, int):
        return ref
    return int(next(p["containerPort"] for p in container["ports"] if p["name"] == ref))


def test_every_deployment_is_probed_resourced_and_locked_down(
    objects: list[dict[str, Any]],
) -> None:
    for name, deployment in of_kind(objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), name
            live = container["livenessProbe"]["httpGet"]
            ready = container["readinessProbe"]["httpGet"]
            assert live["path"] == "/healthz", name
            assert ready["path"] == "/readyz", name
            port = _port(container, ready["port"])
            if name.endswith("-worker"):
                # Workers serve health and metrics on their service's port + 100.
                assert port == SERVICE_PORTS[name.split("-")[0]] + 100, name
            elif name.endswith("-api"):
                assert port == SERVICE_PORTS[name.split("-")[0]], name
            else:
                assert port == 4000


def test_secrets_are_only_referenced_never_written(objects: list[dict[str, Any]]) -> None:
    assert not of_kind(objects, "Secret"), "credentials never live in these manifests"
    for config in of_kind(objects, "ConfigMap").values():
        assert SECRET_SETTINGS.isdisjoint(config["data"])
    for name, container in containers(objects):
        env = {e["name"]: e for e in container.get("env", [])}
        for setting in SECRET_SETTINGS & set(env):
            assert "value" not in env[setting], f"{name} has a literal {setting}"
            assert env[setting]["valueFrom"]["secretKeyRef"]["name"] == "threadline-secrets"
        if name.startswith(("profile", "journey", "scoring")):
            assert {"THREADLINE_MONGODB_URL", "THREADLINE_AMQP_URL"} <= set(env), name
    profile_env = {e["name"] for _, c in containers(objects) for e in c.get("env", [])}
    assert "THREADLINE_WRITE_KEYS" in profile_env


def test_apis_autoscale_and_every_deployment_has_a_disruption_budget(
    objects: list[dict[str, Any]],
) -> None:
    deployments = of_kind(objects, "Deployment")
    autoscalers = of_kind(objects, "HorizontalPodAutoscaler").values()
    scaled = {h["spec"]["scaleTargetRef"]["name"] for h in autoscalers}
    assert scaled == {"gateway"} | {f"{s}-api" for s in SERVICES}
    budgets = of_kind(objects, "PodDisruptionBudget").values()
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [
            b for b in budgets
            if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]  # fmt: skip
        assert len(covering) == 1, name


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def test_only_the_gateway_takes_traffic_from_anywhere(objects: list[dict[str, Any]]) -> None:
    policies = list(of_kind(objects, "NetworkPolicy").values())
    for name, deployment in of_kind(objects, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        applying = [p for p in policies if _selects(p["spec"]["podSelector"], labels)]
        assert any(p["spec"].get("ingress") is None for p in applying), f"{name} not denied"
        open_rules = [
            rule for p in applying for rule in p["spec"].get("ingress", []) if "from" not in rule
        ]
        assert bool(open_rules) == (name == "gateway"), name
        rules = [rule for p in applying for rule in p["spec"].get("ingress", [])]
        sources = [peer for rule in rules for peer in rule.get("from", [])]
        if name.endswith("-api"):
            gateway = {
                "app.kubernetes.io/name": "threadline",
                "app.kubernetes.io/component": "gateway",
            }
            assert {"podSelector": {"matchLabels": gateway}} in sources
        if name.endswith("-worker"):
            ports = {port["port"] for rule in rules for port in rule["ports"]}
            assert ports == {"health"}, name


def test_production_overlay_pins_the_image_and_its_namespace() -> None:
    objects = render("k8s/overlays/production")
    namespaced = [o for o in objects if o["kind"] != "Namespace"]
    assert {o["metadata"].get("namespace") for o in namespaced} == {"threadline"}
    images = {c["image"] for _, c in containers(objects)}
    assert len(images) == 1
    assert not images.pop().endswith(":latest")
    assert of_kind(objects, "Deployment")["profile-api"]["spec"]["replicas"] == 3
