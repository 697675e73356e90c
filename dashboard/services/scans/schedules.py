"""`crontab(...)` for the scan catalogue, without importing Celery until a schedule is read.

Every process reads the catalogue, `python run.py scan` too, at each start; Celery's
schedules module (with the kombu and Celery utilities it loads) was a sixth of that start.
A `crontab(hour=6, minute=0)` here keeps its fields and builds Celery's own crontab the
first time anything reads it: beat (through `celery_schedule`), the pages' next run (its
`hour`, `minute`, ... sets), a comparison.
"""
from __future__ import annotations


class crontab:  # noqa: N801 - written like Celery's, which it stands for
    """Celery's crontab with these fields, made when first used."""

    def __init__(self, **fields):
        """Keep the fields (minute, hour, day_of_week, day_of_month, month_of_year)."""
        self.fields = fields
        self._celery = None

    def celery(self):
        """Celery's crontab of these fields (made once)."""
        if self._celery is None:
            from celery.schedules import crontab as celery_crontab

            self._celery = celery_crontab(**self.fields)
        return self._celery

    def __getattr__(self, name: str):
        """Anything else (hour, minute, is_due, ...) is Celery's crontab's."""
        if name.startswith("_") or name == "fields":
            raise AttributeError(name)
        return getattr(self.celery(), name)

    def __eq__(self, other) -> bool:
        """Equal to the same schedule, whether written here or with Celery's crontab."""
        return self.celery() == (other.celery() if isinstance(other, crontab) else other)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        """As Celery's crontab would show itself."""
        return repr(self.celery())


def celery_schedule(schedule):
    """A catalogue schedule as beat takes it: Celery's crontab for one written here, anything
    else (a timedelta, a crontab made with Celery's own class) as it is."""
    return schedule.celery() if isinstance(schedule, crontab) else schedule
