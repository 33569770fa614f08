"""Helpers the tests share: event writers, split folders, ingest subprocess harness (not shipped)."""
