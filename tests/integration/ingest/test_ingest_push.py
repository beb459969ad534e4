"""POST /api/v1/ingest through aiohttp's test client: 401, 400 field-level, 413, 202."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from monitor.ingest.push import INGEST_PATH, authorised, install_ingest_routes
from monitor.observability.metrics import Metrics
from monitor.records import Document

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DOC = {"id": "doc-1", "title": "Gallium", "text": "Export licence required.", "url": "https://ex.org/1"}


class Published:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[Document]] = []
        self.fail = fail

    async def __call__(self, documents: list[Document]) -> None:
        if self.fail:
            raise RuntimeError("broker down")
        self.batches.append(documents)


@pytest.fixture
def published() -> Published:
    return Published()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


async def make_client(
    published: Published, metrics: Metrics, token: str | None = TOKEN
) -> TestClient[Any, Any]:
    app = web.Application()
    install_ingest_routes(
        app, publish=published, token=SecretStr(token) if token else None, metrics=metrics, max_bytes=2_000
    )
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def client(published: Published, metrics: Metrics) -> AsyncIterator[TestClient[Any, Any]]:
    client = await make_client(published, metrics)
    yield client
    await client.close()


def rejected(metrics: Metrics, reason: str) -> float:
    return (
        metrics.registry.get_sample_value("monitor_input_rejected_total", {"kind": "push", "reason": reason})
        or 0
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}],
)
async def test_401_without_or_with_a_wrong_token(
    client: TestClient[Any, Any], published: Published, metrics: Metrics, headers: dict[str, str]
) -> None:
    response = await client.post(INGEST_PATH, json=DOC, headers=headers)
    assert response.status == 401 and "Bearer" in response.headers["WWW-Authenticate"]
    assert published.batches == [] and rejected(metrics, "unauthorized") == 1


async def test_no_configured_token_closes_the_endpoint(published: Published, metrics: Metrics) -> None:
    client = await make_client(published, metrics, token=None)
    try:
        response = await client.post(INGEST_PATH, json=DOC, headers={"Authorization": "Bearer "})
        assert response.status == 401
    finally:
        await client.close()


def test_authorised() -> None:
    token = SecretStr("abc")
    assert authorised("Bearer abc", token) and authorised("bearer  abc", token)
    assert (
        not authorised("Bearer abcd", token)
        and not authorised(None, token)
        and not authorised("Bearer abc", None)
    )


async def test_202_for_one_document(
    client: TestClient[Any, Any], published: Published, metrics: Metrics
) -> None:
    response = await client.post(INGEST_PATH, json=DOC, headers=AUTH)
    assert response.status == 202 and await response.json() == {"ids": ["doc-1"]}
    (batch,) = published.batches
    assert batch[0].source == "push" and batch[0].url == "https://ex.org/1" and batch[0].fetched.tzinfo
    sample = metrics.registry.get_sample_value(
        "monitor_ingest_documents_total", {"source": "push", "outcome": "produced"}
    )
    assert sample == 1


@pytest.mark.parametrize("wrap", [lambda docs: docs, lambda docs: {"documents": docs}])
async def test_202_for_a_batch(client: TestClient[Any, Any], published: Published, wrap: Any) -> None:
    docs = [DOC, {**DOC, "id": "doc-2", "source": "partner-a"}]
    response = await client.post(INGEST_PATH, json=wrap(docs), headers=AUTH)
    assert response.status == 202 and (await response.json())["ids"] == ["doc-1", "doc-2"]
    assert [d.source for d in published.batches[0]] == ["push", "partner-a"]


async def test_400_names_index_and_field(
    client: TestClient[Any, Any], published: Published, metrics: Metrics
) -> None:
    docs = [DOC, {"id": "doc-2", "text": "   "}, {"id": "doc-3", "text": "x", "url": "ftp://x"}, "nope", DOC]
    response = await client.post(INGEST_PATH, json=docs, headers=AUTH)
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "invalid document"
    details = {(d["index"], d["field"]) for d in body["details"]}
    assert details == {(1, "text"), (2, "url"), (3, "(document)"), (4, "id")}
    assert all(d["reason"] for d in body["details"])
    assert published.batches == [] and rejected(metrics, "invalid") == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "(body)"),
        (b"\xff\xfe", "(body)"),
        (b"[]", "documents"),
        (b'{"documents": 3}', "documents"),
        (json.dumps([DOC] * 1001).encode(), "documents"),
    ],
)
async def test_400_for_bodies_that_are_not_documents(
    client: TestClient[Any, Any], body: bytes, field: str
) -> None:
    response = await client.post(INGEST_PATH, data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status in (400, 413)
    if response.status == 400:
        assert (await response.json())["details"][0]["field"] == field


async def test_413_over_the_size_limit(
    client: TestClient[Any, Any], published: Published, metrics: Metrics
) -> None:
    big = {**DOC, "text": "x" * 5_000}
    response = await client.post(INGEST_PATH, json=big, headers=AUTH)
    assert response.status == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 500

    response = await client.post(INGEST_PATH, data=chunks(), headers=AUTH)
    assert response.status == 413
    assert published.batches == [] and rejected(metrics, "too_large") == 2


async def test_503_when_publishing_fails(metrics: Metrics) -> None:
    client = await make_client(Published(fail=True), metrics)
    try:
        response = await client.post(INGEST_PATH, json=DOC, headers=AUTH)
        assert response.status == 503 and response.headers["Retry-After"]
    finally:
        await client.close()
