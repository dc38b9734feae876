"""Simulated payment load runs: who pays whom (population), when (scenarios), and what
came of it (stats, reports). population, scenarios, stats and report are pure Python and
import nothing from Django; runner and drivers put them to work on the ledger."""
