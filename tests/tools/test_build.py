"""The zips are deterministic and laid out as Lambda expects."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tools import build

EM_AARCH64 = 183
EM_X86_64 = 62


def _elf_machine(data: bytes) -> int:
    assert data[:4] == b"\x7fELF"
    return int.from_bytes(data[18:20], "little")


def test_function_zip_is_byte_identical_across_builds(tmp_path):
    first = build.build_function("stream_processor", "arm64", False, tmp_path / "a.zip")
    second = build.build_function("stream_processor", "arm64", False, tmp_path / "b.zip")
    assert first == second
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def _checkout(where: Path) -> tuple[Path, Path]:
    """A copy of what the build reads, with its own venv: the interpreter path differs per checkout."""
    root = where / "tributary"
    for part in ("tools", "stack", "layers/common", "requirements", "functions"):
        shutil.copytree(build.ROOT / part, root / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    venv.EnvBuilder(with_pip=False).create(root / ".venv")
    python = root / ".venv" / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The copy's venv borrows this environment's packages (pip among them) instead of installing them.
    (Path(purelib) / "borrowed.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return root, python


def test_zips_are_byte_identical_across_checkouts(tmp_path):
    """Two checkouts in different directories, each with its own venv, build the same bytes."""
    zips = []
    for where in (tmp_path / "a", tmp_path / "elsewhere" / "b"):
        root, python = _checkout(where)
        for args in (["layer", "--arch", "arm64"], ["function", "stream_processor", "--arch", "arm64"]):
            subprocess.run([python, "-m", "tools.build", *args], cwd=root, check=True, capture_output=True)
        zips.append(root / "dist")
    first, second = zips
    names = sorted(p.relative_to(first).as_posix() for p in first.rglob("*.zip"))
    assert names == ["functions/stream_processor.zip", "layers/common.zip"]
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_records_list_only_what_the_layer_ships(tmp_path):
    """No console script is shipped, and no RECORD names a file the zip lacks (jmespath's jp.py was one)."""
    out = tmp_path / "layer.zip"
    build.build_layer("arm64", False, out)
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        records = [n for n in names if n.endswith(".dist-info/RECORD")]
        assert records
        for record in records:
            rows = csv.reader(archive.read(record).decode().splitlines())
            listed = {"python/" + row[0] for row in rows if row}
            assert listed <= names, (record, sorted(listed - names))
    assert not any(n.startswith("python/bin/") for n in names)


def test_file_times_do_not_reach_the_zip(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("x = 1\n")
    build.write_zip([("m.py", source)], tmp_path / "one.zip")
    os.utime(source, (1_000_000_000, 1_000_000_000))
    build.write_zip([("m.py", source)], tmp_path / "two.zip")
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()


def test_function_zip_layout(tmp_path):
    build.build_function("stream_processor", "arm64", False, tmp_path / "f.zip")
    with zipfile.ZipFile(tmp_path / "f.zip") as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert "stream_processor/handler.py" in names
    assert "stream_processor/function.json" not in names
    assert "stream_processor/README.md" not in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert {i.date_time for i in infos} == {build.FIXED_TIME}
    assert {(i.external_attr >> 16) & 0o777 for i in infos} <= {0o644, 0o755}


@pytest.mark.parametrize(("arch", "machine"), [("arm64", EM_AARCH64), ("x86_64", EM_X86_64)])
def test_layer_lock_installs_for_the_lambda_target(tmp_path, arch, machine):
    """The same hash-locked requirements give a layer of Lambda's platform, for either architecture."""
    out = tmp_path / "layer.zip"
    digest = build.build_layer(arch, False, out)
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        assert all(n.startswith("python/") for n in names)
        assert "python/tributary/kinesis.py" in names
        assert "python/boto3/__init__.py" in names
        assert "python/aws_xray_sdk/__init__.py" in names
        # The lake's zstd codec on python3.13 (3.14 has compression.zstd), compiled for the target.
        assert any(n.startswith("python/backports/zstd/_zstd.cpython-313-") and n.endswith(".so") for n in names)
        assert not any(n.startswith("python/bin/") for n in names)
        libraries = [n for n in names if n.endswith(".so")]
        assert libraries, "expected compiled packages (protobuf, wrapt)"
        for name in libraries:
            assert _elf_machine(archive.read(name)[:20]) == machine, name
        assert not any("cpython-311" in n for n in names)
    assert build.build_layer(arch, False, tmp_path / "again.zip") == digest


def test_write_zip_refuses_duplicate_names(tmp_path):
    source = tmp_path / "x.py"
    source.write_text("x = 1\n")
    with pytest.raises(build.BuildError, match="same archive name"):
        build.write_zip([("a.py", source), ("a.py", source)], tmp_path / "out.zip")


@pytest.mark.build
def test_second_make_build_does_no_work():
    root = Path(build.ROOT)
    subprocess.run(["make", "build", "build-host"], cwd=root, check=True, capture_output=True)
    result = subprocess.run(["make", "-q", "build", "build-host"], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, "make build would rebuild with nothing changed"


def test_the_host_layer_alone_compresses_the_lakes_zstd(tmp_path):
    """As Lambda loads the layer (``python -S``, only the layer's directory on the path), the
    zstd codec imports its compiled backport and round-trips."""
    out = tmp_path / "layer.zip"
    build.build_layer("host", True, out)
    with zipfile.ZipFile(out) as archive:
        archive.extractall(tmp_path / "opt")
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); from tributary import lake; "
        "data = b'{\"a\":1}\\n' * 100; packed = lake.ZSTD.compress(data); "
        "assert lake.decompress_object('k.ndjson.zst', packed) == data; print(lake._zstd().__name__)"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", script, str(tmp_path / "opt" / "python")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ("backports.zstd", "compression.zstd")
