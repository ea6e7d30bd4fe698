"""The deployment files against their published schemas (vendored in ``tests/schemas``).

Nothing here starts a container or talks to a cluster: ``docker-compose.yml`` is checked
against the Compose Specification's JSON schema, and every document under
``deploy/kubernetes`` against the Kubernetes API's JSON schema for its ``apiVersion`` and
``kind`` (strict: an unknown field, such as a misspelt probe setting, is an error).
"""

from __future__ import annotations

import importlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tests" / "schemas"
KUBERNETES = ROOT / "deploy" / "kubernetes"

# apiVersion and kind → the schema's definition (the names of the Kubernetes OpenAPI spec).
KINDS = {
    ("apps/v1", "Deployment"): "io.k8s.api.apps.v1.Deployment",
    ("v1", "Service"): "io.k8s.api.core.v1.Service",
    ("v1", "ConfigMap"): "io.k8s.api.core.v1.ConfigMap",
    ("v1", "Secret"): "io.k8s.api.core.v1.Secret",
    ("policy/v1", "PodDisruptionBudget"): "io.k8s.api.policy.v1.PodDisruptionBudget",
}


def load_yaml(path: Path) -> list[Any]:
    """Every document of a YAML file."""
    yaml = importlib.import_module("yaml")  # PyYAML comes with uvicorn[standard]
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def problems(validator: Draft7Validator | Draft202012Validator, document: Any) -> list[str]:
    """The schema errors of ``document``, each with where it is."""
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or '(root)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


@cache
def _kubernetes() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / "kubernetes-v1.33.0-strict.json").read_text())
    return schema


def kubernetes_validator(api_version: str, kind: str) -> Draft202012Validator:
    """A validator for one kind, its definitions resolved within the vendored file."""
    definitions = _kubernetes()
    definition = KINDS.get((api_version, kind))
    assert definition is not None, f"no schema vendored for {api_version} {kind}"
    schema = {**definitions, "$ref": f"#/$defs/{definition}"}
    return Draft202012Validator(schema)


def test_compose_follows_the_compose_specification() -> None:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    (compose,) = load_yaml(ROOT / "docker-compose.yml")
    assert problems(Draft7Validator(schema), compose) == []


def test_the_production_profile_keeps_the_default_services_as_they_were() -> None:
    (compose,) = load_yaml(ROOT / "docker-compose.yml")
    services: dict[str, dict[str, Any]] = compose["services"]
    default = {name for name, service in services.items() if "profiles" not in service}
    assert default == {"temporal", "postgres", "worker", "gateway"}
    production = {
        name for name, service in services.items() if "production" in service.get("profiles", [])
    }
    assert {"temporal-server", "temporal-ui", "worker-prod", "gateway-1", "gateway-2", "proxy"} <= (
        production
    )
    # The production workers and gateways use the production Temporal, not the dev server.
    for name in ("worker-prod", "gateway-1", "gateway-2"):
        assert services[name]["environment"]["TEMPORAL_ADDRESS"] == "temporal-server:7233"
    assert services["temporal-ui"]["environment"]["TEMPORAL_CODEC_ENDPOINT"].endswith("/codec")
    assert services["worker-prod"]["deploy"]["replicas"] >= 2


def kubernetes_documents() -> list[tuple[str, Any]]:
    """Every manifest under deploy/kubernetes, named by file and position."""
    found = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for index, document in enumerate(load_yaml(path)):
            found.append((f"{path.name}#{index}", document))
    return found


@pytest.mark.parametrize(("where", "document"), kubernetes_documents())
def test_kubernetes_manifests_follow_the_api_schema(where: str, document: Any) -> None:
    validator = kubernetes_validator(document["apiVersion"], document["kind"])
    assert problems(validator, document) == [], where


def test_the_strict_schema_catches_a_misspelt_field() -> None:
    """The check is not vacuous: an unknown field in a probe is refused."""
    (deployment, *_) = load_yaml(KUBERNETES / "gateway.yaml")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["periodSecond"] = 2
    validator = kubernetes_validator("apps/v1", "Deployment")
    assert problems(validator, deployment)


def test_the_gateway_manifests_drain() -> None:
    """Probes from /healthz, and a grace period longer than the configured drain."""
    (config,) = load_yaml(KUBERNETES / "configmap.yaml")
    deployment, service, _ = load_yaml(KUBERNETES / "gateway.yaml")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    drain = int(config["data"]["GATEWAY_DRAIN_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] > drain
    liveness = container["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] > drain
    assert container["resources"]["requests"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
