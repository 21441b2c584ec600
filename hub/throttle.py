"""Failed sign-ins counted per client address, so one client cannot guess across accounts.

The per-account lock (hub.users) stops guessing one account's password; this stops one
client spraying guesses over many accounts, including ones that do not exist (which
never lock). It lives in the process's memory: the hub runs as one waitress process,
and a restart forgetting the counts only gives an attacker one window more.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from collections.abc import Callable

# Addresses remembered at most; beyond it the quietest are forgotten, so a flood of
# spoofed or rotating addresses cannot grow memory without bound.
MAX_ADDRESSES = 10_000


def client_key(address: str) -> str:
    """Return what to count an address under: itself for IPv4, its /64 network for IPv6.

    One IPv6 host usually holds a whole /64 and could take a fresh address per guess.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and not ip.ipv4_mapped:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)


class AddressThrottle:
    """Refuse sign-ins from an address after `limit` failures within `window` seconds."""

    def __init__(
        self, limit: int, window: float, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._now = now
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, address: str) -> float:
        """Return the seconds until `address` may try again (0 if it may now)."""
        with self._lock:
            times = self._recent(address)
            if len(times) < self.limit:
                return 0.0
            return max(times[0] + self.window - self._now(), 0.0)

    def failed(self, address: str) -> None:
        """Count a failed sign-in from `address`."""
        with self._lock:
            times = self._recent(address)
            times.append(self._now())
            while len(times) > self.limit:
                times.popleft()
            self._failures[address] = times
            if len(self._failures) > MAX_ADDRESSES:
                oldest = min(self._failures, key=lambda key: self._failures[key][-1])
                del self._failures[oldest]

    def _recent(self, address: str) -> deque[float]:
        times = self._failures.pop(address, deque())
        cutoff = self._now() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        if times:
            self._failures[address] = times
        return times
