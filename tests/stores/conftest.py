from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stores._backends import BACKENDS, ContractStore
from tests.stores._world import world_batches


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def world_store(backend: str, request: pytest.FixtureRequest) -> Iterator[ContractStore]:
    """A store of ``backend`` holding the contract world, shared by a module's tests."""
    with BACKENDS[backend](request) as store:
        for batch in world_batches():
            store.push(batch)
        yield store


@pytest.fixture
def empty_store(backend: str, request: pytest.FixtureRequest) -> Iterator[ContractStore]:
    with BACKENDS[backend](request) as store:
        yield store
