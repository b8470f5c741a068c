"""Logical ids of the template's resources, and the names CloudFormation gives them.

``policies``, ``template``, ``functions`` and the local stack all refer to resources by these
ids; :func:`resource_names` says what ``Ref``/``GetAtt`` return for them, so a policy or a
property can be evaluated without AWS (``intrinsics.resolve``).
"""

from __future__ import annotations

from cloudburst.stage import resource_prefix

BUCKET = "JobBucket"
TABLE = "JobTable"
CLUSTER = "Cluster"
TASK_ROLE = "WorkerTaskRole"
EXECUTION_ROLE = "WorkerExecutionRole"
SECRET = "WebhookSecret"  # noqa: S105 (a logical id)
WORKER_LOG_GROUP = "WorkerLogGroup"
TASK_DEFINITION = "WorkerTaskDefinition"
ALARM_TOPIC = "AlarmTopic"
CONTAINER_NAME = "worker"


def resource_names(
    stage: str,
    *,
    account: str,
    region: str,
    bucket: str | None = None,
    table: str | None = None,
    cluster: str | None = None,
) -> dict[str, str]:
    """What ``Ref``/``GetAtt`` give for the stage's named resources (see ``intrinsics``).

    CloudFormation would name them as the template says; the local stack passes its own
    bucket, table and cluster names.
    """
    prefix = resource_prefix(stage)
    bucket = bucket or f"{prefix}-{account}-{region}"
    table = table or prefix
    cluster = cluster or prefix
    partition = "aws"
    roles = {
        TASK_ROLE: f"{prefix}-worker-task-{region}",
        EXECUTION_ROLE: f"{prefix}-worker-execution-{region}",
    }
    return {
        "AWS::Partition": partition,
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::StackName": f"cloudburst-{stage}",
        BUCKET: bucket,
        f"{BUCKET}.Arn": f"arn:{partition}:s3:::{bucket}",
        TABLE: table,
        f"{TABLE}.Arn": f"arn:{partition}:dynamodb:{region}:{account}:table/{table}",
        CLUSTER: cluster,
        f"{CLUSTER}.Arn": f"arn:{partition}:ecs:{region}:{account}:cluster/{cluster}",
        WORKER_LOG_GROUP: f"/ecs/{prefix}-worker",
        f"{WORKER_LOG_GROUP}.Arn": (
            f"arn:{partition}:logs:{region}:{account}:log-group:/ecs/{prefix}-worker:*"
        ),
        SECRET: (
            f"arn:{partition}:secretsmanager:{region}:{account}:secret:"
            f"{prefix}/webhook-signing-secret-AbCdEf"
        ),
        **{
            f"{logical}.Arn": f"arn:{partition}:iam::{account}:role/{n}"
            for logical, n in roles.items()
        },
    }
