"""@environment(vars=...): variables in the step's process only."""

import os

from metaflow_core import FlowSpec, environment, step


class EnvironmentFlow(FlowSpec):
    @environment(vars={"MF_TEST_GREETING": "hello world", "MF_TEST_NUMBER": 7})
    @step
    def start(self):
        self.greeting = os.environ.get("MF_TEST_GREETING")
        self.number = os.environ.get("MF_TEST_NUMBER")
        self.next(self.end)

    @step
    def end(self):
        self.greeting_in_end = os.environ.get("MF_TEST_GREETING")


if __name__ == "__main__":
    EnvironmentFlow()
