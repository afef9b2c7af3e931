"""One `ivr serve` (Kamailio + 2 workers) shared by the end-to-end tests of a session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import REPO
from tests.e2e.harness import IvrServer, start_server


def assert_clean_exit(srv: IvrServer) -> None:
    """The server exited 0 with no pjsua2 assertion, crash or traceback in its log."""
    code = srv.stop()
    log = srv.log()
    assert code == 0, log[-3000:]
    for bad in ("Assertion", "Segmentation", "Traceback", "exited with code"):
        assert bad not in log, log[-5000:]


@pytest.fixture(scope="session")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IvrServer]:
    """`ivr serve` on the bundled Acme hotline flow."""
    env = {"IVR_FLOWS__DEFAULT": str(REPO / "flows/acme_retail.yaml")}
    srv = start_server(tmp_path_factory.mktemp("acme"), env=env)
    yield srv
    assert_clean_exit(srv)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IvrServer]:
    srv = start_server(tmp_path_factory.mktemp("serve"), workers=2, kamailio=True)
    yield srv
    assert_clean_exit(srv)
