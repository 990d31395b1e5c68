"""boto3 sessions and clients configured the way Metaflow and boto3 are.

Where settings come from, first match wins:

- the S3 endpoint: ``METAFLOW_S3_ENDPOINT_URL`` (Metaflow's), then boto3's own
  ``AWS_ENDPOINT_URL_S3`` and ``AWS_ENDPOINT_URL`` (so an S3-compatible store
  such as MinIO or moto works with either convention); any other service:
  ``AWS_ENDPOINT_URL_<SERVICE>``, then ``AWS_ENDPOINT_URL``;
- the profile: ``METAFLOW_AWS_PROFILE``, then ``AWS_PROFILE`` (boto3 reads it);
- the region: ``METAFLOW_AWS_REGION``, ``AWS_REGION``, ``AWS_DEFAULT_REGION``,
  the profile's, else us-east-1 (S3 needs one to sign with, any one will do);
- retries: botocore's ``standard`` mode (``adaptive`` also rate-limits the
  client itself) with ``METAFLOW_S3_RETRY_COUNT`` attempts (default 7), or
  ``AWS_RETRY_MODE`` / ``AWS_MAX_ATTEMPTS`` when those are set. Standard mode
  retries throttling (SlowDown, Throttling*, RequestLimitExceeded), 5xx,
  connection errors and timeouts, with exponential backoff and full jitter.

boto3 is imported here, inside functions, and nothing outside plugins/aws/
imports this module: a local run never loads boto3.
"""

import os
import threading

from ...exceptions import MetaflowS3Error

DEFAULT_REGION = "us-east-1"
DEFAULT_RETRIES = 7
# Seconds: long enough for a slow store, short enough that a dead connection
# is retried well before a task's own timeout.
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
# At least as many pooled connections as transfer threads, so none waits for one.
DEFAULT_WORKERS = 16

# S3 error codes a retry can't fix: the configuration is wrong.
PERMANENT_CODES = frozenset((
    "NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "AllAccessDisabled", "InvalidBucketName", "AccountProblem", "ExpiredToken",
    "InvalidToken", "AuthorizationHeaderMalformed", "PermanentRedirect",
))

_lock = threading.Lock()
_clients = {}


def _env(*names):
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def endpoint_url(service="s3"):
    """The endpoint for ``service`` from the environment, or None for AWS's own."""
    own = "AWS_ENDPOINT_URL_%s" % service.upper().replace("-", "_")
    if service == "s3":
        return _env("METAFLOW_S3_ENDPOINT_URL", own, "AWS_ENDPOINT_URL")
    return _env(own, "AWS_ENDPOINT_URL")


def transfer_workers():
    """How many S3 transfers run at once (``METAFLOW_S3_WORKERS``)."""
    raw = os.environ.get("METAFLOW_S3_WORKERS")
    try:
        workers = int(raw) if raw else DEFAULT_WORKERS
    except ValueError:
        workers = 0
    if workers < 1:
        raise MetaflowS3Error("METAFLOW_S3_WORKERS must be a whole number of at least 1, "
                              "not *%s*." % raw)
    return workers


def retry_config():
    """botocore's retries setting: mode and total attempts."""
    mode = _env("METAFLOW_S3_RETRY_MODE", "AWS_RETRY_MODE") or "standard"
    if mode not in ("standard", "adaptive", "legacy"):
        raise MetaflowS3Error("The retry mode must be standard, adaptive or legacy, not *%s*."
                              % mode)
    raw = _env("METAFLOW_S3_RETRY_COUNT", "AWS_MAX_ATTEMPTS")
    try:
        attempts = int(raw) if raw else DEFAULT_RETRIES
    except ValueError:
        attempts = -1
    if attempts < 1:
        raise MetaflowS3Error("METAFLOW_S3_RETRY_COUNT must be a whole number of at least 1, "
                              "not *%s*." % raw)
    return {"mode": mode, "total_max_attempts": attempts}


def session():
    """A new boto3 session for the configured profile and region."""
    import boto3
    import botocore.exceptions

    profile = _env("METAFLOW_AWS_PROFILE", "AWS_PROFILE")
    try:
        made = boto3.session.Session(profile_name=profile)
    except botocore.exceptions.ProfileNotFound:
        raise MetaflowS3Error(
            "The AWS profile *%s* (from %s) is not in your AWS configuration files."
            % (profile, "METAFLOW_AWS_PROFILE" if os.environ.get("METAFLOW_AWS_PROFILE")
               else "AWS_PROFILE")) from None
    return made


def region(made=None):
    return (_env("METAFLOW_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
            or (made.region_name if made is not None else None) or DEFAULT_REGION)


def client(service="s3"):
    """A boto3 client for ``service``, one per process and settings (clients are
    thread-safe; sessions are not, so each client gets a session of its own)."""
    from botocore.config import Config

    workers = transfer_workers()
    settings = (service, endpoint_url(service), _env("METAFLOW_AWS_PROFILE", "AWS_PROFILE"),
                _env("METAFLOW_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
                tuple(sorted(retry_config().items())), workers, os.getpid())
    with _lock:
        found = _clients.get(settings)
        if found is not None:
            return found
        made = session()
        config = Config(retries=retry_config(), connect_timeout=CONNECT_TIMEOUT,
                        read_timeout=READ_TIMEOUT, max_pool_connections=workers + 4,
                        s3={"addressing_style": "path"} if settings[1] else None)
        new = made.client(service, endpoint_url=settings[1], region_name=region(made),
                          config=config)
        _clients[settings] = new
        return new


def s3_error(err, action, url):
    """A botocore or connection error of ``action`` on ``url`` as a headline error."""
    import botocore.exceptions

    if isinstance(err, botocore.exceptions.NoCredentialsError):
        return MetaflowS3Error(
            "Could not %s %s: no AWS credentials were found. Set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where an instance or task role "
            "provides them." % (action, url), url=url, action=action, code="NoCredentials")
    if isinstance(err, botocore.exceptions.ClientError):
        error = err.response.get("Error", {})
        code = str(error.get("Code") or err.response.get("ResponseMetadata", {})
                   .get("HTTPStatusCode", "unknown"))
        if code == "NoSuchBucket":
            why = "the bucket *%s* does not exist" % error.get("BucketName", url)
        elif code in ("AccessDenied", "403"):
            why = "access is denied (check the IAM permissions for this bucket and prefix)"
        else:
            why = "%s (%s)" % (error.get("Message") or "S3 said no", code)
        made = MetaflowS3Error("Could not %s %s: %s." % (action, url, why), url=url,
                               action=action, code=code)
        made.retry_helps = code not in PERMANENT_CODES
        return made
    if isinstance(err, botocore.exceptions.EndpointConnectionError):
        return MetaflowS3Error("Could not %s %s: S3 can't be reached at %s."
                               % (action, url, err.kwargs.get("endpoint_url", "its endpoint")),
                               url=url, action=action, code="EndpointConnectionError")
    return MetaflowS3Error("Could not %s %s: %s." % (action, url, err), url=url, action=action,
                           code=type(err).__name__)
