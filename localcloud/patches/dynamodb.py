"""DynamoDB's patch (11): every operation is atomic under concurrent callers."""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

# -------------------------------------------------------------------------------- 11. Atomicity


DYNAMODB_OPERATIONS = (
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "query",
    "scan",
    "batch_write_item",
    "batch_get_item",
    "transact_write_items",
    "transact_get_items",
)


def atomic_dynamodb() -> None:
    """Patch 11: DynamoDB operations are atomic under concurrent callers, as in AWS. moto's
    TransactWriteItems checks and writes item by item, and on a cancellation restores copies of
    whole tables taken before it: two racing transactions can both win, and a rollback erases
    other callers' writes. One lock around every DynamoDB operation fixes both."""
    lock = threading.RLock()
    for name in DYNAMODB_OPERATIONS:
        original = getattr(DynamoDBBackend, name)

        def locked(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(*args, **kwargs)

        setattr(DynamoDBBackend, name, functools.wraps(original)(locked))
