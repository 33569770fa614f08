"""Kafka -> Postgres ingest of app events (consumer service, sink, dead letters, metrics, benchmark)."""
