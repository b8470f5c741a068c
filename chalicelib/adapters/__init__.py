"""Adapters: the AWS services behind the use cases (DynamoDB, S3, ECS) and their in-memory twins."""
