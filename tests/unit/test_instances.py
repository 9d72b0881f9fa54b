"""Which SageMaker instance types have local NVMe storage (SageMaker takes no KMS key for it)."""

from __future__ import annotations

import pytest
from modelfresh.core.instances import has_instance_storage


@pytest.mark.parametrize(
    "instance_type",
    [
        "ml.m5d.large",  # SageMaker's CreateEndpointConfig docs: m5d, c5d, r5d, g4dn, p3dn...
        "ml.c5d.xlarge",
        "ml.r5d.2xlarge",
        "ml.g4dn.xlarge",
        "ml.p3dn.24xlarge",
        "ml.p4d.24xlarge",  # ResourceConfig docs: "ml.p4d, ml.g4dn, and ml.g5"
        "ml.p4de.24xlarge",
        "ml.g5.xlarge",
        "ml.g6.2xlarge",
        "ml.p5.48xlarge",
        "ml.trn1.32xlarge",
        "ml.m6id.large",
    ],
)
def test_types_with_local_nvme_storage_are_recognised(instance_type: str) -> None:
    assert has_instance_storage(instance_type)


@pytest.mark.parametrize(
    "instance_type",
    ["ml.m5.large", "ml.m5.xlarge", "ml.c5.xlarge", "ml.t2.medium", "ml.inf2.xlarge",
     "ml.c6gn.large", "ml.m7i.large", "ml.p3.2xlarge", "ml.r5.large", "not-an-instance"],
)  # fmt: skip
def test_ebs_backed_types_take_a_volume_key(instance_type: str) -> None:
    assert not has_instance_storage(instance_type)
