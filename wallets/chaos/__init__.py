"""`manage.py chaos`: payments through the REST API while workers, Redis and PostgreSQL
are killed and restarted under them, then checks that no payment was lost or doubled."""
