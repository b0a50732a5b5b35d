"""An in-memory S3 behind a real boto3 client: requests are built, signed and checksummed as
in Lambda, and answered here instead of over the network."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.awsrequest import AWSResponse


class _Raw(io.BytesIO):
    """The file-like body botocore reads a response from (``read`` and ``stream``)."""

    def stream(self, amt: int = 65536, decode_content: bool = False) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    data = body.read()
    if hasattr(body, "seek"):
        body.seek(0)
    return data


def _header(request: Any, name: str) -> str:
    value = request.headers.get(name, "")
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _dechunk(data: bytes) -> bytes:
    """The payload of an ``aws-chunked`` body (botocore's trailing-checksum encoding)."""
    out, view = bytearray(), memoryview(data)
    position = 0
    while True:
        end = data.index(b"\r\n", position)
        size = int(bytes(view[position:end]).split(b";", 1)[0], 16)
        if size == 0:
            return bytes(out)
        out += view[end + 2 : end + 2 + size]
        position = end + 2 + size + 2


class InMemoryS3:
    """Answers PutObject, GetObject (with If-None-Match) and DeleteObject for one client; counts requests."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.etags: dict[str, str] = {}
        self.requests: Counter[str] = Counter()
        self.bytes_put = 0
        self.versions = 0

    def attach(self, client: Any) -> Any:
        """Route every request of ``client`` here; returns the client."""
        client.meta.events.register_first("before-send.s3", self._send)
        return client

    def reset(self) -> None:
        """Forget every object and count (between repetitions of a benchmark)."""
        self.objects.clear()
        self.etags.clear()
        self.requests.clear()
        self.bytes_put = 0

    def _send(self, request: Any, **_: Any) -> AWSResponse:
        parts = urlsplit(request.url)
        path = unquote(parts.path.lstrip("/"))
        # Path-style URLs start with the bucket; virtual-hosted ones name it in the host.
        key = path.split("/", 1)[-1] if parts.netloc.startswith("s3.") else path
        if request.method == "PUT":
            self.requests["PUT"] += 1
            body = _body_bytes(request.body)
            if "aws-chunked" in _header(request, "Content-Encoding"):
                body = _dechunk(body)
            # Any tag that changes with every write will do; hashing the body would put the
            # sink's own work into the processor's figures.
            self.versions += 1
            etag = f'"{self.versions:032x}"'
            self.objects[key] = body
            self.etags[key] = etag
            self.bytes_put += len(body)
            return self._response(request, 200, {"ETag": etag})
        if request.method == "GET":
            self.requests["GET"] += 1
            if key not in self.objects:
                error = (
                    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code>"
                    b"<Message>The specified key does not exist.</Message></Error>"
                )
                return self._response(request, 404, {"Content-Type": "application/xml"}, error)
            if _header(request, "If-None-Match") == self.etags[key]:
                return self._response(request, 304, {"ETag": self.etags[key]})
            body = self.objects[key]
            return self._response(request, 200, {"ETag": self.etags[key], "Content-Length": str(len(body))}, body)
        if request.method == "DELETE":
            self.requests["DELETE"] += 1
            self.objects.pop(key, None)
            self.etags.pop(key, None)
            return self._response(request, 204, {})
        raise NotImplementedError(f"the in-memory S3 does not answer {request.method} {request.url}")

    @staticmethod
    def _response(request: Any, status: int, headers: dict[str, str], body: bytes = b"") -> AWSResponse:
        return AWSResponse(request.url, status, headers, _Raw(body))
