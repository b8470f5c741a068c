"""CloudBurst's Fargate worker: renders one batch of scenes from S3 back to S3."""
