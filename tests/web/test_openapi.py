"""GET /api/openapi.json: public, valid OpenAPI 3.1, and exactly the router's /api routes, /healthz
and /readyz."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator

from server.app import create_app
from server.web.auth import ADMIN_ROUTE
from server.web.openapi import document
from tests.conftest import AUTH, ClientFactory, ConfigFactory

OPERATIONS = ("/healthz", "/readyz")  # documented beside the /api routes


def api_routes(app: web.Application) -> dict[tuple[str, str], bool]:
    """(path, method) → admin only, for every /api route and the operations' probes (aiohttp adds
    HEAD to each GET itself)."""
    found = {}
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if (path.startswith("/api/") or path in OPERATIONS) and route.method != "HEAD":
            found[(path, route.method)] = getattr(route.handler, ADMIN_ROUTE, False)
    return found


def documented(doc: dict) -> dict[tuple[str, str], bool]:
    return {(path, method.upper()): "security" in operation
            for path, item in doc["paths"].items() for method, operation in item.items()}


def test_the_document_lists_exactly_the_registered_api_routes(make_config: ConfigFactory) -> None:
    routes = api_routes(create_app(make_config()))
    assert len(routes) >= 11  # the walk found the table, not nothing
    assert set(documented(document())) == set(routes)


def test_the_document_marks_exactly_the_admin_routes(make_config: ConfigFactory) -> None:
    assert documented(document()) == api_routes(create_app(make_config()))


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(doc).validate()


async def test_the_document_is_public(client: TestClient) -> None:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert await resp.json() == document()


def test_every_admin_operation_documents_its_refusals() -> None:
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if "security" in operation:
                assert {"401", "429"} <= set(operation["responses"]), (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= set(operation["responses"]), (method, path)


async def assert_documented(resp: Any, name: str) -> None:
    """The answer is the document's components/responses/<name>: body and headers."""
    doc = document()
    spec = doc["components"]["responses"][name]
    schema = {**spec["content"]["application/json"]["schema"], "components": doc["components"]}
    Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(
        await resp.json())
    for header, rule in spec.get("headers", {}).items():
        Draft202012Validator(rule["schema"]).validate(resp.headers[header])


async def test_the_refusals_the_fuzz_rarely_meets_are_as_documented(make_client: ClientFactory) -> None:
    """The fuzz runs without rate limits and never sends a wrong token or 64 KiB:
    these answers are held to the document here."""
    client = await make_client(moderation__max_per_minute=1)
    json_type = {"Content-Type": "application/json"}
    resp = await client.post("/api/barrages", data=b"[" + b" " * 70_000 + b"]", headers=json_type)
    assert resp.status == 413
    await assert_documented(resp, "TooLarge")
    resp = await client.post("/api/barrages", data=b'{"text": "hi"}', headers={"Content-Type": "text/plain"})
    assert resp.status == 415
    await assert_documented(resp, "UnsupportedMediaType")
    assert (await client.post("/api/barrages", json={"text": "one"})).status == 201
    resp = await client.post("/api/barrages", json={"text": "two"})
    assert resp.status == 429
    await assert_documented(resp, "TooManyRequests")
    for guess in range(11):
        resp = await client.get("/api/stats", headers={"Authorization": f"Bearer wrong-{guess}"})
        assert resp.status == (401 if guess < 10 else 429)
        await assert_documented(resp, "Unauthorized" if guess < 10 else "TooManyRequests")
    resp = await client.get("/api/stats", headers=AUTH)
    assert resp.status == 429  # locked out, the right token too
    await assert_documented(resp, "TooManyRequests")


async def test_a_full_stream_cap_is_as_documented(make_client: ClientFactory) -> None:
    client = await make_client(stream__max_per_address=1)
    first = await client.get("/api/stream", headers=AUTH)
    assert first.status == 200
    resp = await client.get("/api/stream", headers=AUTH)
    assert resp.status == 503
    await assert_documented(resp, "Unavailable")
    first.close()
