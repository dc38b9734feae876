"""Where a run's CPU went, by process (wallets.loadrun.cpu): what each snapshot of /proc
counts towards which part, and that the parts add up to the machine's total."""

import os
import time

from wallets.loadrun.cpu import PARTS, cpu_by_part, processes_cpu
from wallets.loadrun.runner import cpu_figures

PYTHON = b"/usr/bin/python3\0manage.py\0loadrun"
BACKEND = b"postgres: 15/main: postgres ewallet 127.0.0.1(5000) idle"
POSTMASTER = b"/usr/lib/postgresql/15/bin/postgres\0-D\0/var/lib/postgresql/15/main"
CELERY = b"/venv/bin/python\0-m\0celery\0worker"
REDIS = b"redis-server 127.0.0.1:6379"


def parts(before, after, machine_seconds=100.0, **pids):
    return cpu_by_part(
        before,
        after,
        machine_seconds=machine_seconds,
        own_pid=pids.get("own", 10),
        worker_pids=pids.get("workers", {20, 21}),
        watched_pids=pids.get("watched", ()),
    )


def test_each_process_counts_towards_its_part_and_the_rest_is_other():
    before = {10: (PYTHON, 5.0), 20: (CELERY, 1.0), 30: (BACKEND, 2.0), 31: (POSTMASTER, 0.5)}
    after = {
        10: (PYTHON, 25.0),  # this process: 20 s
        20: (CELERY, 11.0),  # a worker: 10 s
        21: (CELERY, 4.0),  # its pool child, started during the run: all of its 4 s
        30: (BACKEND, 32.0),  # a backend: 30 s
        31: (POSTMASTER, 1.5),  # the server's first process, by its program's name: 1 s
        32: (BACKEND, 6.0),  # a backend that connected during the run: 6 s
        40: (REDIS, 9.0),  # nobody's part: in other, from the machine's total
    }
    figures = parts(before, after)
    assert set(figures) == set(PARTS)
    assert figures["loadrun"] == 20.0
    assert figures["settlement workers"] == 14.0
    assert figures["PostgreSQL"] == 37.0
    assert figures["watched processes"] == 0.0
    assert figures["other"] == 100.0 - 71.0  # the machine's total less the parts


def test_watched_processes_such_as_gunicorn_have_a_part_of_their_own():
    gunicorn = b"/venv/bin/python\0/venv/bin/gunicorn\0ewallet.wsgi"
    figures = parts({50: (gunicorn, 1.0)}, {50: (gunicorn, 8.0)}, watched={50})
    assert figures["watched processes"] == 7.0
    assert parts({50: (gunicorn, 1.0)}, {50: (gunicorn, 8.0)})["watched processes"] == 0.0


def test_a_reused_pid_is_a_new_process_and_counts_from_zero():
    figures = parts({30: (REDIS, 50.0)}, {30: (BACKEND, 3.0)})
    assert figures["PostgreSQL"] == 3.0  # not 3 - 50


def test_other_is_never_below_zero_when_the_clocks_tick_apart():
    figures = parts({10: (PYTHON, 0.0)}, {10: (PYTHON, 2.02)}, machine_seconds=2.0)
    assert figures["loadrun"] == 2.02 and figures["other"] == 0.0


def test_cpu_figures_give_each_part_per_transfer():
    figures = cpu_figures(
        3.0,
        run_seconds=2.0,
        transfers=20_000,
        parts_seconds={"loadrun": 1.0, "PostgreSQL": 2.0},
    )
    assert figures["per_transfer_us_by_part"] == {"loadrun": 50.0, "PostgreSQL": 100.0}
    assert cpu_figures(3.0, run_seconds=2.0, transfers=20_000)["per_transfer_us_by_part"] is None


def test_a_snapshot_reads_this_process_and_its_cpu_grows_as_it_works():
    first = processes_cpu()
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    second = processes_cpu()
    command, seconds = second[os.getpid()]
    assert command == first[os.getpid()][0] and b"python" in command
    assert seconds - first[os.getpid()][1] >= 0.1
    assert len(second) > 1  # the other processes of the machine too
