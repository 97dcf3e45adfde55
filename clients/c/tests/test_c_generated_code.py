"""libsluice's committed protobuf-c code is what clients/c/regen-proto makes of the schema."""
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_generated_code_is_current():
    out = subprocess.run([str(HERE.parent / "regen-proto"), "--check"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
