"""GET /api/openapi.json: public, valid OpenAPI 3.1, and exactly the router's /api routes."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import OpenAPIV31SpecValidator

from server.app import create_app
from server.web.auth import ADMIN_ROUTE
from server.web.openapi import document
from tests.conftest import ConfigFactory


def api_routes(app: web.Application) -> dict[tuple[str, str], bool]:
    """(path, method) → admin only, for every /api route (aiohttp adds HEAD to each GET itself)."""
    found = {}
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith("/api/") and route.method != "HEAD":
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
