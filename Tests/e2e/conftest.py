"""Fixtures shared by the end-to-end tests."""
import signal

import pytest

from service import STARTED, Service


@pytest.fixture
def svc(tmp_path):
    """A running `orgledger serve` in a temporary folder, stopped after the test."""
    service = Service(tmp_path).wait_ready()
    yield service
    service.stop()


@pytest.fixture(scope="session", autouse=True)
def stop_leftover_services():
    """A test that fails before its own stop must not leave a server running after the session."""
    yield
    for service in STARTED:
        service.stop(signal.SIGKILL)
