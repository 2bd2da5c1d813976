"""Static checks of the deployment files: hadolint on the Dockerfile, the compose spec's schema and
docker-compose 1.29 on docker-compose.yml, and Kubernetes' own schemas (from the PyPI package
kubernetes-validate, strict: unknown fields fail) on deploy/kubernetes/."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.container.helpers import CONTEXT, run, tool

pytestmark = pytest.mark.container

KUBERNETES = CONTEXT / "deploy" / "kubernetes"


def manifest(name: str) -> dict[str, Any]:
    document = yaml.safe_load((KUBERNETES / name).read_text())
    assert isinstance(document, dict)
    return document


def test_dockerfile_has_no_hadolint_errors() -> None:
    run([tool("hadolint"), "--failure-threshold", "error", str(CONTEXT / "Dockerfile")], 60)


def test_compose_file_matches_the_compose_spec() -> None:
    schema = ["--builtin-schema", "vendor.compose-spec"]
    run([tool("check-jsonschema"), *schema, str(CONTEXT / "docker-compose.yml")], 60)


def test_docker_compose_reads_the_file_with_train_behind_its_profile() -> None:
    compose = [tool("docker-compose"), "--file", str(CONTEXT / "docker-compose.yml")]
    services = yaml.safe_load(run([*compose, "config"], 60).stdout)["services"]
    assert services["train"]["profiles"] == ["train"]
    assert "profiles" not in services["api"]
    assert services["api"]["read_only"] is True


def test_kubernetes_manifests_match_the_schemas() -> None:
    files = sorted(str(path) for path in KUBERNETES.glob("*.yaml"))
    assert len(files) == 4, files
    run([tool("kubernetes-validate"), "--strict", *files], 120)


def test_deployment_probes_health_and_readiness() -> None:
    (api,) = manifest("deployment.yaml")["spec"]["template"]["spec"]["containers"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"cpu", "memory"} <= api["resources"]["requests"].keys()
    assert {"cpu", "memory"} <= api["resources"]["limits"].keys()


def test_deployment_runs_non_root_on_a_read_only_root_with_the_data_claim() -> None:
    pod = manifest("deployment.yaml")["spec"]["template"]["spec"]
    (api,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert api["securityContext"]["readOnlyRootFilesystem"] is True
    assert api["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"]: m["name"] for m in api["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = volumes[mounts["/app/data"]]["persistentVolumeClaim"]["claimName"]
    assert claim == manifest("pvc.yaml")["metadata"]["name"]
    assert "ReadWriteMany" in manifest("pvc.yaml")["spec"]["accessModes"]


def test_service_and_autoscaler_target_the_deployment() -> None:
    deployment = manifest("deployment.yaml")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = manifest("service.yaml")["spec"]["selector"]
    assert selector.items() <= labels.items()
    target = manifest("hpa.yaml")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])


def test_image_serves_on_the_port_the_manifests_and_compose_use() -> None:
    dockerfile = (CONTEXT / "Dockerfile").read_text()
    (api,) = manifest("deployment.yaml")["spec"]["template"]["spec"]["containers"]
    compose = yaml.safe_load((CONTEXT / "docker-compose.yml").read_text())
    assert "EXPOSE 8000" in dockerfile
    assert api["ports"][0]["containerPort"] == 8000
    assert compose["services"]["api"]["ports"][0].endswith(":8000")
