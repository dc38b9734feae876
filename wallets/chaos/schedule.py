"""What a chaos run does, from its seed alone: the payments and the faults. Pure."""

import random
from dataclasses import dataclass

KILL_WORKER = "kill_worker"  # SIGKILL one settlement worker (its children too), restart it
RESTART_REDIS = "restart_redis"  # SIGKILL redis-server, start it again, empty
RESTART_POSTGRES = "restart_postgres"  # immediate stop (a crash), start again
DROP_CONNECTIONS = "drop_connections"  # clients close their socket right after sending
KINDS = (KILL_WORKER, RESTART_REDIS, RESTART_POSTGRES, DROP_CONNECTIONS)


@dataclass(frozen=True)
class Payment:
    index: int
    payer: int  # wallet index
    payee: int
    amount: int  # fen


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the first payment is due
    kind: str
    target: int  # the worker's number, or how many requests to cut off; 0 otherwise


def payment_plan(*, seed: int, transfers: int, wallets: int) -> list[Payment]:
    """Person-to-person payments of 0.01 to 200.00 CNY between distinct wallets."""
    rng = random.Random(f"chaos-payments:{seed}")
    payments = []
    for index in range(transfers):
        payer = rng.randrange(wallets)
        payee = (payer + 1 + rng.randrange(wallets - 1)) % wallets
        payments.append(Payment(index, payer, payee, rng.randint(1, 20_000)))
    return payments


def fault_schedule(
    *,
    seed: int,
    seconds: float,
    workers: int,
    kill_every: tuple[float, float] = (2.0, 4.0),
    drop_every: tuple[float, float] = (1.0, 2.5),
    redis_every: float = 20.0,
) -> list[Fault]:
    """Faults over `seconds`, in time order, every kind at least once: a worker killed every
    `kill_every` seconds (between the two, at random), requests cut off every `drop_every`,
    Redis restarted about every `redis_every` seconds, PostgreSQL restarted once in the
    middle third. The last fault is a worker kill at the end, so the backlog is timed
    from a fault."""
    rng = random.Random(f"chaos-faults:{seed}")
    faults = []

    def every(span: tuple[float, float], first: float):
        at = first
        while at < seconds:
            yield at
            at += rng.uniform(*span)

    faults += [Fault(at, KILL_WORKER, rng.randrange(workers)) for at in every(kill_every, 1.0)]
    faults.append(Fault(seconds, KILL_WORKER, rng.randrange(workers)))
    faults += [Fault(at, DROP_CONNECTIONS, rng.randint(1, 3)) for at in every(drop_every, 0.5)]
    restarts = max(1, round(seconds / redis_every))
    for number in range(restarts):
        slot = seconds / restarts
        faults.append(Fault(slot * number + slot * rng.uniform(0.2, 0.8), RESTART_REDIS, 0))
    faults.append(Fault(seconds * rng.uniform(0.35, 0.65), RESTART_POSTGRES, 0))
    return sorted(faults, key=lambda fault: (fault.at, fault.kind))
