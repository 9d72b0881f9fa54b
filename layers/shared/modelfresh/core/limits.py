"""The size limits of every message the controller sends, and the one way to keep within them.

Each sink builds its message from a JSON document (an outcome, a signal, an approval's details)
and hands `fit` the document, its budget, and how to measure the message built from it. `fit`
cuts the biggest fields first, and marks what it cut: a cut string ends with
"…[N of M characters cut]", and the sink puts the list of cuts (`Cut`) in the message itself.
Lists lose their tail (our lists are worst- or newest-first), objects their biggest keys. The
fields named in `keep` (what identifies the message: model, run, kind, ...) are cut only when
nothing else is left. Measuring the message itself, not the document, covers every encoding
the sink adds on the way (JSON inside JSON, escapes, UTF-8).

Pure code: no AWS. Budgets sit well below AWS's limits, leaving room for what the sink adds
around the message (SNS message attributes and subject, the state machine's own data beside a
retrain's input).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from modelfresh.core.errors import MessageTooLarge

KIB = 1024
# AWS's limits (FACTS.md, "Size limits").
SNS_MESSAGE_LIMIT = 256 * KIB  # Publish: the message and its attributes, in UTF-8 bytes
DYNAMODB_ITEM_LIMIT = 400 * 1000  # an item: attribute names and values, in UTF-8 bytes
STATES_PAYLOAD_LIMIT = 256 * KIB  # StartExecution's input; any state's input or output

# What each sink allows itself.
SNS_BUDGET = 240 * KIB  # the subject and message attributes fit in the rest
AUDIT_ITEM_BUDGET = 350 * 1000
# A retrain's input travels through every state beside the plan, the pipeline's answer and the
# verdict: a quarter of a state's limit leaves them the rest.
EXECUTION_INPUT_BUDGET = 64 * KIB
# A signal is kept twice in one model-state item (the lease's and the pending one) and travels
# in a retrain's input: well within both.
SIGNAL_BUDGET = 32 * KIB

_MARK = "…[{cut:,} of {of:,} characters cut]"
_MARK_ROOM = 48  # the longest mark, with room to spare
_NOTE_ROOM = 96  # what the note of a new cut adds to the message
_FEW_KEYS = 8  # an object with more keys than this may lose some
_ROUNDS = 64


@dataclass(frozen=True)
class Cut:
    """What `fit` took from one field: `kept` of `of` characters, items or keys."""

    path: str
    unit: str  # "characters", "items" or "keys"
    kept: int
    of: int

    def __str__(self) -> str:
        return f"{self.path or 'message'}: {self.of - self.kept:,} of {self.of:,} {self.unit} cut"


@dataclass(frozen=True)
class Fitted:
    """A document cut to fit, and what was cut (empty when it fitted as it was)."""

    document: Any
    cuts: tuple[Cut, ...]

    @property
    def notes(self) -> list[str]:
        """The cuts in words, for the message itself."""
        return [str(cut) for cut in self.cuts]


type Path = tuple[str | int, ...]
type Measure = Callable[[Any, tuple[Cut, ...]], int]


def fit(document: Any, budget: int, measure: Measure, keep: Collection[str] = ()) -> Fitted:
    """`document` (JSON-ready; other values become strings) cut until the message the sink
    builds from it measures at most `budget`. `measure(document, cuts)` is the size of that
    message in bytes, marks of the cuts included. `keep` names dotted paths to cut last.

    Raises: MessageTooLarge (nothing left to cut but the kept fields, and they are too big:
    only a budget smaller than a message's skeleton does that)."""
    fitter = _Fitter(json.loads(json.dumps(document, default=str)), keep)
    for _ in range(_ROUNDS):
        cuts = tuple(fitter.cuts.values())
        measured = measure(fitter.document, cuts)
        if measured <= budget:
            return Fitted(fitter.document, cuts)
        # The message may repeat and escape the document: cut its share of the excess (if
        # that is not enough, the next round cuts again; cutting more would lose more).
        share = (measured - budget) * _size(fitter.document) / measured
        if not fitter.cut(int(share) + 1):
            break
    raise MessageTooLarge(f"a message cannot be cut to {budget:,} bytes")


def _size(node: Any) -> int:
    return len(json.dumps(node))


def _dotted(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class _Fitter:
    def __init__(self, document: Any, keep: Collection[str]) -> None:
        self.document = document
        self.keep = frozenset(keep)
        self.cuts: dict[str, Cut] = {}
        self.originals: dict[str, str] = {}  # a string cut before is cut again from its start

    def cut(self, excess: int) -> bool:
        """Cut about `excess` bytes from the biggest field; False if nothing can be cut."""
        for strict in (True, False):
            path = self._target(self.document, (), excess, strict)
            if path is not None:
                if _dotted(path) not in self.cuts:
                    excess += _NOTE_ROOM  # its cut will be listed in the message too
                self._replace(path, excess, strict)
                return True
        return False

    def _kept(self, path: Path) -> bool:
        return _dotted(path) in self.keep

    def _cuttable_string(self, path: Path, text: str) -> bool:
        kept = self.cuts.get(_dotted(path))
        return (kept.kept if kept else len(text)) > 0 and len(text) > _MARK_ROOM

    def _target(self, node: Any, path: Path, excess: int, strict: bool) -> Path | None:
        """The field to cut. A string is cut itself. A list whose biggest item dominates it is
        cut inside that item, else loses its tail. An object is cut inside its biggest children
        (those worth it: an eighth of it, or the whole excess), else, when it has many small
        keys, loses the biggest of them."""
        if strict and self._kept(path):
            return None
        if isinstance(node, str):
            return path if self._cuttable_string(path, node) else None
        if not isinstance(node, dict | list) or not node:
            return None
        total = _size(node)
        if isinstance(node, list):
            biggest = max(range(len(node)), key=lambda i: _size(node[i]))
            if _size(node[biggest]) * 2 >= total:
                found = self._target(node[biggest], (*path, biggest), excess, strict)
                if found is not None:
                    return found
            return path
        for size, key in sorted(((_size(v), k) for k, v in node.items()), reverse=True):
            if size * 8 < total and size < excess:
                break
            found = self._target(node[key], (*path, key), excess, strict)
            if found is not None:
                return found
        droppable = [k for k in node if not (strict and self._kept((*path, k)))]
        return path if len(droppable) > _FEW_KEYS else None

    def _replace(self, path: Path, excess: int, strict: bool) -> None:
        """Shrink the field at `path` in place (the document itself when the path is empty)."""
        if not path:
            self.document = self._shrink(self.document, path, excess, strict)
            return
        parent = self.document
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = self._shrink(parent[path[-1]], path, excess, strict)

    def _shrink(self, node: Any, path: Path, excess: int, strict: bool) -> Any:
        where = _dotted(path)
        if isinstance(node, str):
            original = self.originals.setdefault(where, node)
            before = self.cuts[where].kept if where in self.cuts else len(original)
            # `excess` is in JSON bytes; a character may take up to 6 of them ("\u00e9").
            chars = -(-excess * len(node) // _size(node))
            kept = max(0, before - chars - _MARK_ROOM)
            self.cuts[where] = Cut(where, "characters", kept, len(original))
            return original[:kept] + _MARK.format(cut=len(original) - kept, of=len(original))
        if isinstance(node, list):
            of = self.cuts[where].of if where in self.cuts else len(node)
            kept, freed = len(node), 0
            while kept > 0 and freed < excess:
                kept -= 1
                freed += _size(node[kept]) + 2
            self.cuts[where] = Cut(where, "items", kept, of)
            return node[:kept]
        # An object with no dominant key: drop its biggest keys (kept ones only last).
        of = self.cuts[where].of if where in self.cuts else len(node)
        droppable = sorted(
            (k for k in node if not (strict and self._kept((*path, k)))),
            key=lambda k: _size(node[k]),
            reverse=True,
        )
        freed = 0
        for key in droppable:
            if freed >= excess:
                break
            freed += _size(node[key]) + len(json.dumps(key)) + 2
            del node[key]
        self.cuts[where] = Cut(where, "keys", len(node), of)
        return node
