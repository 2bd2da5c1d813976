"""The OpenAPI document: every example works on the shipped models as shipped, every documented
status is in the one error shape, and the docs pages are served locally."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.service.helpers import OPERATION_IDS

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def with_data(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(model_dir=model_dir, data_dir=tmp_path_factory.mktemp("docs-data"))
    with TestClient(create_app(settings)) as client:
        yield client


def first_example(examples: dict[str, Any]) -> Any:
    return next(iter(examples.values()))["value"]


def test_every_documented_example_succeeds(with_data: TestClient) -> None:
    """Each body example with the first example of each path parameter, except that an example
    named after a model (a latent vector fits one latent_dim) goes to that model."""
    document = with_data.get("/openapi.json").json()
    tried = 0
    for template, operations in document["paths"].items():
        for method, operation in operations.items():  # declared order: PUT comes before DELETE
            parameters = {p["name"]: p["examples"] for p in operation.get("parameters", [])}
            content = operation.get("requestBody", {}).get("content", {})
            bodies = content.get("application/json", {}).get("examples", {"": {"value": None}})
            for name, example in bodies.items():
                values = {key: first_example(examples) for key, examples in parameters.items()}
                if name in parameters.get("model", {}):
                    values["model"] = name
                path = template.format(**values)
                response = with_data.request(method, path, json=example["value"])
                assert response.is_success, f"{method} {path} example {name!r}: {response.text}"
                tried += 1
    assert tried >= 20


def test_every_operation_has_a_summary_and_documents_its_errors(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, template)
            if template.startswith("/v1"):
                for status in ("401", "422", "500"):
                    schema = operation["responses"][status]["content"]["application/json"]
                    assert schema["schema"]["$ref"].endswith("/ErrorBody"), (method, template)
            if "{model}" in template:
                assert {"404", "503"} <= set(operation["responses"]), (method, template)
            if "requestBody" in operation:
                body = operation["requestBody"]
                # One media type (generators choke on two); the description names the other.
                assert set(body["content"]) == {"application/json"}, (method, template)
                assert body["content"]["application/json"]["examples"], (method, template)
                assert "multipart/form-data" in body["description"], (method, template)


def test_operation_ids_are_short_names(client: TestClient) -> None:
    """What a generated client names its functions and modules after."""
    document = client.get("/openapi.json").json()
    ids = [
        operation["operationId"] for ops in document["paths"].values() for operation in ops.values()
    ]
    assert sorted(ids) == sorted(OPERATION_IDS)


def test_documented_limits_are_the_server_limits(model_dir: Path) -> None:
    with TestClient(create_app(Settings(model_dir=model_dir, max_items=12))) as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["SampleRequest"]["properties"]["n"]["maximum"] == 12
    lists, packed = schemas["DecodeRequest"]["properties"]["z"]["oneOf"]
    assert lists["maxItems"] == 12
    assert packed["$ref"].endswith("/PackedLatents")


def test_docs_assets_are_served_locally(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.status_code == 200
        assert "cdn.jsdelivr.net" not in response.text
        assert "/static-offline-docs/" in response.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        assert client.get(f"/static-offline-docs/{asset}").status_code == 200


def test_codes_in_a_multipart_body_are_documented_as_json_text(client: TestClient) -> None:
    """As service.bodies reads them: a form field holding the lists (or packed codes) as JSON."""
    paths = client.get("/openapi.json").json()["paths"]
    for operation in ("decode", "edit", "interpolate", "project"):
        body = paths[f"/v1/models/{{model}}/{operation}"]["post"]["requestBody"]
        as_form = body["description"].rstrip(".").split("multipart/form-data: ")[1].split("; ")
        json_text = next(part for part in as_form if part.endswith(" as JSON text"))
        assert "`z`" in json_text.removesuffix(" as JSON text").split(", "), operation
        response = client.post(
            f"/v1/models/fashion-vae-2d/{operation}",
            files={"z": (None, "[[0.5, -1.0], [1.0, 0.5]]")},
        )
        assert response.status_code == 200, (operation, response.text)
