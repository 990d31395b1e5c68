"""AWS: the S3 datastore (s3_storage), with the session and client factory
they share (aws_config). Nothing here is imported by a local run."""
