"""Simulated payment load runs: who pays whom (population), when (scenarios), and what
came of it (stats, report). population, scenarios, stats and report are pure Python and
import nothing from Django. On the ledger: setup builds the institutions and the population
through the services (the demo and `apibench` build theirs there too), drivers offer the
transfers, workers and watch run and follow settlement, checks and report_data judge and
measure, and runner orchestrates a run."""
