"""The Celery app. Tasks live in each app's tasks.py and are found by autodiscovery."""

import os

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ewallet.settings")

app = Celery("ewallet")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _drop_broken_database_connections(task=None, **_) -> None:
    """Before each task in a worker, close a database connection that an error left
    unusable. Celery's own fix-up keeps connections for CELERY_DB_REUSE_MAX tasks without
    looking at them, so after a PostgreSQL restart every later task failed on the dead
    one. Only after an error, so a healthy connection costs nothing here. Not when eager:
    the task then runs in the caller's process, perhaps inside its transaction."""
    if task is None or getattr(task.request, "is_eager", False):
        return
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and connection.errors_occurred:
            if connection.is_usable():
                connection.errors_occurred = False
            else:
                connection.close()
