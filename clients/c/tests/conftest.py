"""Fixtures for libsluice's tests: Tansu, sluiced (clients/testing) and the C programs."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "testing"))

from sluice_testing import consume, sluiced, sluiced_factory, tansu, topic  # noqa: E402,F401

C_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def ctest() -> str:
    """Builds libsluice and its test program (make tests); returns the program's path."""
    out = subprocess.run(["make", "-s", "-C", str(C_DIR), "tests"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"make tests failed:\n{out.stdout}\n{out.stderr}"
    return str(C_DIR / "build" / "sluice-ctest")
