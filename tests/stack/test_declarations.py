from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stack import declarations


def test_every_function_declaration_loads():
    specs = declarations.load_all()
    assert "stream_processor" in specs
    spec = specs["stream_processor"]
    assert spec.handler == "stream_processor.handler.handle"
    assert spec.trigger.type == "kinesis"
    assert spec.trigger.settings["report_batch_item_failures"] is True
    assert spec.ephemeral_storage_mb == 512  # Lambda's default when the declaration says nothing


def test_the_compactors_tmp_holds_a_full_input_batch_its_parquet_file_and_room_to_spill():
    spec = declarations.load_all()["lake_compactor"]
    assert spec.ephemeral_storage_mb * 1024 * 1024 >= 3 * int(spec.environment["MAX_INPUT_BYTES"])


def _copy(tmp_path: Path, **changes) -> Path:
    src = declarations.FUNCTIONS_DIR / "stream_processor"
    dest = tmp_path / "stream_processor"
    shutil.copytree(src, dest)
    raw = json.loads((dest / "function.json").read_text())
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    (dest / "function.json").write_text(json.dumps(raw))
    return dest


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"memory_mb": 64}, "memory_mb must be between 128 and 10240"),
        ({"timeout_s": 901}, "timeout_s must be between 1 and 900"),
        ({"ephemeral_storage_mb": 256}, "ephemeral_storage_mb must be between 512 and 10240"),
        ({"ephemeral_storage_mb": 10241}, "ephemeral_storage_mb must be between 512 and 10240"),
        ({"handler": "other.handler.handle"}, "handler must be 'stream_processor."),
        ({"handler": "stream_processor.missing.handle"}, "missing.py does not exist"),
        ({"runtime": "python3.9"}, "runtime must be python3.13"),
        ({"architectures": ["sparc"]}, "architectures"),
        ({"surprise": 1}, "unknown key"),
        ({"environment": {"AWS_REGION": "x"}}, "not a name Lambda allows"),
        ({"environment": {"LAKE_BUCKET": "x"}}, "either static or bound"),
        ({"trigger": {"type": "kinesis", "source": "s", "starting_position": "NOW"}}, "starting_position"),
        ({"description": None}, "description"),
    ],
)
def test_bad_declarations_are_refused_with_the_reason(tmp_path, changes, message):
    directory = _copy(tmp_path, **changes)
    with pytest.raises(declarations.DeclarationError, match=message):
        declarations.load(directory)
