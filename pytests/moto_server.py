"""moto's S3 (and other AWS) server on a free loopback port, for tests and benches.

``MotoServer`` starts ``python -m moto.server`` on 127.0.0.1, waits until it
answers, and always stops it (a context manager). ``reset()`` wipes its state
(``POST /moto-api/reset``) so tests sharing one server don't share data.
``env()`` is what a process needs to use it: fake credentials, the endpoint in
Metaflow's and boto3's variables, and the datastore root in a bucket.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BUCKET = "metaflow-test"
STARTUP_SECONDS = 60


class MotoServerError(RuntimeError):
    """moto's server could not be started: the tests that need it fail, never skip."""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer(object):
    def __init__(self, python=sys.executable, compute=False):
        self.python = python
        # True: Batch jobs run here and Step Functions executions run (moto_compute.py).
        self.compute = compute
        self.proc = None
        self.port = None
        self.log = None

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        # A port found free can be taken before moto binds it: try a few.
        for _ in range(5):
            self.port = free_port()
            self.log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)
            program = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "moto_compute.py")] \
                if self.compute else ["-m", "moto.server"]
            self.proc = subprocess.Popen(
                [self.python] + program + ["-H", "127.0.0.1", "-p", str(self.port)],
                # The jobs a compute server runs reach it as a container would.
                env=dict(os.environ, **self.env()) if self.compute else None,
                stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
            if self._wait_until_up():
                return self
            self.stop()
        raise MotoServerError("moto's server did not start; is moto[server] installed "
                              "(pip install -r requirements-dev.txt)? Its log: %s" % self.log_text())

    def _wait_until_up(self):
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=2).read()
                return True
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        return False

    def log_text(self):
        if self.log is None:
            return ""
        try:
            with open(self.log.name, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.log is not None:
            self.log.close()
            try:
                os.unlink(self.log.name)
            except OSError:
                pass
            self.log = None

    def reset(self):
        """Forget every bucket, object and other resource."""
        request = urllib.request.Request(self.endpoint + "/moto-api/reset", data=b"",
                                         method="POST")
        urllib.request.urlopen(request, timeout=10).read()

    def env(self, bucket=BUCKET, prefix="metaflow", endpoint=None):
        endpoint = endpoint or self.endpoint
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "METAFLOW_S3_ENDPOINT_URL": endpoint,
            "AWS_ENDPOINT_URL": endpoint,
            "METAFLOW_DATASTORE_SYSROOT_S3": "s3://%s/%s" % (bucket, prefix),
        }

    def make_bucket(self, bucket=BUCKET, endpoint=None):
        """Create ``bucket`` with a plain REST call (no boto3 in the test process needed)."""
        request = urllib.request.Request("%s/%s" % (endpoint or self.endpoint, bucket),
                                         data=b"", method="PUT")
        urllib.request.urlopen(request, timeout=10).read()

    def client(self, service):
        """A boto3 client of ``service`` on this server (boto3 imported only here)."""
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def make_batch_queue(self, queue):
        """An IAM role, an unmanaged compute environment and job queue ``queue``; the
        role's ARN."""
        role = self.client("iam").create_role(
            RoleName="metaflow-batch-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        batch = self.client("batch")
        environment = batch.create_compute_environment(
            computeEnvironmentName="metaflow-ce", type="UNMANAGED", state="ENABLED",
            serviceRole=role)["computeEnvironmentArn"]
        batch.create_job_queue(jobQueueName=queue, state="ENABLED", priority=1,
                               computeEnvironmentOrder=[{"order": 1,
                                                         "computeEnvironment": environment}])
        return role

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def main():
    """Run a server until killed and print its endpoint as JSON (for R's helper)."""
    server = MotoServer().start()
    try:
        print(json.dumps({"endpoint": server.endpoint, "pid": server.proc.pid}), flush=True)
        server.proc.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
