"""The worker's one logger: JSON lines on stdout, which awslogs ships to CloudWatch.

``__main__`` appends ``job_id``, ``batch_number`` and ``attempt`` once the spec is read,
so every later line can be found by job in CloudWatch Logs Insights.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="cloudburst-worker")
