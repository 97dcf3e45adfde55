"""Fixtures for sluice-client's tests: Tansu and sluiced from clients/testing."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "testing"))

from sluice_testing import consume, sluiced, sluiced_factory, tansu, topic  # noqa: E402,F401
