"""Global deduplication stages (exact, MinHash)."""
