"""Injectable faults for the simulated Jira: random (seeded) or scripted.

Kinds (``Fault.kind``):

- ``"429"``: 429 Too Many Requests with ``Retry-After: <retry_after>`` seconds;
- ``"500"``: 500 with an ErrorCollection body;
- ``"503"``: 503 Service Unavailable with ``Retry-After``;
- ``"slow"``: the normal answer after ``delay`` seconds;
- ``"cut"``: the normal status and headers (full ``Content-Length``), half the
  body, then the connection is closed;
- ``"malformed"``: 200 with ``application/json`` and a truncated, unparsable body.

A fault is taken, in order, from the scripted queue (``script()``/``push()``;
a ``None`` entry means "answer normally this time"), else with probability
``rate`` from a ``random.Random(seed)``: the sequence of faults is a function of
the seed and the order of requests.  Only requests whose path starts with one of
``paths`` are eligible (default: every ``/rest/`` path).
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass
from typing import Iterable

KINDS = ("429", "500", "503", "slow", "cut", "malformed")


@dataclass(frozen=True)
class Fault:
    kind: str
    retry_after: int = 1  # seconds, for 429 / 503
    delay: float = 1.0  # seconds, for slow
    path: str | None = None  # scripted faults: only for requests whose path starts with this

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (one of {', '.join(KINDS)})")


class Faults:
    def __init__(self, rate: float = 0.0, *, seed: int = 0, kinds: Iterable[str] = KINDS,
                 retry_after: int = 1, delay: float = 1.0, paths: Iterable[str] = ("/rest/",)) -> None:
        self.lock = threading.Lock()
        self.rate = float(rate)
        self.seed = seed
        self.kinds = tuple(kinds)
        for k in self.kinds:
            Fault(k)
        self.retry_after = retry_after
        self.delay = delay
        self.paths = tuple(paths)
        self._rng = random.Random(seed)
        self._queue: deque[Fault | None] = deque()
        self.injected: list[tuple[str, str]] = []  # (kind, path) of every fault served

    def push(self, *faults: Fault | str | None) -> None:
        """Queue faults (a kind string is shorthand for ``Fault(kind)``); ``None`` = one normal answer."""
        with self.lock:
            for f in faults:
                self._queue.append(Fault(f, retry_after=self.retry_after, delay=self.delay)
                                   if isinstance(f, str) else f)

    script = push

    def clear(self) -> None:
        with self.lock:
            self._queue.clear()
            self.rate = 0.0

    def pending(self) -> int:
        with self.lock:
            return len(self._queue)

    def next_for(self, path: str) -> Fault | None:
        if not path.startswith(self.paths):
            return None
        with self.lock:
            if self._queue:
                head = self._queue[0]
                if head is not None and head.path and not path.startswith(head.path):
                    return None
                self._queue.popleft()
                fault = head
            elif self.rate > 0 and self._rng.random() < self.rate:
                fault = Fault(self._rng.choice(self.kinds), retry_after=self.retry_after, delay=self.delay)
            else:
                fault = None
            if fault is not None:
                self.injected.append((fault.kind, path))
            return fault
