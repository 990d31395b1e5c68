"""AWS: the S3 datastore (s3_storage) and AWS Batch (batch/), with the session
and client factory they share (aws_config). A local run imports no boto3: the
@batch decorator's module is loaded with the engine's decorators, but boto3
only once a job is submitted."""
