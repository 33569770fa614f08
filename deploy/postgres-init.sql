-- Airflow's metadata database lives beside the platform's, in the same server.
CREATE USER airflow WITH PASSWORD 'airflow';
CREATE DATABASE airflow OWNER airflow;
