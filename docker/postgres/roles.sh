#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
# Two roles besides the superuser: the migrations role owns the schema and may change it;
# the app role (web, workers, beat) reads and writes rows and can change no table.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v db="$POSTGRES_DB" \
  -v migrate_pw="$EWALLET_DB_MIGRATE_PASSWORD" \
  -v app_pw="$EWALLET_DB_APP_PASSWORD" <<'SQL'
CREATE ROLE ewallet_migrate LOGIN PASSWORD :'migrate_pw';
CREATE ROLE ewallet_app LOGIN PASSWORD :'app_pw';
ALTER DATABASE :"db" OWNER TO ewallet_migrate;
ALTER SCHEMA public OWNER TO ewallet_migrate;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO ewallet_app;
-- Tables and sequences the migrations role creates are the app role's to use, not alter.
ALTER DEFAULT PRIVILEGES FOR ROLE ewallet_migrate IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ewallet_app;
ALTER DEFAULT PRIVILEGES FOR ROLE ewallet_migrate IN SCHEMA public
  GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO ewallet_app;
SQL
