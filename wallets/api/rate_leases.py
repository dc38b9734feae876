"""Rate windows counted in blocks: a web process takes several of a window's requests from
the shared counter at once and spends them locally, so a busy caller costs one Redis round
trip per block instead of one per request.

Never more than the limit: a block is taken with one INCRBY and only the part of it still
under the limit is granted. The price is the other way: requests a process has taken but
not spent are lost to the window, so a caller at its limit may be refused up to
(processes x block) requests early. The block is a fiftieth of the limit, capped at 100, so
that stays a small share; limits under 100 a window get blocks of one, which is exactly one
count per request (the tests' "3/m").

Pure apart from the `take` callable it is given: take(key, n, ttl) adds n to a window's
shared count, which expires after ttl seconds, and returns the new total.
"""

import threading
from collections.abc import Callable

BLOCK_SHARE = 50
BLOCK_CAP = 100


def block_size(limit: int) -> int:
    return max(1, min(BLOCK_CAP, limit // BLOCK_SHARE))


class Leases:
    """What this process holds of each window: {window key: [requests left, window's end]}."""

    def __init__(self, take: Callable[[str, int, int], int]):
        self._take = take
        self._held: dict[str, list] = {}
        self._lock = threading.Lock()  # threaded web workers share one process's leases

    def allow(self, key: str, limit: int, now: float, ends: float) -> bool:
        """One request in the window `key` (of `limit` requests, ending at `ends`)."""
        with self._lock:
            held = self._held.get(key)
            if held is not None and held[0] > 0:
                held[0] -= 1
                return True
        block = block_size(limit)
        total = self._take(key, block, int(ends - now) + 2)
        granted = min(block, limit - (total - block))
        if granted <= 0:
            return False
        with self._lock:
            if len(self._held) > 1000:  # windows that ended hold nothing worth keeping
                self._held = {k: h for k, h in self._held.items() if h[1] > now}
            held = self._held.setdefault(key, [0, ends])
            held[0] += granted - 1
        return True

    def forget(self) -> None:
        with self._lock:
            self._held.clear()
