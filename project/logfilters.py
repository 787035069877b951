"""Logging filters named in settings.LOGGING."""

import logging


class BeatDueTaskFilter(logging.Filter):
    """Drops celery beat's "Sending due task" line: with the queue drain due every second it
    would be most of the log; beat's start, errors and warnings still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Scheduler: Sending due task")
