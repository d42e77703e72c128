"""The OpenAPI document describes the admin API as it really behaves (no servers needed)."""

from typing import Any

import pytest

from fanfare_admin_api.app import create_app
from fanfare_core.settings import load_settings


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app = create_app(load_settings({}, database_url="-", redis_url="-", nats_url="-"))
    return app.openapi_schema.to_schema()


def test_amounts_are_documented_as_numbers(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("Auction", "CreateAuctionRequest"):
        variants = schemas[name]["properties"]["startingBid"]["oneOf"]
        assert {"number", "null"} == {v["type"] for v in variants}


def test_every_distribution_route_has_its_operation(document: dict[str, Any]) -> None:
    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    for label in ("Queue", "Draw", "Auction"):
        for verb in ("create", "get", "update", "delete"):
            assert f"{verb}{label}" in operations
        assert f"list{label}s" in operations
    assert document["components"]["securitySchemes"]["SecretKey"]["scheme"] == "bearer"
