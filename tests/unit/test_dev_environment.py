"""The dev environment is what the README says: one venv in which the layer's package imports."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_producer_cli_runs_from_any_directory_with_the_project_venv(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-m", "tributary.produce", "--help"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "--stream" in out.stdout
