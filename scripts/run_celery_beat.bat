@echo off
REM The beat scheduler (RedBeat; only one fires the schedule).
cd /d "%~dp0.."
.venv\Scripts\celery -A worker.celery_app:celery beat -S worker.beat:ResilientRedBeatScheduler -l INFO
