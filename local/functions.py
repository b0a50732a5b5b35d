"""The local Lambda runtime: each function from its built zip, in worker processes of its own.

A function's zip is extracted the way Lambda lays it out (``task/`` for ``/var/task``,
the layer's ``python/`` for ``/opt/python``), using the host builds of the zips
(``dist/host/``) because compiled wheels for Lambda cannot be imported here. Workers
get the environment from the function's declaration; an invocation that outlives the
declared timeout is killed and counts as a function error, as does a worker that dies
or grows past the declared memory. Each worker has a ``/tmp`` of its own (``TMPDIR``),
kept while it is warm, as an execution environment's is; an invocation that left more in
it than the declared ephemeral storage, at any moment the worker sampled, fails as the
write would have failed in Lambda.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import shutil
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("worker.py")


@dataclass
class Invocation:
    """The outcome of one invoke: a payload, or a function error with Lambda's error shape."""

    ok: bool
    payload: Any = None
    error: dict[str, Any] | None = None
    duration_ms: float = 0.0
    max_rss_mb: float = 0.0

    @property
    def function_error(self) -> bool:
        return not self.ok


def extract(archive: Path, dest: Path) -> Path:
    """Unzip a built artifact (fresh directory, as a new execution environment gets)."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as z:
        z.extractall(dest)
    return dest


class _Worker:
    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, log: Any, tmp: Path | None = None) -> None:
        self.tmp = tmp
        read_fd, write_fd = os.pipe()
        env = {**env, "TRIBUTARY_RESULT_FD": str(write_fd)}
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=log,
            env=env,
            cwd=cwd,
            pass_fds=(write_fd,),
            text=True,
        )
        os.close(write_fd)
        self.results = os.fdopen(read_fd, "r")
        self.buffer = ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def call(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any] | None:
        """Send one invocation; the reply, or None when the worker died or ran out of time."""
        assert self.process.stdin is not None  # started with stdin=PIPE
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        deadline = time.monotonic() + timeout_s
        fd = self.results.fileno()
        while "\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return {"timed_out": True}
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            self.buffer += chunk.decode("utf-8")
        line, self.buffer = self.buffer.split("\n", 1)
        return json.loads(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.results):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


class LambdaFunction:
    """One deployed function: its sandbox, its environment, and a pool of warm workers."""

    def __init__(
        self,
        name: str,
        physical_name: str,
        handler: str,
        task_dir: Path,
        layer_dir: Path,
        environment: dict[str, str],
        memory_mb: int,
        timeout_s: int,
        region: str,
        log_path: Path,
        max_concurrency: int = 10,
        timeout_cap_s: float | None = None,
        ephemeral_storage_mb: int = 512,
    ) -> None:
        self.name = name
        self.physical_name = physical_name
        self.memory_mb = memory_mb
        self.ephemeral_storage_mb = ephemeral_storage_mb
        self.tmp_root = task_dir.parent / "tmp"
        self.timeout_s = min(timeout_s, timeout_cap_s) if timeout_cap_s else timeout_s
        self.arn = f"arn:aws:lambda:{region}:123456789012:function:{physical_name}"
        self.task_dir = task_dir
        self.command = [sys.executable, "-S", str(WORKER)]
        self.env = {
            **environment,
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONPATH": f"{task_dir}:{layer_dir / 'python'}",
            "PYTHONDONTWRITEBYTECODE": "1",
            "LAMBDA_TASK_ROOT": str(task_dir),
            "_HANDLER": handler,
            "AWS_LAMBDA_FUNCTION_NAME": physical_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{physical_name}",
            "TRIBUTARY_FUNCTION_ARN": self.arn,
        }
        self.log = open(log_path, "a", buffering=1)  # noqa: SIM115 (closed in stop)
        self.idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self.slots = threading.BoundedSemaphore(max_concurrency)
        self.lock = threading.Lock()
        self.workers: list[_Worker] = []
        self.stats = {
            "invocations": 0,
            "errors": 0,
            "timeouts": 0,
            "crashes": 0,
            "out_of_memory": 0,
            "storage_full": 0,
            "cold_starts": 0,
            "max_rss_mb": 0.0,
        }

    def _spawn(self) -> _Worker:
        with self.lock:
            self.stats["cold_starts"] += 1
            index = self.stats["cold_starts"]
        # The worker's index makes its injected faults reproducible for a given SEED.
        tmp = self.tmp_root / str(index)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        env = {**self.env, "TRIBUTARY_WORKER": f"{self.name}/{index}", "TMPDIR": str(tmp)}
        worker = _Worker(self.command, env, self.task_dir, self.log, tmp)
        with self.lock:
            self.workers.append(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        worker.stop()
        with self.lock:
            if worker in self.workers:
                self.workers.remove(worker)

    def invoke(self, event: dict[str, Any], trace_id: str = "") -> Invocation:
        """Invoke synchronously (RequestResponse), as an event source mapping does."""
        with self.slots:
            try:
                worker = self.idle.get_nowait()
            except queue.Empty:
                worker = self._spawn()
            request_id = str(uuid.uuid4())
            deadline_ms = int((time.time() + self.timeout_s) * 1000)
            reply = worker.call(
                {"id": request_id, "event": event, "deadline_ms": deadline_ms, "trace_id": trace_id}, self.timeout_s
            )
            with self.lock:
                self.stats["invocations"] += 1
            if reply is None or reply.get("timed_out"):
                kind = "timeouts" if reply else "crashes"
                self._retire(worker)
                with self.lock:
                    self.stats[kind] += 1
                    self.stats["errors"] += 1
                message = (
                    f"Task timed out after {self.timeout_s:.2f} seconds"
                    if reply
                    else "Runtime exited with error: signal: killed"
                )
                return Invocation(
                    False,
                    error={"errorType": "Sandbox.Timedout" if reply else "Runtime.ExitError", "errorMessage": message},
                )
            rss = float(reply.get("max_rss_mb", 0.0))
            with self.lock:
                self.stats["max_rss_mb"] = max(self.stats["max_rss_mb"], rss)
            if rss > self.memory_mb:
                return self._over_limit(
                    worker, "out_of_memory", "Runtime.OutOfMemory", f"used {rss:.0f} MB of {self.memory_mb} MB", rss
                )
            tmp_mb = float(reply.get("max_tmp_mb", 0.0))
            if tmp_mb > self.ephemeral_storage_mb:
                message = (
                    f"[Errno 28] No space left on device: /tmp held {tmp_mb:.0f} MB "
                    f"of the function's {self.ephemeral_storage_mb} MB of ephemeral storage"
                )
                return self._over_limit(worker, "storage_full", "OSError", message, rss)
            self.idle.put(worker)
            if not reply["ok"]:
                with self.lock:
                    self.stats["errors"] += 1
                return Invocation(
                    False, error=reply["error"], duration_ms=reply.get("duration_ms", 0.0), max_rss_mb=rss
                )
            return Invocation(
                True, payload=reply.get("payload"), duration_ms=reply.get("duration_ms", 0.0), max_rss_mb=rss
            )

    def _over_limit(self, worker: _Worker, kind: str, error_type: str, message: str, rss: float) -> Invocation:
        """An invocation that went past the memory or the ephemeral storage: its environment goes."""
        self._retire(worker)
        with self.lock:
            self.stats[kind] += 1
            self.stats["errors"] += 1
        return Invocation(False, error={"errorType": error_type, "errorMessage": message}, max_rss_mb=rss)

    def stop(self) -> None:
        with self.lock:
            workers = list(self.workers)
            self.workers.clear()
        for worker in workers:
            worker.stop()
        self.log.close()
