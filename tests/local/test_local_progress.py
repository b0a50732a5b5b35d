"""make local's progress line (local/report.py)."""

from __future__ import annotations

from types import SimpleNamespace


def test_the_progress_line_shows_each_job_against_its_own_total():
    from collections import Counter

    from local.report import progress_line
    from local.workloads import IngestPath, Options

    class Lanes:
        def total(self):
            return {"records_done": 700, "records_delivered": 900}

    stack = SimpleNamespace(
        mappings={
            "stream_processor": SimpleNamespace(stats=Lanes()),
            "code_sync": SimpleNamespace(stats={"messages_deleted": 4, "messages_delivered": 6}),
        }
    )
    paths = [IngestPath("cli", "c", 600, 1, finished=True), IngestPath("http", "h", 400, 2)]
    counts = {
        "table": Counter(inserts=50, updates=30, deletes=20, reinserts=5),
        "code": Counter(uploads=3),
        "git": Counter(pushes=2),
    }
    line = progress_line(stack, paths, Options(table_changes=200), counts, elapsed=30.0)
    # 5 re-inserts: each is a planned delete's second write.
    assert line.startswith("records 600/1,000 · table changes 105/205 · code files 3 · pushes 2 · ")
    assert "code events 4/6" in line
    assert "stream 700/900" in line
    # About half the slowest planned job is done after 30 s: about 30 s are left.
    assert line.endswith("30s, ~29s left")
