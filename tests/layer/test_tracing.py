from __future__ import annotations

import socket
import subprocess
import sys
import textwrap


def test_tracing_runs_without_a_daemon_and_patches_boto3():
    # A fresh interpreter: tracing enabled, no trace header, no daemon listening.
    code = textwrap.dedent(
        """
        import os, socket
        os.environ.pop("AWS_XRAY_SDK_ENABLED", None)
        calls = []
        real = socket.socket.connect
        socket.socket.connect = lambda self, addr: calls.append(addr) or real(self, addr)
        import tributary.tracing as tracing
        assert calls == [], calls          # nothing at import
        tracing.init()
        tracing.init()                      # idempotent
        with tracing.phase("decode", records=3):
            pass
        import botocore.client
        from aws_xray_sdk.core.patcher import _PATCHED_MODULES
        assert "botocore" in _PATCHED_MODULES, _PATCHED_MODULES
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": "layers/common", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_phase_is_harmless_when_tracing_is_disabled():
    from tributary import tracing

    with tracing.phase("x"):
        pass
    assert socket  # the module imported without side effects
