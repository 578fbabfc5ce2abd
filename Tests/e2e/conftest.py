"""Fixtures shared by the end-to-end tests."""
import signal

import pytest

from service import POSTGRES, STARTED, Service


def pytest_configure(config):
    config.addinivalue_line("markers", "data_folder: works on an LMDB data folder itself (its files, its lock, offline commands on it)")


def pytest_collection_modifyitems(config, items):
    """On PostgreSQL (ORGLEDGER_E2E_POSTGRES) the tests of a data folder's own files are not run: there
    is no such folder. test_postgres.py checks the offline commands there instead."""
    if not POSTGRES:
        return
    skip = pytest.mark.skip(reason="a data folder's own files: the service runs on PostgreSQL")
    for item in items:
        if "data_folder" in item.keywords:
            item.add_marker(skip)


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
