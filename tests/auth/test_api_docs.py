"""GET /openapi.json and /docs: public like the policy pages, and describing every endpoint with
the models the service really reads and answers."""

from __future__ import annotations

from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from cds_service.api.openapi import (
    ENDPOINTS,
    REF,
    Discovery,
    FeedbackSummary,
    OperationOutcome,
)
from cds_service.hooks.feedback import FeedbackRequest
from cds_service.hooks.request import HookRequest
from cds_service.hooks.response import HookResponse
from tests.auth.ehr import DISCOVERY_URL, EHR, SIGN_URL, example

SIGN = "/cds-services/crd-order-sign"


def test_docs_and_schema_need_no_token_while_the_api_does(service: TestClient) -> None:
    assert service.get("/cds-services").status_code == 401
    schema = service.get("/openapi.json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.")
    docs = service.get("/docs")
    assert docs.status_code == 200 and 'id="swagger-ui"' in docs.text
    # Swagger UI's script and stylesheet are ours to serve: nothing comes from a CDN.
    assert "cdn." not in docs.text and "https://" not in docs.text
    for asset in ("/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css"):
        assert f'"{asset}"' in docs.text
        assert service.get(asset).status_code == 200


def test_the_schema_names_every_endpoint_of_the_app(service: TestClient) -> None:
    """FastAPI lists every route of every router; each must have its row in ENDPOINTS (a new
    endpoint without one fails here), and every row a route."""
    paths = service.get("/openapi.json").json()["paths"]
    routed = {(m, p) for p, ops in paths.items() for m in ops}
    assert routed == set(ENDPOINTS)
    for (method, path), doc in ENDPOINTS.items():
        operation = paths[path][method]
        assert operation["summary"] == doc.summary and "200" in operation["responses"]
        assert ("security" in operation) == doc.token


def test_hook_endpoint_reads_and_answers_the_real_models(service: TestClient) -> None:
    schema = service.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    hook = schema["paths"]["/cds-services/{service_id}"]["post"]
    request_ref = hook["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    response_ref = hook["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert request_ref == REF.format(model="HookRequest")
    assert response_ref == REF.format(model="HookResponse")
    own = HookRequest.model_json_schema(ref_template=REF)
    own.pop("$defs", None)
    assert components["HookRequest"] == own
    answer = HookResponse.model_json_schema(ref_template=REF, mode="serialization")
    answer.pop("$defs", None)
    assert components["HookResponse"] == answer
    assert {"Card", "Action", "Suggestion", "OperationOutcome", "FeedbackRequest",
            "OrderSignContext", "OrderSelectContext"} <= set(components)
    feedback = schema["paths"]["/cds-services/{service_id}/feedback"]["post"]
    assert feedback["requestBody"]["content"]["application/json"]["schema"]["$ref"] == \
        REF.format(model=FeedbackRequest.__name__)
    for status in ("400", "401", "412"):
        assert hook["responses"][status]["content"]["application/fhir+json"]["schema"][
            "$ref"] == REF.format(model="OperationOutcome")


def test_real_answers_match_the_documented_schemas(service: TestClient, ehr: EHR) -> None:
    """The hand-written models (discovery, OperationOutcome) describe what the routers send."""
    discovery = service.get("/cds-services", headers=ehr.auth(DISCOVERY_URL))
    Discovery.model_validate(discovery.json())
    answer = service.post(SIGN, json=example(), headers=ehr.auth(SIGN_URL))
    HookResponse.model_validate(answer.json())
    refused = service.post(SIGN, json={"hook": "order-sign"}, headers=ehr.auth(SIGN_URL))
    assert refused.status_code == 400
    OperationOutcome.model_validate(refused.json())
    OperationOutcome.model_validate(service.get("/cds-services").json())
    TypeAdapter(FeedbackSummary).validate_python(
        {"received": 1, "stored": 1, "duplicates": 0, "unknownCards": 0})
