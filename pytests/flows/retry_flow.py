"""@retry: a step that fails on its first attempt only."""

from metaflow_core import FlowSpec, current, retry, step


class RetryFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.flaky)

    @retry(times=1, minutes_between_retries=0)
    @step
    def flaky(self):
        print("attempt %d" % current.retry_count)
        if current.retry_count == 0:
            raise RuntimeError("first attempt fails")
        self.succeeded_on = current.retry_count
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    RetryFlow()
