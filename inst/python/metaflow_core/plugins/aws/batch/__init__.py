"""AWS Batch: the ``@batch`` step decorator (batch_decorator) and the launcher that
runs a step's tasks as Batch jobs (batch_launcher)."""
