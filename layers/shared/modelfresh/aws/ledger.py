"""The run ledger on DynamoDB: model states (lease, pending signal, cooldown) and signal records.

Every rule of runs.py is a condition expression here, so two Lambdas racing on one model
cannot both win, whatever the timing. Times are epoch seconds.

A signal is merged into the pending one (signals.merge) optimistically: read the pending signal,
merge, write on condition that the pending signal is still the one read; if another writer was
first, read again. The signal's record is written in the same transaction, so a redelivered
signal is a duplicate and is never merged twice.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from modelfresh.retrain.runs import Claim, ClaimResult, Lease, ModelState, SignalRecord, Ticket
from modelfresh.retrain.signals import Signal, merge

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

SIGNAL_RECORD_DAYS = 30
# How many times a merge is tried again when another writer changed the pending signal first.
MERGE_ATTEMPTS = 50
_LEASE_ATTRIBUTES = "lease_run, lease_signal, lease_acquired_at, lease_expires_at, lease_granted_by"
_PENDING_ATTRIBUTES = "pending_signal, pending_count, pending_since"
_FREE = "(attribute_not_exists(lease_run) OR lease_expires_at < :now)"
_COOL = "(attribute_not_exists(cooldown_until) OR cooldown_until <= :now)"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _lease_values(ticket: Ticket, now: int) -> dict[str, Any]:
    return {
        ":run": _s(ticket.run),
        ":sig": _s(ticket.signal.to_json()),
        ":exp": _n(ticket.expires_at),
        ":now": _n(now),
    }


_SET_LEASE = (
    "lease_run = :run, lease_signal = :sig, lease_acquired_at = :now, "
    "lease_expires_at = :exp, updated_at = :now"
)

# Take the lease; any pending signal is absorbed by the run that starts now.
_TAKE_LEASE = f"SET {_SET_LEASE} REMOVE lease_granted_by, {_PENDING_ATTRIBUTES}"


class DynamoLedger:
    """runs.Ledger on two tables: model state (key `model`) and signals (key `signal_id`)."""

    def __init__(self, client: DynamoDBClient, state_table: str, signals_table: str) -> None:
        self._db = client
        self._state_table = state_table
        self._signals_table = signals_table

    def acquire(self, ticket: Ticket, now: int) -> ClaimResult:
        def attempt(read: str | None) -> ClaimResult:
            # An expired lease's signal is carried too: its run may never have started.
            held = self._expired_lease_json(ticket.model, now)
            leased = ticket
            for carried in (held, read):
                if carried is not None:
                    leased = absorbing(leased, _parse(carried))
            result = self._transact(
                ticket.signal.id,
                ticket.model,
                run=leased.run,
                now=now,
                decision="started",
                state_update={
                    "UpdateExpression": _TAKE_LEASE,
                    "ConditionExpression": (
                        f"{_FREE} AND {_COOL} AND {_pending_is(read)} AND {_lease_is(held)}"
                    ),
                    "ExpressionAttributeValues": _lease_values(leased, now)
                    | _read_value(read)
                    | ({} if held is None else {":held": _s(held)}),
                },
            )
            return ClaimResult(Claim.WON, ticket=leased) if result.claim is Claim.WON else result

        # Refused though free and cool: the pending signal (or the lease) moved under us.
        return self._merging(ticket.model, attempt, moved=lambda state: _free(state, now))

    def renew(self, model: str, run: str, now: int, expires_at: int) -> bool:
        refused = self._update_or_state(
            model,
            update="SET lease_acquired_at = :now, lease_expires_at = :exp, updated_at = :now",
            condition="lease_run = :run",
            values={":run": _s(run), ":now": _n(now), ":exp": _n(expires_at)},
        )
        return refused is None

    def enqueue(self, ticket: Ticket, now: int) -> ClaimResult:
        def attempt(read: str | None) -> ClaimResult:
            merged = merge(None if read is None else _parse(read), ticket.signal)
            result = self._transact(
                ticket.signal.id,
                ticket.model,
                run=ticket.run,
                now=now,
                decision="queued",
                state_update={
                    "UpdateExpression": (
                        "SET pending_signal = :sig, updated_at = :now, "
                        "pending_since = if_not_exists(pending_since, :now) "
                        "ADD pending_count :one"
                    ),
                    "ConditionExpression": (
                        "((attribute_exists(lease_run) AND lease_expires_at >= :now) "
                        f"OR cooldown_until > :now) AND {_pending_is(read)}"
                    ),
                    "ExpressionAttributeValues": {
                        ":sig": _s(merged.to_json()),
                        ":now": _n(now),
                        ":one": _n(1),
                    }
                    | _read_value(read),
                },
            )
            if result.claim is Claim.WON:
                return ClaimResult(Claim.WON, state=self.state(ticket.model))
            return result

        # Refused though busy or cooling: the pending signal moved under us.
        return self._merging(ticket.model, attempt, moved=lambda state: not _free(state, now))

    def release(
        self, model: str, holder: str, now: int, cooldown_until: int, keep_pending: bool
    ) -> ModelState | None:
        condition = "lease_run = :me" + (
            "" if keep_pending else " AND attribute_not_exists(pending_signal)"
        )
        return self._update_or_state(
            model,
            update=(
                "SET cooldown_until = :cd, last_run = :me, last_finished_at = :now, "
                f"updated_at = :now REMOVE {_LEASE_ATTRIBUTES}"
            ),
            condition=condition,
            values={":me": _s(holder), ":cd": _n(cooldown_until), ":now": _n(now)},
        )

    def hand_off(self, holder: str, pending: Signal, ticket: Ticket, now: int) -> bool:
        refused = self._update_or_state(
            ticket.model,
            update=(
                f"SET {_SET_LEASE}, lease_granted_by = :me, last_run = :me, "
                f"last_finished_at = :now, cooldown_until = :now REMOVE {_PENDING_ATTRIBUTES}"
            ),
            condition="lease_run = :me AND pending_signal = :pending",
            values=_lease_values(ticket, now)
            | {":me": _s(holder), ":pending": _s(pending.to_json())},
        )
        return refused is None

    def start_pending(self, pending: Signal, ticket: Ticket, now: int) -> bool:
        refused = self._update_or_state(
            ticket.model,
            update=_TAKE_LEASE,
            condition=f"attribute_not_exists(lease_run) AND pending_signal = :pending AND {_COOL}",
            values=_lease_values(ticket, now) | {":pending": _s(pending.to_json())},
        )
        return refused is None

    def state(self, model: str) -> ModelState:
        item = self._db.get_item(
            TableName=self._state_table, Key={"model": _s(model)}, ConsistentRead=True
        ).get("Item")
        return _state(model, item or {})

    def states(self) -> list[ModelState]:
        paginator = self._db.get_paginator("scan")
        return [
            _state(item["model"]["S"], item)
            for page in paginator.paginate(TableName=self._state_table, ConsistentRead=True)
            for item in page.get("Items", [])
        ]

    def signal_record(self, signal_id: str) -> SignalRecord | None:
        """What was decided about a signal, if it was seen before."""
        item = self._db.get_item(
            TableName=self._signals_table, Key={"signal_id": _s(signal_id)}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return SignalRecord(signal_id, item["decision"]["S"], item["run"]["S"])

    # -- internals -------------------------------------------------------------------------

    def _merging(
        self,
        model: str,
        attempt: Callable[[str | None], ClaimResult],
        moved: Callable[[ModelState], bool],
    ) -> ClaimResult:
        """`attempt` a write on the pending signal as read, again while it is refused because
        the pending signal `moved` under it (another writer merged first)."""
        for tried in range(MERGE_ATTEMPTS):
            result = attempt(self._pending_json(model))
            if result.claim is Claim.REFUSED and result.state is not None and moved(result.state):
                _back_off(tried)
                continue
            return result
        return ClaimResult(Claim.REFUSED, state=self.state(model))

    def _expired_lease_json(self, model: str, now: int) -> str | None:
        """The signal of the model's lease, as stored, if the lease has expired."""
        item = self._db.get_item(
            TableName=self._state_table,
            Key={"model": _s(model)},
            ConsistentRead=True,
            ProjectionExpression="lease_signal, lease_expires_at",
        ).get("Item", {})
        if "lease_signal" not in item or int(item["lease_expires_at"]["N"]) >= now:
            return None
        return item["lease_signal"]["S"]

    def _pending_json(self, model: str) -> str | None:
        """The pending signal as stored (the string a condition compares), if any."""
        item = self._db.get_item(
            TableName=self._state_table,
            Key={"model": _s(model)},
            ConsistentRead=True,
            ProjectionExpression="pending_signal",
        ).get("Item", {})
        return item["pending_signal"]["S"] if "pending_signal" in item else None

    def _transact(
        self,
        signal_id: str,
        model: str,
        *,
        run: str,
        now: int,
        decision: str,
        state_update: Mapping[str, Any],
    ) -> ClaimResult:
        """Record the signal and update the model state, both or neither."""
        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._signals_table,
                    "Item": {
                        "signal_id": _s(signal_id),
                        "model": _s(model),
                        "decision": _s(decision),
                        "run": _s(run),
                        "received_at": _n(now),
                        "expires_at": _n(now + SIGNAL_RECORD_DAYS * 86400),
                    },
                    "ConditionExpression": "attribute_not_exists(signal_id)",
                }
            },
            {
                "Update": {
                    "TableName": self._state_table,
                    "Key": {"model": _s(model)},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    **state_update,  # type: ignore[typeddict-item]
                }
            },
        ]
        for attempt in range(8):
            try:
                self._db.transact_write_items(TransactItems=items)
                return ClaimResult(Claim.WON)
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = error.response.get("CancellationReasons", [])
                codes = [r.get("Code") for r in reasons]
                if "TransactionConflict" in codes and "ConditionalCheckFailed" not in codes:
                    # Another writer was on the same item at that instant (real DynamoDB
                    # does this under contention): back off briefly and try again.
                    time.sleep(random.uniform(0.02, 0.1) * (attempt + 1))
                    continue
                if codes and codes[0] == "ConditionalCheckFailed":
                    return ClaimResult(Claim.DUPLICATE, record=self.signal_record(signal_id))
                item = reasons[1].get("Item", {}) if len(reasons) > 1 else {}
                return ClaimResult(Claim.REFUSED, state=_state(model, item))
        return ClaimResult(Claim.REFUSED, state=self.state(model))

    def _update_or_state(
        self, model: str, update: str, condition: str, values: dict[str, Any]
    ) -> ModelState | None:
        """A conditional update: None if it applied, else the state that refused it."""
        try:
            self._db.update_item(
                TableName=self._state_table,
                Key={"model": _s(model)},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return _state(model, error.response.get("Item", {}))  # type: ignore[arg-type]
        return None


def absorbing(ticket: Ticket, pending: Signal) -> Ticket:
    """The lease a signal takes when a pending signal waits: the merge of both, named after the
    newest change, for as long as the ticket's."""
    merged = merge(pending, ticket.signal)
    return Ticket(ticket.model, merged.run_name, merged, ticket.expires_at)


def _pending_is(read: str | None) -> str:
    """The condition that the pending signal is still the one read."""
    return "attribute_not_exists(pending_signal)" if read is None else "pending_signal = :read"


def _lease_is(held: str | None) -> str:
    """The condition that the lease is still the expired one read (or still absent)."""
    return "attribute_not_exists(lease_run)" if held is None else "lease_signal = :held"


def _read_value(read: str | None) -> dict[str, Any]:
    return {} if read is None else {":read": _s(read)}


def _free(state: ModelState, now: int) -> bool:
    """_FREE and _COOL, on a state as read."""
    lease_free = state.lease is None or state.lease.expires_at < now
    return lease_free and state.cooldown_until <= now


def _back_off(attempt: int) -> None:
    time.sleep(random.uniform(0.001, 0.01) * min(attempt + 1, 10))


def _parse(raw: str) -> Signal:
    return Signal.from_dict(json.loads(raw))


def _state(model: str, item: Mapping[str, Any]) -> ModelState:
    def num(key: str) -> int:
        return int(item[key]["N"]) if key in item else 0

    def text(key: str) -> str | None:
        return item[key]["S"] if key in item else None

    def signal(key: str) -> Signal | None:
        raw = text(key)
        return Signal.from_dict(json.loads(raw)) if raw else None

    lease = None
    lease_signal = signal("lease_signal")
    if "lease_run" in item and lease_signal is not None:
        lease = Lease(
            run=item["lease_run"]["S"],
            signal=lease_signal,
            acquired_at=num("lease_acquired_at"),
            expires_at=num("lease_expires_at"),
            granted_by=text("lease_granted_by"),
        )
    return ModelState(
        model=model,
        lease=lease,
        pending=signal("pending_signal"),
        pending_count=num("pending_count"),
        cooldown_until=num("cooldown_until"),
        last_run=text("last_run"),
    )
