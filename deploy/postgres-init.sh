#!/bin/bash
# Airflow's metadata database lives beside the platform's, in the same server; its password comes from .env.
set -euo pipefail
psql -v ON_ERROR_STOP=1 -v pw="$PG_AIRFLOW_PASSWORD" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
SET password_encryption = 'scram-sha-256';
CREATE USER airflow WITH PASSWORD :'pw';
CREATE DATABASE airflow OWNER airflow;
SQL
