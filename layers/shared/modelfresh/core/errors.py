"""Every error the controller raises or sends on purpose. A class name here *is* its Step
Functions error name: a Lambda task that raises one fails with that name, and the state
machines name the StateMachineError ones in Retry and Catch (tests/asl checks both ways)."""

from __future__ import annotations


class ModelfreshError(Exception):
    """Base class for every error this controller raises on purpose."""


class ConfigError(ModelfreshError):
    """The model configuration file is missing or invalid; `problems` lists every error."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{listing}")


class DataOutOfReach(ModelfreshError):
    """A model's config puts its data in a bucket the deployment's roles cannot use (the
    stack's ArtifactsBucket / TrainingDataBucket parameters say which ones they can)."""


class SettingsError(ModelfreshError):
    """The function's environment is incomplete or malformed (a deployment bug)."""


class MalformedEvent(ModelfreshError):
    """An incoming event does not have the shape AWS documents for its type."""


class UnknownModel(ModelfreshError):
    """A model name that the configuration does not declare."""


class CandidateNotFound(ModelfreshError):
    """The pipeline execution registered no model package we can identify as its candidate."""


class EvaluationReportInvalid(ModelfreshError):
    """The candidate's evaluation report is missing, unreadable or lacks the gate metric."""


class PipelineParameterInvalid(ModelfreshError):
    """A retrain's pipeline parameter cannot be passed as it is (over SageMaker's limit)."""


class StateMachineError(ModelfreshError):
    """An error a state machine handles by its name, in a Retry or a Catch."""


class DeployInProgress(StateMachineError):
    """Another deploy run is promoting this model; this one waits its turn (Retry)."""


class ApprovalRejected(StateMachineError):
    """The approver rejected the candidate (the Step Functions error of a rejection)."""


class ApprovalExpired(StateMachineError):
    """No decision within the approval SLA (the Step Functions error the sweep sends)."""


class LedgerContention(ModelfreshError):
    """The model's state kept changing under us; the trigger is retried by Lambda."""


class NoDriftCheck(ModelfreshError):
    """The model has no [drift_check] in the configuration."""


class NoQualityCheck(ModelfreshError):
    """The model has no [quality] check in the configuration."""


class DriftCheckIncomplete(ModelfreshError):
    """A drift check could not read all of its window (a batch failed); nothing published."""


class BaselineInvalid(ModelfreshError):
    """A model's drift baseline (statistics.json, constraints.json) is missing or broken."""


# Errors sent with SendTaskFailure when a pipeline ends badly (and set by the retrain machine
# when it reads a pipeline's end itself). Not raised in Python, but Step Functions error names
# all the same, so they live with the others.
PIPELINE_FAILED = "PipelineExecutionFailed"
PIPELINE_STOPPED = "PipelineExecutionStopped"
# What the batch machine records when a transform job it followed after a lost answer (not
# through .sync, which fails the task itself) ended Failed or Stopped.
TRANSFORM_JOB_NOT_COMPLETED = "TransformJobNotCompleted"
# What the batch-promotion machine records when its candidate could not score the sample.
SAMPLE_NOT_SCORED = "SampleNotScored"

# The errors a failed execution ends with (the state machines' Fail states): what
# DescribeExecution's `error` says once a failure path has recorded what happened.
RUN_FAILURES = frozenset(
    {
        "RetrainFailed",
        "DeployFailed",
        "DriftCheckFailed",
        "QualityCheckFailed",
        "FinishFailed",
        "BatchRunFailed",
        "BatchInputRefused",  # a drifted input under on_violation = "stop": nothing scored
        "BatchPromotionFailed",
    }
)


class MessageTooLarge(ModelfreshError):
    """A message cannot be cut to its service's limit without cutting what identifies it
    (its model, run, kind): the skeleton alone is over the budget."""
