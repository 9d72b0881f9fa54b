"""The local pipeline runner keeps a step's files inside its scratch /opt/ml tree: an S3 key
or a container path from a definition can never make it write elsewhere on this machine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.training import StepFailed, _download, _local
from tests.conftest import moto_s3

BUCKET = "modelfresh-test-inputs"


@pytest.fixture
def s3(offline_aws: None) -> Iterator[Any]:
    with moto_s3(BUCKET) as client:
        yield client


def test_objects_under_a_prefix_land_under_the_input_directory(s3: Any, tmp_path: Path) -> None:
    s3.put_object(Bucket=BUCKET, Key="in/a.csv", Body=b"1")
    s3.put_object(Bucket=BUCKET, Key="in/deep/b.csv", Body=b"2")

    _download(s3, f"s3://{BUCKET}/in", tmp_path / "input")

    assert (tmp_path / "input" / "a.csv").read_bytes() == b"1"
    assert (tmp_path / "input" / "deep" / "b.csv").read_bytes() == b"2"


def test_a_key_that_climbs_out_of_the_input_directory_fails_the_step(
    s3: Any, tmp_path: Path
) -> None:
    s3.put_object(Bucket=BUCKET, Key="in/ok.csv", Body=b"1")
    s3.put_object(Bucket=BUCKET, Key="in/../../escaped.csv", Body=b"gotcha")

    with pytest.raises(StepFailed, match="would land outside"):
        _download(s3, f"s3://{BUCKET}/in", tmp_path / "scratch" / "input")

    assert not list(tmp_path.rglob("escaped.csv"))


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "/opt/mlx/evil", "relative/path", "/opt/ml/../../../../etc/passwd"]
)
def test_a_container_path_outside_opt_ml_fails_the_step(tmp_path: Path, path: str) -> None:
    with pytest.raises(StepFailed, match="outside the container's /opt/ml"):
        _local(tmp_path, path)


def test_a_container_path_under_opt_ml_maps_into_the_scratch_tree(tmp_path: Path) -> None:
    assert _local(tmp_path, "/opt/ml/processing/input") == tmp_path / "opt/ml/processing/input"
