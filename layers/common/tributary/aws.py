"""boto3 clients, created once per process and reused across invocations.

Tests and the local runtime point them elsewhere with the standard ``AWS_ENDPOINT_URL``
environment variable (or by calling ``reset`` after starting moto); functions never
branch on where they run.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=5,
    read_timeout=30,
    tcp_keepalive=True,
)
_lock = threading.Lock()
_clients: dict[str, Any] = {}
_session: boto3.session.Session | None = None
# The parsed service models and endpoint rules: data only, the same wherever the SDK points,
# so a reset keeps them and the next session does not read and parse them again.
_LOADER = botocore.loaders.create_loader()


def client(service: str) -> Any:
    """The process's client for ``service``, created on first use."""
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        if service not in _clients:
            _clients[service] = _current_session().client(service, config=_CONFIG)
        return _clients[service]


def new_session() -> boto3.session.Session:
    """A new session that reads the service models this process has already parsed."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(botocore_session=core)


def _current_session() -> boto3.session.Session:
    """One session for all of the process's clients, as AWS advises (credentials and
    configuration resolved once); called with ``_lock`` held, since sessions are not thread-safe."""
    global _session
    if _session is None:
        _session = new_session()
    return _session


def reset() -> None:
    """Forget every client (tests call this after pointing the SDK somewhere new)."""
    global _session
    with _lock:
        _clients.clear()
        _session = None
