"""What SageMaker's instance types mean for encryption at rest. Standard library only (the
pipeline's build uses it too).

Certain Nitro-based instances have local NVMe instance storage, which a hardware module on the
instance encrypts. SageMaker refuses a KMS key for their storage: CreateEndpointConfig fails
when `KmsKeyId` is set and any variant runs on one, and so do training and processing jobs
given a `VolumeKmsKeyId` (SageMaker API Reference: CreateEndpointConfig, "KmsKeyId";
ResourceConfig and ProcessingClusterConfig, "VolumeKmsKeyId"). Which types have it is EC2's
list ("Instance store volumes"): by EC2's naming, a `d` among a family's attributes (m5d, c5d,
r5d, g4dn, p3dn, p4d, m6id, c7gd, ...), and a few GPU and Trainium families without one
(SageMaker's ResourceConfig docs name ml.p4d, ml.g4dn and ml.g5).
"""

from __future__ import annotations

import re

# Families with NVMe instance storage whose names carry no `d` (EC2's instance store list).
_LOCAL_STORAGE_FAMILIES = frozenset(
    {"g5", "g6", "g6e", "gr6", "p5", "p5e", "p5en", "trn1", "trn1n", "trn2"}
)
# ml.<generation letters><generation number><attributes>.<size>, e.g. ml.m6id.large.
_FAMILY = re.compile(
    r"ml\.(?P<family>(?P<series>[a-z]+)(?P<generation>\d+)(?P<attributes>[a-z-]*))\."
)


def has_instance_storage(instance_type: str) -> bool:
    """Whether the type's storage is local NVMe (encrypted by the instance, no KMS key)."""
    found = _FAMILY.match(instance_type)
    if found is None:
        return False
    if found["family"] in _LOCAL_STORAGE_FAMILIES:
        return True
    return "d" in found["attributes"]
