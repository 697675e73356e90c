@echo off
REM A Celery worker on the notifications queue (Windows: the solo pool).
cd /d "%~dp0.."
.venv\Scripts\celery -A worker.celery_app:celery worker -Q notifications -l INFO -P solo --without-gossip --without-mingle
