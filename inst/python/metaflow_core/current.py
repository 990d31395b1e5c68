"""``current``: what the running task knows about itself."""

import os


class Current(object):
    def __init__(self):
        self._is_running = False
        self._values = {}

    def _set_env(self, **values):
        self._is_running = True
        self._values = dict(values)

    def _extend(self, **values):
        """Values a decorator adds for the running task (``current.card``)."""
        self._values.update(values)

    @property
    def is_running_flow(self):
        return self._is_running

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        values = self.__dict__.get("_values", {})
        if name in values:
            return values[name]
        if name == "tempdir":
            return os.environ.get("METAFLOW_TEMPDIR", ".")
        if name == "pathspec":
            if not self._is_running:
                return None
            return "/".join(str(values[k]) for k in ("flow_name", "run_id", "step_name", "task_id"))
        if name == "graph":
            raise AttributeError("Graph is not available")
        if name in ("flow_name", "run_id", "step_name", "task_id", "retry_count",
                    "origin_run_id", "namespace", "username", "parameter_names"):
            return None
        raise AttributeError("current has no attribute '%s'" % name)

    def get(self, key, default=None):
        try:
            return getattr(self, key)
        except AttributeError:
            return default

    def __contains__(self, key):
        return key in self._values or key in ("is_running_flow", "tempdir", "pathspec")


current = Current()
