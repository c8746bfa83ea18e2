"""Parquet shards in and out: input expansion, validated reads, atomic writes."""
