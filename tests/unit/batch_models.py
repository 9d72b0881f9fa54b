"""What the unit tests of batch models share: the test config with a batch model beside
taxi-fare, and model packages registered in moto's registry."""

from __future__ import annotations

import time
import tomllib
from typing import Any

from modelfresh.aws.sagemaker import ModelRegistry
from modelfresh.core.config import parse_config
from modelfresh.core.schema import ControllerConfig

from tests.conftest import FIXTURES


def with_scorer() -> ControllerConfig:
    """tests/fixtures/models.toml with a batch model, scorer (no endpoints, no smoke test)."""
    raw = tomllib.loads((FIXTURES / "models.toml").read_text())
    raw["models"]["scorer"] = {
        "kind": "batch",
        "package_group": "scorer",
        "pipeline": "scorer-retrain",
        "own_pipeline": True,
        "gate": {"metric": "auc", "direction": "maximize", "threshold": 0.7},
        "training": {"problem_type": "binary_classification"},
        "batch": {"input_uri": "s3://d/in", "output_uri": "s3://d/out", "schedule": "rate(1 day)"},
    }
    return parse_config(raw)


def register(registry: ModelRegistry, group: str, status: str, baseline: bool = False) -> str:
    """A package in moto's registry (with drift baselines when asked), created after the last."""
    extra: dict[str, Any] = {}
    if baseline:
        extra["DriftCheckBaselines"] = {
            "ModelDataQuality": {
                kind: {"ContentType": "application/json", "S3Uri": f"s3://art/b/{kind}.json"}
                for kind in ("Statistics", "Constraints")
            }
        }
    arn = registry._sm.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification={
            "Containers": [{"Image": "xgboost", "ModelDataUrl": "s3://art/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus=status,  # type: ignore[arg-type]
        **extra,
    )["ModelPackageArn"]
    time.sleep(0.01)  # distinct creation times
    return str(arn)
