"""The records every workflow shares: a model package as the registry describes it (and the
metadata keys a retrain writes on it), an endpoint as it stands, and the champion the
controller recorded as serving in production."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class Package:
    """What the registry says about a model package."""

    arn: str
    group: str
    version: int
    status: str
    report_uri: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    approval_description: str = ""
    baseline_statistics: str | None = None
    baseline_constraints: str | None = None
    model_data_url: str | None = None  # its (first) container's model.tar.gz


@dataclass(frozen=True)
class Champion:
    """The package serving in production, as the controller last recorded it."""

    package_arn: str
    version: int
    metrics: Mapping[str, float] = field(default_factory=dict)
    since: str = field(default="", compare=False)  # when it was recorded (ISO), if known


@dataclass(frozen=True)
class Endpoint:
    """An endpoint as it stands before the deploy."""

    name: str
    exists: bool
    config: str | None = None
    instance_type: str | None = None
    package_arn: str | None = None  # the model package its model was created from, if any
    status: str | None = None  # EndpointStatus: InService, Updating, Failed, ...


class PackageMetadata(StrEnum):
    """The keys a retrain writes in its candidate's CustomerMetadataProperties (why it exists),
    which the approval email reads back."""

    RUN = "modelfresh:run"
    TRIGGER = "modelfresh:trigger"
    SOURCE = "modelfresh:source"
    REASON = "modelfresh:reason"
    WINDOW = "modelfresh:window"
    COALESCED = "modelfresh:coalesced"  # the changes a follow-up run stands for
    DRIFT = "modelfresh:drift"  # what the drift check found, when one raised the alarm
    DRIFT_REPORT = "modelfresh:drift-report"
    QUALITY = "modelfresh:quality"  # what the quality check measured, when one raised the alarm
    QUALITY_REPORT = "modelfresh:quality-report"


class ServingEndpoints(Protocol):
    """Reads endpoints as they stand (see aws/hosting.py)."""

    def describe(self, name: str, variant: str) -> Endpoint: ...


class Packages(Protocol):
    """Reads model packages (see aws/sagemaker.py's ModelRegistry)."""

    def describe(self, package_arn: str) -> Package: ...


class Champions(Protocol):
    """The champion recorded for each model (see aws/deploys.py)."""

    def champion(self, model: str) -> Champion | None: ...
