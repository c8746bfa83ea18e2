"""Batch-local filters and transforms; every module here registers its stages on import."""
