"""Global source-balancing stages."""
