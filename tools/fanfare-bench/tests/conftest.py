"""Fixtures of the benchmark's tests."""

import os
from collections.abc import Iterator

import pytest

from fanfare_bench.stack import pin
from fanfare_devstack.infrastructure import InfrastructureUrls


@pytest.fixture
def session_servers(
    infrastructure_urls: InfrastructureUrls, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Point the bench's stack at the suite's servers, and give back the cores it pins."""
    for name, url in infrastructure_urls.as_env().items():
        monkeypatch.setenv(name, url)
    cores = os.sched_getaffinity(0)
    yield
    pin(os.getpid(), cores)
