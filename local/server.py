"""The embedded AWS: moto's server on a loopback port chosen at start.

moto's server is not thread-safe (concurrent puts to one Kinesis shard lost records and
duplicated sequence numbers), so one lock serialises every request to it. The same
WSGI wrapper injects the faults that strike at AWS (``local/faults.py``) and checks every
call a function makes against its own role (``local/iam.py``). moto itself is patched where
it answers differently from AWS in ways ``terraform apply`` notices (``local/moto_patches.py``).
"""

from __future__ import annotations

import io
import json
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from werkzeug.serving import make_server

from local import iam, moto_patches
from local.faults import Faults


def _json_error(start_response: Callable, status: str, error_type: str, message: str) -> list[bytes]:
    body = json.dumps({"__type": error_type, "message": message}).encode()
    start_response(status, [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))])
    return [body]


def _cbor_text(text: str) -> bytes:
    data = text.encode()
    if len(data) < 24:
        return bytes([0x60 + len(data)]) + data
    if len(data) < 256:
        return bytes([0x78, len(data)]) + data
    return bytes([0x79]) + len(data).to_bytes(2, "big") + data


def _access_denied(start_response: Callable, service: str, method: str, message: str) -> list[bytes]:
    """AccessDenied in the shape the service's protocol gives it, so the SDK raises it as AWS's."""
    request_id = uuid.uuid4().hex
    protocol = iam.protocol(service)
    headers = [("x-amzn-RequestId", request_id)]
    if protocol == "rest-xml":
        status, body = (
            "403 Forbidden",
            (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                f"<Message>{escape(message)}</Message><RequestId>{request_id}</RequestId></Error>"
            ).encode(),
        )
        headers.append(("Content-Type", "application/xml"))
    elif protocol == "query":
        code = "AuthorizationError" if service == "sns" else "AccessDenied"
        status, body = (
            "403 Forbidden",
            (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            ).encode(),
        )
        headers.append(("Content-Type", "text/xml"))
    elif protocol == "rest-json":
        status, body = "403 Forbidden", json.dumps({"Type": "User", "message": message}).encode()
        headers += [("Content-Type", "application/json"), ("x-amzn-ErrorType", "AccessDeniedException")]
    elif protocol == "smithy-rpc-v2-cbor":
        status = "400 Bad Request"
        body = (
            b"\xa2"
            + _cbor_text("__type")
            + _cbor_text("AccessDeniedException")
            + _cbor_text("message")
            + _cbor_text(message)
        )
        headers += [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
    else:
        status = "400 Bad Request"
        error = "com.amazon.coral.service#AccessDeniedException" if service == "sqs" else "AccessDeniedException"
        body = json.dumps({"__type": error, "message": message}).encode()
        headers.append(("Content-Type", "application/x-amz-json-1.0"))
        if service == "sqs":  # SQS speaks JSON but names its errors as its query protocol did
            headers.append(("x-amzn-query-error", "AccessDenied;Sender"))
    if method == "HEAD":
        body = b""
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return [body]


def _s3_slow_down(start_response: Callable) -> list[bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
        "<Message>Please reduce your request rate.</Message>"
        f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>"
    ).encode()
    start_response("503 Slow Down", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


class FaultyLockedApp:
    """moto's WSGI app behind one lock, with injected faults."""

    def __init__(self, app: Callable, faults: Faults, enforcer: iam.Enforcer | None = None) -> None:
        self.app = app
        self.faults = faults
        self.iam = enforcer or iam.Enforcer()
        self.lock = threading.Lock()
        self.requests = 0
        # moto sends no notification for a delete in a versioned bucket (a delete marker);
        # the runtime reads these and sends the event S3 would (see LocalStack).
        self.deleted_objects: list[tuple[str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        verdict = self._authorize(environ, start_response)
        if isinstance(verdict, list):
            return verdict
        with self.lock:
            self.requests += 1
            service = iam.signing_name(environ.get("HTTP_AUTHORIZATION", ""))
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            method = environ.get("REQUEST_METHOD", "")
            object_write = service == "s3" and method == "PUT" and self._is_object_write(environ)
            if object_write and self.faults.fire("s3_put_error", "s3"):
                return _s3_slow_down(start_response)
            if service == "kinesis" and target.endswith(".GetRecords") and self.faults.fire("throttle", "get"):
                return _json_error(
                    start_response,
                    "400 Bad Request",
                    "ProvisionedThroughputExceededException",
                    "Rate exceeded for shard",
                )
            if service == "kinesis" and target.endswith(".PutRecords") and self.faults.enabled("throttle"):
                return self._put_records_with_failures(environ, start_response)
            if (
                service == "dynamodb"
                and target.split(".")[-1] in ("PutItem", "UpdateItem", "DeleteItem")
                and self.faults.fire("throttle", "dynamodb")
            ):
                return _json_error(
                    start_response,
                    "400 Bad Request",
                    "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "The level of configured provisioned throughput for the table was exceeded.",
                )
            if (
                service == "s3"
                and method == "DELETE"
                and self._is_object_write(environ)
                and "versionId" not in environ.get("QUERY_STRING", "")
            ):
                statuses: list[str] = []

                def record(status: str, headers: list, exc_info: Any = None) -> Callable:
                    statuses.append(status)
                    return start_response(status, headers, exc_info)

                body = list(self.app(environ, record))
                if statuses and statuses[0].startswith("204"):
                    # PATH_INFO is already percent-decoded, its bytes carried as latin-1 (PEP 3333).
                    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
                    bucket, _, key = path.lstrip("/").partition("/")
                    self.deleted_objects.append((bucket, key))
                return body
            if verdict:
                return self._hiding_missing_keys(environ, start_response, *verdict)
            return list(self.app(environ, start_response))

    def _authorize(
        self, environ: dict[str, Any], start_response: Callable
    ) -> list[bytes] | tuple[iam.Identity, iam.Call] | None:
        """For a call signed with a function's credentials: AccessDenied if its role may not
        make it, else the caller and call when it reads an object (a 404 may have to become 403).
        Other calls pass (None)."""
        query = environ.get("QUERY_STRING", "")
        authorization = environ.get("HTTP_AUTHORIZATION", "") or iam.presigned_authorization(query)
        identity = self.iam.identify(authorization)
        if identity is None:
            return None
        method = environ.get("REQUEST_METHOD", "")
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        headers["authorization"] = authorization
        body = b""
        service = iam.signing_name(authorization)
        if service != "s3" or (method == "POST" and "delete" in parse_qs(query, keep_blank_values=True)):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
        # PATH_INFO is already percent-decoded, its bytes carried as latin-1 (PEP 3333).
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        try:
            call = iam.describe(method, path, query, headers, body)
            denial = (
                self.iam.decide(identity, call) if call is not None else self.iam.refuse_unknown(identity, method, path)
            )
        except Exception as exc:  # a request it cannot read is refused, never a failed server
            denial = self.iam.refuse_unknown(
                identity,
                method,
                path,
                f"because the embedded AWS cannot read the request ({type(exc).__name__}: {exc})",
            )
            call = None
        if denial is not None:
            return _access_denied(start_response, call.service if call else service, method, denial.message(identity))
        assert call is not None  # a request it cannot describe is always refused above
        return (identity, call) if self.iam.reads_object(call) else None

    def _hiding_missing_keys(
        self, environ: dict[str, Any], start_response: Callable, identity: iam.Identity, call: iam.Call
    ) -> list[bytes]:
        status, headers, body = self._answer(environ)
        denial = self.iam.missing_key(identity, call) if status.startswith("404") else None
        if denial is not None:
            return _access_denied(start_response, "s3", environ.get("REQUEST_METHOD", ""), denial.message(identity))
        start_response(status, headers)
        return [body]

    def _answer(self, environ: dict[str, Any]) -> tuple[str, list, bytes]:
        """moto's whole answer to a request (status, headers, body), to look at before sending it."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        return captured["status"], captured["headers"], body

    @staticmethod
    def _is_object_write(environ: dict[str, Any]) -> bool:
        path = environ.get("PATH_INFO", "").strip("/")
        query = environ.get("QUERY_STRING", "")
        return "/" in path and not any(q in query for q in ("uploadId", "tagging", "acl", "retention", "legal-hold"))

    def _put_records_with_failures(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        """Fail a share of the records of a PutRecords call the way a hot shard does: those
        records are not written, and the response marks them with ProvisionedThroughputExceeded."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(length) or b"{}")
        records = request.get("Records", [])
        failing = [self.faults.fire("throttle", "put") for _ in records]
        kept = [r for r, fail in zip(records, failing, strict=True) if not fail]
        written: list[dict[str, Any]] = []
        if kept:
            body = json.dumps({**request, "Records": kept}).encode()
            environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
            status, headers, raw = self._answer(environ)
            if not status.startswith("200"):
                start_response(status, headers)
                return [raw]
            written = json.loads(raw)["Records"]
        results, position = [], iter(written)
        for fail in failing:
            results.append(
                {
                    "ErrorCode": "ProvisionedThroughputExceededException",
                    "ErrorMessage": "Rate exceeded for shard (injected)",
                }
                if fail
                else next(position)
            )
        out = json.dumps({"FailedRecordCount": sum(failing), "Records": results}).encode()
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(out)))])
        return [out]


class EmbeddedAws:
    """moto's server on 127.0.0.1 and a free port (or ``port``); ``stop`` frees the port.

    A restored snapshot (``local/snapshot.py``) asks for the port it was applied on: the URLs
    the state holds (queue URLs, in functions' environments too) name it."""

    def __init__(self, faults: Faults | None = None, port: int = 0) -> None:
        self.faults = faults or Faults()
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._app: FaultyLockedApp | None = None
        self.iam = iam.Enforcer()

    @property
    def app(self) -> FaultyLockedApp:
        """moto's application behind the lock and the faults, once started."""
        if self._app is None:
            raise RuntimeError("the embedded AWS has not started")
        return self._app

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> EmbeddedAws:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        moto_patches.apply()

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:  # one line per request is noise here
                pass

        self._app = FaultyLockedApp(DomainDispatcherApplication(create_backend_app), self.faults, self.iam)
        self._server = make_server("127.0.0.1", self.port, self._app, threaded=True, request_handler=QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-aws", daemon=True)
        self._thread.start()
        self.reset()
        return self

    def reset(self) -> None:
        """Forget every resource (moto keeps its state per process, across servers)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def stop(self) -> None:
        if self._server is not None:
            self.reset()
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
