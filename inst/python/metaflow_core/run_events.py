"""A run's progress as data: one JSON object a line, in the file ``--event-file`` names.

A front end reads the file while the run goes (R's ``run()`` draws its progress
display from it) instead of reading the runtime's log text. Each line is written
whole and flushed at once, so a reader that keeps what follows the last newline
for its next read never sees half an event. The events and their fields are in
inst/PROTOCOL.md ("Run events").
"""

import json
import threading
import time

from .exceptions import CommandException

EVENT_FILE_OPTION = "--event-file"


class RunEvents(object):
    """Writes events to ``path``; with no path, writes nothing."""

    def __init__(self, path=None):
        self._lock = threading.Lock()
        self._file = None
        if path:
            try:
                self._file = open(path, "w", encoding="utf-8")
            except OSError as err:
                raise CommandException("Could not write %s *%s*: %s."
                                       % (EVENT_FILE_OPTION, path, err.strerror))

    def emit(self, event, **fields):
        if self._file is None:
            return
        record = dict(event=event, time=round(time.time(), 3), **fields)
        line = json.dumps(record, separators=(",", ":")) + "\n"
        # Task output arrives on the launchers' reader threads.
        with self._lock:
            try:
                self._file.write(line)
                self._file.flush()
            except (OSError, ValueError):
                # A full disk loses the events, never the run.
                self._drop()

    def close(self):
        with self._lock:
            self._drop()

    def _drop(self):
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
