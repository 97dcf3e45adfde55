"""Fixtures for the harness self-tests."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from helpers import Server  # noqa: E402


@pytest.fixture(scope="module")
def tansu():
    server = Server(["tansu"])
    yield server
    assert server.close() == 0


@pytest.fixture(scope="module")
def mock():
    server = Server(["mock", "--brokers", "3"])
    yield server
    assert server.close() == 0

