"""A straight line: start -> middle -> end, printing to both streams."""

import sys

from metaflow_core import FlowSpec, current, step


def snapshot():
    return {
        "flow_name": current.flow_name,
        "run_id": current.run_id,
        "step_name": current.step_name,
        "task_id": current.task_id,
        "retry_count": current.retry_count,
        "pathspec": current.pathspec,
        "namespace": current.namespace,
        "username": current.username,
        "is_running_flow": current.is_running_flow,
        "origin_run_id": current.origin_run_id,
    }


class LinearFlow(FlowSpec):
    """A linear flow used by the runtime and CLI tests."""

    @step
    def start(self):
        """Set the first artifact."""
        self.a = 1
        self.start_current = snapshot()
        print("hello from stdout")
        print("hello from stderr", file=sys.stderr)
        self.next(self.middle)

    @step
    def middle(self):
        """Increment it."""
        self.a += 1
        self.next(self.end)

    @step
    def end(self):
        """Derive the last one."""
        self.b = self.a * 10
        self.end_current = snapshot()


if __name__ == "__main__":
    LinearFlow()
