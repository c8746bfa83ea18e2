"""Engines that run a pipeline over shards: local (process pool), ray."""
