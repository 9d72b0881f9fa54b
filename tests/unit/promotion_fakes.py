"""In-memory stand-ins for the promoter's collaborators (modelfresh.promote.promoter's Protocols), with
the rules of the adapters they replace: a deploy slot is taken by a conditional write
(aws/deploys.py), execution names are single-use (aws/executions.py), and a package's status
changes only when set (aws/sagemaker.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from modelfresh.core.errors import DeployInProgress
from modelfresh.core.records import Champion, Endpoint, Package
from modelfresh.core.schema import ModelConfig


@dataclass
class SlotRecord:
    run: str | None = None
    expires_at: int = 0
    champion: Champion | None = None
    baseline: tuple[str, str] | None = None
    crowned_by: str | None = None


@dataclass
class FakeSlots:
    """DeploySlots: the model-state table's promotion attributes."""

    models: dict[str, SlotRecord] = field(default_factory=dict)

    def _of(self, model: str) -> SlotRecord:
        return self.models.setdefault(model, SlotRecord())

    def claim(self, model: str, run: str, now: int, expires_at: int) -> None:
        record = self._of(model)
        if record.run not in (None, run) and record.expires_at >= now:
            raise DeployInProgress(f"{model} is being promoted by {record.run}")
        record.run, record.expires_at = run, expires_at

    def release(self, model: str, run: str) -> None:
        record = self._of(model)
        if record.run == run:
            record.run, record.expires_at = None, 0

    def slot(self, model: str) -> tuple[str, int] | None:
        record = self._of(model)
        return None if record.run is None else (record.run, record.expires_at)

    def champion(self, model: str) -> Champion | None:
        return self._of(model).champion

    def baseline(self, model: str) -> tuple[str, str] | None:
        return self._of(model).baseline

    def crown(
        self,
        model: str,
        champion: Champion,
        baseline: tuple[str | None, str | None],
        run: str,
        at: str,
    ) -> None:
        record = self._of(model)
        record.champion, record.crowned_by = replace(champion, since=at), run
        statistics, constraints = baseline
        record.baseline = (statistics, constraints) if statistics and constraints else None


@dataclass
class FakeEndpoints:
    """Endpoints: what each endpoint serves, and why its last update failed."""

    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    failure_reasons: dict[str, str] = field(default_factory=dict)

    def describe(self, name: str, variant: str) -> Endpoint:
        return self.endpoints.get(name, Endpoint(name=name, exists=False))

    def failure_reason(self, name: str) -> str:
        return self.failure_reasons.get(name, "")

    def serve(self, name: str, package_arn: str, status: str = "InService") -> None:
        self.endpoints[name] = Endpoint(
            name, exists=True, config=f"{name}-config", package_arn=package_arn, status=status
        )


@dataclass
class FakeRegistry:
    """Registry: model packages by ARN."""

    packages: dict[str, Package] = field(default_factory=dict)
    updates: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, arn: str, status: str = "Approved", **extra: Any) -> Package:
        version = int(arn.rsplit("/", 1)[-1])
        package = Package(arn, arn.split("/")[-2], version, status, **extra)
        self.packages[arn] = package
        return package

    def describe(self, package_arn: str) -> Package:
        return self.packages[package_arn]

    def set_status(self, package_arn: str, status: str, description: str) -> None:
        self.updates.append((package_arn, status, description))
        self.packages[package_arn] = replace(
            self.packages[package_arn], status=status, approval_description=description
        )

    def status(self, package_arn: str) -> str:
        return self.packages[package_arn].status

    def newest_approved(self, group: str) -> str | None:
        """The highest version stands for the newest: versions grow with creation time."""
        approved = [
            p for p in self.packages.values() if p.group == group and p.status == "Approved"
        ]
        return max(approved, key=lambda p: p.version).arn if approved else None


@dataclass
class FakeDeployRuns:
    """DeployRuns: execution names are single-use; `running` lists those not ended."""

    started: dict[str, str] = field(default_factory=dict)  # name -> payload
    ended: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # name -> status, when

    def end(self, run: str, status: str, at: datetime) -> None:
        self.ended[run] = (status, at)

    def status(self, run: str) -> tuple[str, datetime | None] | None:
        if run not in self.started:
            return None
        return self.ended.get(run) or ("RUNNING", None)

    def start_named(self, run: str, payload: str) -> bool:
        if run in self.started:
            return False
        self.started[run] = payload
        return True

    def running(self, prefix: str) -> list[str]:
        return [n for n in self.started if n.startswith(prefix) and n not in self.ended]


@dataclass
class FakeReports:
    reports: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def read_json(self, uri: str) -> Mapping[str, Any]:
        return self.reports[uri]


@dataclass
class FakeScaling:
    ensured: list[str] = field(default_factory=list)

    def ensure_auto_scaling(self, model: ModelConfig) -> None:
        self.ensured.append(model.name)
