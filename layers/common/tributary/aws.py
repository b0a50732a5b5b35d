"""boto3 clients, created once per process and reused across invocations.

Tests and the local runtime point them elsewhere with the standard ``AWS_ENDPOINT_URL``
environment variable (or by calling ``reset`` after starting moto); functions never
branch on where they run.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=5,
    read_timeout=30,
    tcp_keepalive=True,
)
_lock = threading.Lock()
_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    """The process's client for ``service``, created on first use."""
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        if service not in _clients:
            _clients[service] = boto3.session.Session().client(service, config=_CONFIG)
        return _clients[service]


def reset() -> None:
    """Forget every client (tests call this after pointing the SDK somewhere new)."""
    with _lock:
        _clients.clear()
