"""The committed sluice_pb2.py is what regen-proto makes of the schema, and the installed
protobuf runtime is the one pyproject.toml pins for it."""
import subprocess
from pathlib import Path

import google.protobuf

HERE = Path(__file__).resolve().parent


def test_generated_code_is_current():
    out = subprocess.run([str(HERE.parent / "regen-proto"), "--check"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_protobuf_runtime_matches_the_pin():
    # protoc 3.21's Python code needs the 4.x runtime (>= 4.21.12, < 5): see pyproject.toml.
    major, minor = (int(x) for x in google.protobuf.__version__.split(".")[:2])
    assert major == 4 and minor >= 21, google.protobuf.__version__
    out = subprocess.run(["protoc", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1].startswith("3.21."), out.stdout
