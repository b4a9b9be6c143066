from collections.abc import Iterator

import pytest

from tests.integration.deployment import Deployment


@pytest.fixture
def deployment(tmp_path) -> Iterator[Deployment]:
    deployed = Deployment(tmp_path / "var")
    deployed.migrate()
    yield deployed
    deployed.stop()
