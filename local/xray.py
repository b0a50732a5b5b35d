"""Collects the functions' X-Ray segments over UDP on loopback, where the X-Ray daemon would listen.

Workers get ``AWS_XRAY_DAEMON_ADDRESS`` pointing here and a ``_X_AMZN_TRACE_ID`` per
invocation, so the SDK runs as in Lambda and its subsegments (one per processing phase
and one per AWS call) arrive as UDP datagrams. ``summary`` gives a per-function timing table.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import threading
import time
from collections import defaultdict


def trace_id() -> str:
    """A new trace header: Root=1-<epoch hex>-<96 random bits>;Parent=<64 bits>;Sampled=1."""
    return f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=1"


class XRayCollector:
    """A UDP listener on 127.0.0.1 and a free port."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.durations: dict[str, list[float]] = defaultdict(list)
        self.segments = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="xray-collector", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.sock.getsockname()
        return f"{host}:{port}"

    def start(self) -> XRayCollector:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self.sock.recvfrom(65536)
            except (TimeoutError, OSError):
                continue
            self._record(data)

    def _record(self, data: bytes) -> None:
        # Each datagram is a JSON header line, then one segment or subsegment document.
        _, _, body = data.partition(b"\n")
        try:
            document = json.loads(body)
        except ValueError:
            return
        self.segments += 1
        if not document.get("name") or "end_time" not in document or "start_time" not in document:
            return
        self.durations[document["name"]].append((document["end_time"] - document["start_time"]) * 1000)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def summary(self) -> list[dict[str, object]]:
        """Per subsegment name: count, median and p95 in milliseconds."""
        rows = []
        for name, values in sorted(self.durations.items()):
            ordered = sorted(values)
            rows.append(
                {
                    "function": self.label,
                    "subsegment": name,
                    "count": len(values),
                    "p50_ms": round(statistics.median(ordered), 2),
                    "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2),
                }
            )
        return rows
