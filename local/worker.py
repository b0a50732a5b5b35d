"""One Lambda execution environment: runs a function's handler for the local runtime.

Started as ``python -S worker.py`` with ``PYTHONPATH=<task>:<opt>/python``, so it sees the
function's zip and the layer, as in Lambda, and nothing from the developer's tools. It
reads one invocation per line on stdin and writes one result per line to the file
descriptor named by ``TRIBUTARY_RESULT_FD``; the function's own stdout and stderr go to
its log file. Standard library only: it must import nothing the function does not.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import resource
import sys
import time
import traceback


class Context:
    """The parts of Lambda's context object functions use."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.invoked_function_arn = os.environ["TRIBUTARY_FUNCTION_ARN"]
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = os.environ.get("TRIBUTARY_LOG_STREAM", "local")
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _install_faults() -> None:
    """Crash or hang in the middle of an invocation, at an AWS call, when asked to."""
    rates = {}
    for part in filter(None, os.environ.get("TRIBUTARY_FAULTS", "").split(",")):
        name, _, value = part.partition(":")
        rates[name] = float(value)
    crash, hang = rates.get("crash", 0.0), rates.get("timeout", 0.0)
    if not crash and not hang:
        return
    rng = random.Random(f"{os.environ.get('TRIBUTARY_SEED', '0')}/{os.environ.get('TRIBUTARY_WORKER', '')}")
    import botocore.client

    original = botocore.client.BaseClient._make_api_call

    def faulty(self, operation_name, api_params):
        if rng.random() < crash:
            sys.stdout.flush()
            os._exit(137)
        if rng.random() < hang:
            time.sleep(10**6)
        return original(self, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = faulty


def main() -> None:
    result_fd = int(os.environ["TRIBUTARY_RESULT_FD"])
    results = os.fdopen(result_fd, "w", buffering=1)
    module_name, function_name = os.environ["_HANDLER"].rsplit(".", 1)
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
        _install_faults()
    except Exception as exc:  # an init error fails every invocation, as in Lambda
        handler = None
        init_error = {"errorType": f"Runtime.ImportModuleError: {type(exc).__name__}", "errorMessage": str(exc),
                      "stackTrace": traceback.format_exc().splitlines()}
    for line in sys.stdin:
        request = json.loads(line)
        os.environ["_X_AMZN_TRACE_ID"] = request.get("trace_id", "")
        started = time.monotonic()
        if handler is None:
            reply = {"ok": False, "error": init_error}
        else:
            try:
                payload = handler(request["event"], Context(request["id"], request["deadline_ms"]))
                reply = {"ok": True, "payload": payload}
            except Exception as exc:
                reply = {"ok": False, "error": {"errorType": type(exc).__name__, "errorMessage": str(exc),
                                                "stackTrace": traceback.format_exc().splitlines()}}
        sys.stdout.flush()
        sys.stderr.flush()
        reply["duration_ms"] = round((time.monotonic() - started) * 1000, 3)
        reply["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        try:
            results.write(json.dumps(reply) + "\n")
        except (TypeError, ValueError) as exc:
            results.write(json.dumps({"ok": False, "error": {"errorType": "Runtime.MarshalError",
                                                             "errorMessage": str(exc)}}) + "\n")


if __name__ == "__main__":
    main()
