"""Failed sign-ins: a thread-safe budget of attempts per key, with doubling lock-outs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping

from geo.core import settings

__all__ = ["Throttle"]


class Throttle:
    """Counts failed sign-ins per key and says how long the next attempt must wait.

    An attempt is counted as a failure *before* its password is checked: :meth:`attempt`
    reserves a slot in each of its keys under the lock, and a success then clears the key
    (:meth:`success`) or gives the one slot back (:meth:`refund`). Attempts made at the same
    time therefore share one budget: with ``max_failures`` N, at most N of them are checked
    (and after a lock-out has run out, one), however many arrive at once; the others are
    refused unchecked. (Checking the wait before the slow password hash and recording the
    failure after it let ten parallel attempts through.)

    After N failures in a row a key waits ``lockout_s``, doubling with each further failure up
    to ``max_lockout_s``, counted from the last failure. Thread-safe.

    At most ``max_keys`` keys are kept. A new key that finds the table full pushes out the
    oldest records that lock nobody (their wait is over, or they are below their limit).
    Locked records are never dropped, since otherwise anyone could unlock a user by failing
    under ``max_keys`` fresh names. When every record is locked, attempts that need a new key
    are refused until the first lock runs out: a flood of locked keys (each costs its sender
    several slow password checks, and one address only
    :data:`geo.core.settings.SIGNIN_MAX_FAILURES_PER_ADDRESS` failures in a row) can keep new
    sessions out for a while, but it never lets anyone in.

    Examples
    --------
    >>> now = [0.0]
    >>> t = Throttle(max_failures=2, lockout_s=10, clock=lambda: now[0])
    >>> t.attempt(["alice"]), t.wait_s("alice")  # granted: counted as a failure already
    (0.0, 0.0)
    >>> t.attempt(["alice"]), t.wait_s("alice")  # the second failure locks the key
    (0.0, 10.0)
    >>> t.attempt(["alice"])  # refused unchecked (and not counted)
    10.0
    >>> now[0] = 4.0; t.wait_s("alice")
    6.0
    >>> t.success("alice"); t.wait_s("alice")
    0.0
    """

    def __init__(
        self,
        *,
        max_failures: int = settings.SIGNIN_MAX_FAILURES,
        lockout_s: float = settings.SIGNIN_LOCKOUT_S,
        max_lockout_s: float = settings.SIGNIN_MAX_LOCKOUT_S,
        max_keys: int = settings.SIGNIN_MAX_RECORDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.max_lockout_s = max_lockout_s
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (failures in a row, time of the last, the key's max_failures); oldest first
        self._records: dict[str, tuple[int, float, int]] = {}

    def __len__(self) -> int:
        """Number of keys with a record."""
        with self._lock:
            return len(self._records)

    def _lock_s(self, count: int, limit: int) -> float:
        """How long ``count`` failures in a row lock a key of ``limit`` (0 below it)."""
        if count < limit:
            return 0.0
        return min(self.lockout_s * 2 ** (count - limit), self.max_lockout_s)

    def _wait(self, record: tuple[int, float, int], now: float) -> float:
        count, last, limit = record
        return max(0.0, last + self._lock_s(count, limit) - now)

    def wait_s(self, key: str) -> float:
        """Seconds before ``key`` may try again (0 if now)."""
        with self._lock:
            record = self._records.get(key)
            return 0.0 if record is None else self._wait(record, self._clock())

    def attempt(self, keys: Iterable[str] | Mapping[str, int]) -> float:
        """Reserve a slot for one sign-in attempt in every key, or say how long to wait.

        Parameters
        ----------
        keys
            The keys the attempt counts against (e.g. its session, user name and address),
            or a mapping of each key to its own ``max_failures`` (else :attr:`max_failures`).
            A key's limit is the one it was first recorded with.

        Returns
        -------
        float
            0.0 when the attempt may go ahead: it is now recorded as a failure in every key,
            until :meth:`success` or :meth:`refund`. Otherwise the seconds to wait (at least
            one key is locked, or the table is full of locks); nothing is recorded then.
        """
        limits = dict(keys) if isinstance(keys, Mapping) else dict.fromkeys(keys, self.max_failures)
        with self._lock:
            now = self._clock()
            waits = [self._wait(self._records[k], now) for k in limits if k in self._records]
            wait = max(waits, default=0.0)
            if wait > 0:
                return wait
            if not self._make_room(sum(k not in self._records for k in limits), limits, now):
                return max(min(self._wait(r, now) for r in self._records.values()), 1.0)
            for key, limit in limits.items():
                count, _, limit = self._records.pop(key, (0, 0.0, limit))
                self._records[key] = (count + 1, now, limit)
            return 0.0

    def _make_room(self, new: int, keep: Mapping[str, int], now: float) -> bool:
        """Drop the oldest unlocked records (not in ``keep``) until ``new`` keys fit."""
        excess = len(self._records) + new - self.max_keys
        if excess <= 0:
            return True
        victims = []
        for key, record in self._records.items():  # oldest first
            if key not in keep and self._wait(record, now) == 0:
                victims.append(key)
                if len(victims) == excess:
                    break
        else:
            return False  # every record that could go is a lock: keep them all
        for key in victims:
            del self._records[key]
        return True

    def success(self, key: str) -> None:
        """Forget the failures of ``key`` (its reserved slot included)."""
        with self._lock:
            self._records.pop(key, None)

    def refund(self, key: str) -> None:
        """Give back the slot :meth:`attempt` reserved in ``key``; earlier failures stay.

        For a key whose lock had run out when the slot was reserved, the lock stays run out.
        """
        with self._lock:
            record = self._records.get(key)
            if record is None:
                return
            count, last, limit = record
            if count <= 1:
                del self._records[key]
                return
            # While count >= limit only one attempt at a time is granted (each locks the
            # key), so this slot is the only one outstanding: the key was free before it.
            if count - 1 >= limit:
                last = min(last, self._clock() - self._lock_s(count - 1, limit))
            self._records[key] = (count - 1, last, limit)
