"""Static checks of the deployment files: hadolint on the Dockerfile, the compose spec's schema and
docker-compose 1.29 on docker-compose.yml, and Kubernetes' own schemas (from the PyPI package
kubernetes-validate, strict: unknown fields fail) on deploy/kubernetes/."""

from __future__ import annotations

from pathlib import Path
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


def test_deployment_drains_before_it_stops() -> None:
    """Readiness, a preStop pause, a termination grace long enough for the pause, the drain and
    the shutdown timeout, and a rolling update that never goes below the replica count."""
    deployment = manifest("deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    (api,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in api["env"]}
    pause = int(api["lifecycle"]["preStop"]["exec"]["command"][-1])
    needed = pause + float(env["VAE_SERVE_DRAIN_S"]) + float(env["VAE_SERVE_SHUTDOWN_TIMEOUT_S"])
    assert pod["terminationGracePeriodSeconds"] > needed
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"


KSERVE = CONTEXT / "deploy" / "kserve"


def test_kserve_serving_runtime_containers_are_valid_kubernetes(tmp_path: Path) -> None:
    """KServe's CRDs are not in kubernetes-validate: the runtime's containers and volumes are
    core/v1 objects, so they are checked strictly as the spec of a Pod."""
    runtime = yaml.safe_load((KSERVE / "servingruntime.yaml").read_text())
    assert (runtime["apiVersion"], runtime["kind"]) == ("serving.kserve.io/v1alpha1",
                                                        "ServingRuntime")  # fmt: skip
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "vae-serve-runtime-as-a-pod"},
        "spec": {"containers": runtime["spec"]["containers"],
                 "volumes": runtime["spec"]["volumes"]},
    }  # fmt: skip
    path = tmp_path / "runtime-pod.yaml"
    path.write_text(yaml.safe_dump(pod))
    run([tool("kubernetes-validate"), "--strict", str(path)], 120)


def test_kserve_inference_service_uses_the_runtime_over_v2() -> None:
    runtime = yaml.safe_load((KSERVE / "servingruntime.yaml").read_text())
    service = yaml.safe_load((KSERVE / "inferenceservice.yaml").read_text())
    assert (service["apiVersion"], service["kind"]) == ("serving.kserve.io/v1beta1",
                                                        "InferenceService")  # fmt: skip
    predictor = service["spec"]["predictor"]
    assert set(predictor) == {"minReplicas", "maxReplicas", "model"}
    model = predictor["model"]
    assert set(model) == {"modelFormat", "runtime", "protocolVersion", "storageUri"}
    assert model["runtime"] == runtime["metadata"]["name"]
    formats = {f["name"] for f in runtime["spec"]["supportedModelFormats"]}
    assert model["modelFormat"]["name"] in formats
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"] == ["v2"]
    (container,) = runtime["spec"]["containers"]
    assert container["name"] == "kserve-container"  # the name KServe expects of the predictor
    assert container["args"][:2] == ["--model-dir", "/mnt/models"]  # the storage initializer's
    port = container["ports"][0]["containerPort"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": port}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": port}
    assert "preStop" in container["lifecycle"]
    assert predictor["minReplicas"] >= 2


def test_scaled_compose_replicas_match_the_single_api() -> None:
    """docker-compose.scaled.yml repeats the api's settings: they must not drift apart."""
    single = yaml.safe_load((CONTEXT / "docker-compose.yml").read_text())["services"]["api"]
    scaled = yaml.safe_load((CONTEXT / "docker-compose.scaled.yml").read_text())["services"]
    same = ("build", "image", "volumes", "read_only", "tmpfs", "cap_drop", "security_opt",
            "healthcheck", "restart", "logging")  # fmt: skip
    for key in same:
        assert scaled["api"][key] == single[key], key
    assert single["environment"].items() <= scaled["api"]["environment"].items()
    assert scaled["api"]["deploy"]["replicas"] >= 2
    assert scaled["api"]["ports"] == ["127.0.0.1::8000"]  # each replica on its own loopback port
    assert scaled["proxy"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_scaled_compose_file_matches_the_compose_spec_and_its_proxy_lints() -> None:
    schema = ["--builtin-schema", "vendor.compose-spec"]
    run([tool("check-jsonschema"), *schema, str(CONTEXT / "docker-compose.scaled.yml")], 60)
    dockerfile = CONTEXT / "deploy" / "compose" / "proxy.Dockerfile"
    run([tool("hadolint"), "--failure-threshold", "error", str(dockerfile)], 60)
