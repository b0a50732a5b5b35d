"""`make test`'s suite: the tests that run the applied stack beside all the others, as two pytest runs.

The stack's tests (marked ``stack``: they use ``applied_stacks``) spend most of their time waiting
on Terraform's applies, batching windows and the embedded AWS; the others keep the CPU busy. Run
side by side they take about as long as the longer of the two. Each run's output goes to
``dist/test/<run>.log`` and is printed whole when it ends, the stack's last; the exit status is
the first non-zero of the two. ``.venv/bin/python -m pytest`` runs the same tests one after the
other.

    python -m tests.parallel [pytest arguments for both runs]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "dist" / "test"
RUNS = {"stack": ["-m", "stack"], "parts": ["-m", "not stack"]}


def main(argv: list[str] | None = None) -> int:
    extra = list(sys.argv[1:] if argv is None else argv)
    LOGS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    running: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    # The stack's run first: its collection starts the applies it waits for.
    for name, selection in RUNS.items():
        log = LOGS / f"{name}.log"
        with log.open("wb") as out:
            command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *selection, *extra]
            running[name] = (subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT), log)
        print(f"tests: {name} running ({' '.join(selection)}), output in {log.relative_to(ROOT)}", flush=True)
    codes: dict[str, int] = {}
    try:
        for name in ("parts", "stack"):
            process, log = running[name]
            codes[name] = process.wait()
            print(f"\n===== {name}: exit {codes[name]} after {time.monotonic() - started:.0f} s =====", flush=True)
            sys.stdout.write(log.read_text(errors="replace"))
            sys.stdout.flush()
    finally:
        for process, _ in running.values():
            if process.poll() is None:
                process.terminate()
                process.wait()
    # pytest's 5 (no test collected) is a failure here too: a selection that finds nothing is wrong.
    return next((code for code in (codes["parts"], codes["stack"]) if code != 0), 0)


if __name__ == "__main__":
    sys.exit(main())
