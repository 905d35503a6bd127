"""Live tests: real ``dagster-webserver`` and ``dagster-daemon`` processes on the production
instance config (``deploy/dagster.yaml``, storage on PostgreSQL), driven through GraphQL."""
