"""One Lambda execution environment: runs a function's handler for the local runtime.

Started as ``python -S worker.py`` with ``PYTHONPATH=<task>:<opt>/python``, so it sees the
function's zip and the layer, as in Lambda, and nothing from the developer's tools. It
reads one invocation per line on stdin and writes one result per line to the file
descriptor named by ``TRIBUTARY_RESULT_FD``; the function's own stdout and stderr go to
its log file. Standard library only: it must import nothing the function does not.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import random
import resource
import sys
import threading
import time
import traceback
from typing import Any


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


class _Faults:
    """Per invocation, maybe die or hang: at one of its AWS calls, or after its last one."""

    def __init__(self) -> None:
        rates = {}
        for part in filter(None, os.environ.get("TRIBUTARY_FAULTS", "").split(",")):
            name, _, value = part.partition(":")
            rates[name] = float(value)
        self.crash, self.hang = rates.get("crash", 0.0), rates.get("timeout", 0.0)
        seed = f"{os.environ.get('TRIBUTARY_SEED', '0')}/{os.environ.get('TRIBUTARY_WORKER', '')}"
        self.rng = random.Random(seed)
        self.action: str | None = None
        self.at_call = 0
        self.calls = 0

    def start_invocation(self) -> None:
        draw = self.rng.random()
        self.action = "crash" if draw < self.crash else "hang" if draw < self.crash + self.hang else None
        self.at_call = self.rng.randrange(4)
        self.calls = 0

    def strike(self) -> None:
        if self.action == "crash":
            sys.stdout.flush()
            os._exit(137)
        if self.action == "hang":
            time.sleep(10**6)

    def install(self) -> None:
        if not (self.crash or self.hang):
            return
        import botocore.client

        original = botocore.client.BaseClient._make_api_call
        faults = self

        def faulty(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            faults.calls += 1
            if faults.calls > faults.at_call:
                faults.strike()
            return original(client, operation_name, api_params)

        botocore.client.BaseClient._make_api_call = faulty


class _TmpWatch:
    """The most this environment's /tmp (``TMPDIR``) held during an invocation, in bytes.

    Lambda refuses a write past the function's ephemeral storage; here nothing can, so a
    thread sizes the directory every ``interval`` seconds and the runtime fails, after the
    fact, an invocation that went past it. A file written and removed between two samples
    is missed, so the figure is a floor.
    """

    def __init__(self, root: str | None, interval: float = 0.05) -> None:
        self.root, self.interval = root, interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.peak = self.size()
        if self.root is None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tmp-watch", daemon=True)
        self._thread.start()

    def stop(self) -> int:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self.peak = max(self.peak, self.size())
        return self.peak

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.size())

    def size(self) -> int:
        total = 0
        for top, _, files in os.walk(self.root) if self.root else ():
            for name in files:
                with contextlib.suppress(OSError):  # removed while it was being counted
                    total += os.lstat(os.path.join(top, name)).st_size
        return total


def _peak_rss_mb() -> float:
    """Peak resident memory of this process since exec (VmHWM; ru_maxrss would include the
    parent's memory from before the exec on Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    result_fd = int(os.environ["TRIBUTARY_RESULT_FD"])
    results = os.fdopen(result_fd, "w", buffering=1)
    module_name, function_name = os.environ["_HANDLER"].rsplit(".", 1)
    faults = _Faults()
    tmp = _TmpWatch(os.environ.get("TMPDIR"))
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
        faults.install()
    except Exception as exc:  # an init error fails every invocation, as in Lambda
        handler = None
        init_error = {
            "errorType": f"Runtime.ImportModuleError: {type(exc).__name__}",
            "errorMessage": str(exc),
            "stackTrace": traceback.format_exc().splitlines(),
        }
    for line in sys.stdin:
        request = json.loads(line)
        os.environ["_X_AMZN_TRACE_ID"] = request.get("trace_id", "")
        faults.start_invocation()
        tmp.start()
        started = time.monotonic()
        if handler is None:
            reply = {"ok": False, "error": init_error}
        else:
            try:
                payload = handler(request["event"], Context(request["id"], request["deadline_ms"]))
                reply = {"ok": True, "payload": payload}
            except Exception as exc:
                reply = {
                    "ok": False,
                    "error": {
                        "errorType": type(exc).__name__,
                        "errorMessage": str(exc),
                        "stackTrace": traceback.format_exc().splitlines(),
                    },
                }
        faults.strike()  # the work is done, the answer is lost: the nastiest moment to fail
        sys.stdout.flush()
        sys.stderr.flush()
        reply["duration_ms"] = round((time.monotonic() - started) * 1000, 3)
        reply["max_rss_mb"] = _peak_rss_mb()
        reply["max_tmp_mb"] = round(tmp.stop() / 1024 / 1024, 3)
        try:
            results.write(json.dumps(reply) + "\n")
        except (TypeError, ValueError) as exc:
            results.write(
                json.dumps({"ok": False, "error": {"errorType": "Runtime.MarshalError", "errorMessage": str(exc)}})
                + "\n"
            )


if __name__ == "__main__":
    main()
