"""The Celery side: the app (`worker.celery_app`) and the tasks (`worker.tasks`)."""
