"""Reports built from a run's ledger and counters."""
