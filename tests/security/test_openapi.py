"""Finding 10: the OpenAPI description tells the truth about authentication and errors. Keys are
declared as security schemes (Bearer and X-API-Key), not plain header parameters, and every
protected operation lists its error statuses with the problem-details schema. (Schemathesis,
in tests/test_api_schema.py, checks the answers against this description.)"""

from __future__ import annotations

from typing import Any

import pytest

import tenure
from tenure.api.app import create_app
from tenure.app.store import Store

PUBLIC = {"/s/{token}", "/health"}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("openapi")
    store = Store(f"sqlite:///{folder / 'app.db'}")
    with tenure.connect("duckdb://") as ws:
        yield create_app(ws, store).openapi()
    store.dispose()


def test_keys_are_security_schemes_not_header_parameters(openapi: Any) -> None:
    schemes = openapi["components"]["securitySchemes"]
    kinds = {(s["type"], s.get("scheme"), s.get("name")) for s in schemes.values()}
    assert ("http", "bearer", None) in kinds
    assert ("apiKey", None, "X-API-Key") in kinds
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            names = {p["name"].lower() for p in operation.get("parameters", [])}
            assert not names & {"authorization", "x-api-key"}, (method, path)


def test_every_protected_operation_declares_its_errors_as_problem_details(openapi: Any) -> None:
    checked = 0
    for path, operations in openapi["paths"].items():
        if path in PUBLIC or not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            assert operation.get("security"), (method, path)
            responses = operation["responses"]
            for status in ("401", "403"):
                assert status in responses, (method, path, status)
                content = responses[status]["content"]
                assert "application/problem+json" in content, (method, path, status)
            checked += 1
    assert checked >= 39  # every /api/ operation was looked at
