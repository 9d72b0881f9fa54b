"""A batch candidate's promotion when a person approves it first: the plan (the approver's
details, the sample of the newest input the candidate scores, the job's names) and the
sample as the page shows it, against moto's S3."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from modelfresh.aws.drift import DriftObjects
from modelfresh.core.records import Champion, Package
from modelfresh.core.schema import ModelConfig
from modelfresh.drift.plan import Window
from modelfresh.promote.batch_promotion import PromotionSettings, plan_promotion, sample_details

from tests.conftest import moto_s3
from tests.unit.batch_models import with_scorer

SETTINGS = PromotionSettings("arn:aws:iam::1:role/model", "art", "data", heartbeat_minutes=10)
PACKAGE = Package("arn:aws:sagemaker:us-east-1:1:model-package/scorer/2", "scorer", 2, "Approved")
NOW = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)


@pytest.fixture
def objects(offline_aws: None) -> Iterator[DriftObjects]:
    with moto_s3("data", "art") as s3:
        yield DriftObjects(s3)


def scorer(sample_rows: int = 3) -> ModelConfig:
    model = with_scorer().model("scorer")
    assert model.batch is not None
    batch = replace(
        model.batch, approval_email=True, sample_rows=sample_rows, input_uri="s3://data/in"
    )
    return replace(model, batch=batch)


def plan(objects: DriftObjects, model: ModelConfig | None = None) -> dict:  # type: ignore[type-arg]
    return dict(
        plan_promotion(
            model or scorer(), PACKAGE, Champion("arn:.../scorer/1", 1), None,
            run="scorer-deploy-v2-abc", started="t", now=NOW, settings=SETTINGS, objects=objects,
        )
    )  # fmt: skip


def test_the_sample_is_the_first_rows_of_the_newest_input_of_the_last_week(
    objects: DriftObjects,
) -> None:
    objects.write("s3://data/in/2026/11/20/05/old.csv", "9,9\n", "text/csv")  # over a week old
    objects.write("s3://data/in/2026/12/07/05/a.csv", "1,2\n3,4\n", "text/csv")
    objects.write("s3://data/in/2026/12/08/08/b.csv", "5,6\n\n7,8\n9,10\n11,12\n", "text/csv")

    planned = plan(objects)

    assert planned["mode"] == "sample"
    folder = "s3://art/modelfresh/batch/scorer/approvals/scorer-deploy-v2-abc"
    assert planned["sample"] == {
        "input": f"{folder}/sample.csv",
        "output": f"{folder}/scored/sample.csv.out",
        "source": "s3://data/in/2026/12/08/08/b.csv",
    }
    assert list(objects.lines("art", f"{folder[9:]}/sample.csv")) == [b"5,6", b"7,8", b"9,10"]
    assert planned["transform"]["ModelName"] == planned["sagemakerModel"]["ModelName"]
    assert planned["transform"]["TransformOutput"]["S3OutputPath"] == f"{folder}/scored/"
    assert planned["approval"] == {"slaSeconds": 24 * 3600, "heartbeatSeconds": 1800}
    assert planned["details"]["kind"] == "batch"
    assert planned["package"]["alreadyServing"] is False


def test_without_input_the_person_is_asked_without_a_sample(objects: DriftObjects) -> None:
    planned = plan(objects)
    assert planned["mode"] == "no-sample" and "transform" not in planned
    assert planned["details"]["sample"] == {
        "summary": "no input under s3://data/in/ in the last week"
    }


def test_the_page_gets_each_row_with_its_score(objects: DriftObjects) -> None:
    objects.write("s3://data/in/2026/12/08/08/b.csv", "5,6\n7,8\n", "text/csv")
    planned = plan(objects)
    objects.write(planned["sample"]["output"], "0.25\n0.75\n", "text/csv")

    details = sample_details(planned, scorer(), objects)

    assert details["sample"] == {
        "summary": "v2 scored 2 of 2 rows of s3://data/in/2026/12/08/08/b.csv",
        "features": [],
        "rows": [["5", "6"], ["7", "8"]],
        "scores": ["0.25", "0.75"],
        "scored": True,
    }
    assert details["kind"] == "batch"  # the plan's details, with the sample added


def test_with_record_ids_the_page_shows_each_id_and_its_score(objects: DriftObjects) -> None:
    model = scorer()
    assert model.batch is not None
    model = replace(model, batch=replace(model.batch, record_ids=True))
    objects.write("s3://data/in/2026/12/08/08/b.csv", "c1,5,6\nc2,7,8\n", "text/csv")
    planned = plan(objects, model)
    assert planned["transform"]["DataProcessing"]["OutputFilter"] == "$[0,-1]"
    objects.write(planned["sample"]["output"], "c1,0.25\nc2,0.75\n", "text/csv")

    sample = sample_details(planned, model, objects)["sample"]

    assert sample["features"] == ["record id"]
    assert (sample["rows"][0], sample["scores"]) == (["c1", "5", "6"], ["0.25", "0.75"])


def test_a_batch_quality_window_lists_complete_runs_only_and_joins_by_record_id(
    objects: DriftObjects,
) -> None:
    from modelfresh.quality.dataset import DataLocations, write_batch_dataset
    from modelfresh.quality.measure import join_window

    model = scorer()
    assert model.batch is not None
    model = replace(
        model, batch=replace(model.batch, record_ids=True, output_uri="s3://art/scored")
    )
    window = Window(datetime(2026, 12, 7, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC))
    # A complete run (its marker) and one that failed half way (none), both in the window
    complete = "scored/20261207T0000/"
    objects.write(f"s3://art/{complete}modelfresh-run.json", "{}", "application/json")
    objects.write(f"s3://art/{complete}in/a.csv.out", "c1,0.9\nc2,0.2\nc3,0.7\nnoid\n", "text/csv")
    objects.write("s3://art/scored/20261206T0000/in/b.csv.out", "c9,0.5\n", "text/csv")
    labels = "\n".join(
        f'{{"groundTruthData": {{"data": "{y}", "encoding": "CSV"}}, '
        f'"eventMetadata": {{"eventId": "{i}"}}}}'
        for i, y in (("c1", 1), ("c2", 0), ("c4", 1))
    )
    objects.write("s3://data/truth/scorer/2026/12/07/12/l.jsonl", labels, "application/json")
    locations = DataLocations("s3://art/capture", "s3://data/truth", "s3://art/q", "data")

    dataset = write_batch_dataset(
        model, "slot", window, now=NOW, locations=locations, objects=objects,
        artifacts_bucket="art",
    )  # fmt: skip
    joined = join_window(objects, dataset.uri, "binary_classification")

    assert (dataset.capture_objects, dataset.ground_truth_objects) == (1, 1)
    assert (joined.labels, joined.predictions) == ([1.0, 0.0], [0.9, 0.2])
    assert (joined.requests, joined.unlabelled, joined.unmatched_labels) == (3, 1, 1)
    assert dict(joined.malformed) == {
        "batch output: a line with no record id before its score (batch.record_ids)": 1
    }
