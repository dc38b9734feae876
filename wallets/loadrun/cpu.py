"""Where a run's CPU went, by process: this one (submitting, and settling when inline), the
settlement workers, PostgreSQL, processes named with --watch (e.g. gunicorn), and the
rest of the machine. Read from /proc at the first offer and at the last decision (Linux;
elsewhere there is nothing to read and no figures).

A process that started during the run counts all its CPU; one that ended during it is
lost from its part and lands in "other", which is the machine's total less the parts.
PostgreSQL is every `postgres` process on this machine (backends, autovacuum, the WAL
writer): a server on another host has none here.
"""

import os
from collections.abc import Collection, Mapping

from settlement.bench import process_cpu

PARTS = ("loadrun", "settlement workers", "PostgreSQL", "watched processes", "other")

# pid -> (the start of its command line, CPU seconds so far)
Snapshot = Mapping[int, tuple[bytes, float]]


def processes_cpu() -> dict[int, tuple[bytes, float]]:
    """Every readable process's command line (its first bytes) and CPU seconds."""
    found = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if entry.isdigit() and (read := process_cpu(int(entry))) is not None:  # else it ended
            found[int(entry)] = read
    return found


def cpu_by_part(
    before: Snapshot,
    after: Snapshot,
    *,
    machine_seconds: float,
    own_pid: int,
    worker_pids: Collection[int],
    watched_pids: Collection[int] = (),
) -> dict[str, float]:
    """Seconds of CPU each part used between the two snapshots; "other" is the machine's
    total less the parts (never below zero: the two clocks tick apart)."""
    parts = dict.fromkeys(PARTS, 0.0)
    for pid, (command, seconds) in after.items():
        earlier = before.get(pid)
        # A pid met again under another command is a new process that reused it.
        spent = seconds - earlier[1] if earlier and earlier[0] == command else seconds
        part = _part_of(pid, command, own_pid, worker_pids, watched_pids)
        if part is not None:
            parts[part] += spent
    parts["other"] = max(0.0, machine_seconds - sum(parts.values()))
    return parts


def _part_of(pid, command: bytes, own_pid, worker_pids, watched_pids) -> str | None:
    if pid == own_pid:
        return "loadrun"
    if pid in worker_pids:
        return "settlement workers"
    if command.startswith(b"postgres:") or os.path.basename(command.split(b"\0")[0]) == b"postgres":
        return "PostgreSQL"
    if pid in watched_pids:
        return "watched processes"
    return None
