"""Fixtures shared by the end-to-end tests."""
import pytest

from service import Service


@pytest.fixture
def svc(tmp_path):
    """A running `orgledger serve` in a temporary folder, stopped after the test."""
    service = Service(tmp_path).wait_ready()
    yield service
    service.stop()
