"""The packaged template of every stage: lint-clean, complete, least privilege, one schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from chalicelib.adapters.table import TTL_ATTRIBUTE, table_definition
from cloudburst import stage as stage_module
from cloudburst.deploy.functions import FunctionSpec, function_resources
from cloudburst.deploy.repository import bootstrap_template
from cloudburst.deploy.template import LARGEST_PROFILE_MEMORY_MIB, infra_template

from .conftest import PROJECT, STAGES

NAME_PROPERTIES = (
    "BucketName",
    "TableName",
    "ClusterName",
    "Family",
    "RoleName",
    "QueueName",
    "TopicName",
    "LogGroupName",
    "AlarmName",
    "FunctionName",
    "RepositoryName",
    "Name",
)


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_every_stage_packaged_and_expanded_passes_cfn_lint_with_informational_checks_on(
    packaged: dict[str, Path], expanded: dict[str, dict[str, Any]], tmp_path: Path
):
    bootstrap = tmp_path / "bootstrap-dev.json"
    bootstrap.write_text(json.dumps(bootstrap_template("dev")))
    files = [str(p) for p in packaged.values()] + [str(bootstrap)]
    for stage, template in expanded.items():  # after the SAM transform, as deployed
        path = tmp_path / f"{stage}-expanded.json"
        path.write_text(json.dumps(template))
        files.append(str(path))

    linted = subprocess.run(  # one process: cfn-lint's start-up is most of its time
        [
            str(Path(sys.executable).with_name("cfn-lint")),
            "--format",
            "parseable",
            "--include-checks",
            "I",
            "--",
            *files,
        ],
        capture_output=True,
        text=True,
        check=False,
    )

    assert (linted.returncode, linted.stdout + linted.stderr) == (0, "")
    for path in packaged.values():
        assert (path.parent / "deployment.zip").stat().st_size > 0


def test_the_table_is_the_codes_own_definition_with_ttl_and_pitr_only_in_prod(templates):
    for stage, template in templates.items():
        [table] = resources_of(template, "AWS::DynamoDB::Table").values()
        properties = dict(table["Properties"])
        assert properties.pop("TimeToLiveSpecification") == {
            "AttributeName": TTL_ATTRIBUTE,
            "Enabled": True,
        }
        pitr = properties.pop("PointInTimeRecoverySpecification", None)
        assert pitr == ({"PointInTimeRecoveryEnabled": True} if stage == "prod" else None)
        assert properties == table_definition(f"cloudburst-{stage}")


def test_the_stack_outputs_every_name_the_tools_read(templates):
    for template in templates.values():
        assert set(stage_module.REQUIRED_OUTPUTS) <= set(template["Outputs"])
        assert stage_module.OUTPUT_TASK_DEFINITION in template["Outputs"]


def test_every_rule_has_a_dead_letter_queue_retries_an_alarm_and_its_function_a_log_group(
    templates,
):
    for template in templates.values():
        functions = resources_of(template, "AWS::Serverless::Function")
        assert {"OnManifestUploaded", "OnTaskStateChange", "Sweeper"} <= set(functions)
        for logical_id, function in functions.items():
            [event] = function["Properties"]["Events"].values()
            queue, alarm, log_group = (
                template["Resources"][name] for name in function_resources_of(logical_id, template)
            )
            assert event["Type"] in ("EventBridgeRule", "Schedule")
            assert event["Properties"]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][1] == "Arn"
            assert event["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] > 0
            assert queue["Type"] == "AWS::SQS::Queue"
            assert alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
            assert log_group["Properties"]["LogGroupName"] == (
                f"/aws/lambda/{function['Properties']['FunctionName']}"
            )
            assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def function_resources_of(logical_id: str, template: dict[str, Any]) -> tuple[str, str, str]:
    return function_resources(FunctionSpec("x", logical_id, "x", None))


def test_event_patterns_name_the_stacks_own_bucket_and_cluster(templates):
    for template in templates.values():
        functions = template["Resources"]
        [manifest] = functions["OnManifestUploaded"]["Properties"]["Events"].values()
        [stopped] = functions["OnTaskStateChange"]["Properties"]["Events"].values()
        assert manifest["Properties"]["Pattern"]["detail"]["bucket"]["name"] == [
            {"Ref": "JobBucket"}
        ]
        [cluster] = stopped["Properties"]["Pattern"]["detail"]["clusterArn"]
        assert cluster == {
            "wildcard": {"Fn::Sub": "arn:${AWS::Partition}:ecs:*:*:cluster/${Cluster}"}
        }
        assert "@@" not in json.dumps(template)


def test_the_lambdas_environment_names_resources_through_the_template_not_config_json(
    templates,
):
    config = json.loads((PROJECT / ".chalice" / "config.json").read_text())
    hand_written = [
        config["environment_variables"],
        *(s["environment_variables"] for s in config["stages"].values()),
    ]
    names = ("CLOUDBURST_BUCKET", "CLOUDBURST_TABLE", "CLOUDBURST_CLUSTER", "CLOUDBURST_SUBNETS")
    assert [n for env in hand_written for n in names if n in env] == []
    for template in templates.values():
        for function in resources_of(template, "AWS::Serverless::Function").values():
            env = function["Properties"]["Environment"]["Variables"]
            assert env["CLOUDBURST_BUCKET"] == {"Ref": "JobBucket"}
            assert env["CLOUDBURST_TASK_DEFINITION"] == {"Ref": "WorkerTaskDefinition"}
            assert env["CLOUDBURST_WEBHOOK_SECRET_ARN"] == {"Ref": "WebhookSecret"}
            assert "CLOUDBURST_WEBHOOK_SECRET" not in env


def test_no_policy_allows_a_star_action_and_star_resources_are_only_where_iam_has_no_other(
    templates,
):
    for template in [*templates.values(), bootstrap_template("dev")]:
        for statement in _allow_statements(template):
            actions = _as_list(statement["Action"])
            assert not [a for a in actions if "*" in a], statement
            if "*" in _as_list(statement.get("Resource", [])):
                # GetAuthorizationToken has no resource; ListTasks names container instances
                # (Fargate has none), so it is held to the stage's cluster by a condition
                assert actions in (["ecr:GetAuthorizationToken"], ["ecs:ListTasks"]), statement
                if actions == ["ecs:ListTasks"]:
                    assert "ecs:cluster" in statement["Condition"]["ArnEquals"], statement


def test_every_function_role_gets_the_templates_policy_not_chalices_placeholder(templates):
    for template in templates.values():
        for logical_id in resources_of(template, "AWS::Serverless::Function"):
            role = template["Resources"][f"{logical_id}Role"]["Properties"]
            policy, on_failure = role["Policies"]
            assert policy["PolicyName"] == f"{logical_id}Policy"
            effects = {s["Effect"] for s in policy["PolicyDocument"]["Statement"]}
            assert effects == {"Allow"}
            [send] = on_failure["PolicyDocument"]["Statement"]
            assert send["Action"] == "sqs:SendMessage"
            assert send["Resource"] == {"Fn::GetAtt": [f"{logical_id}DeadLetterQueue", "Arn"]}


def test_every_name_carries_the_stage(templates):
    for stage, template in templates.items():
        for logical_id, resource in template["Resources"].items():
            for key in NAME_PROPERTIES:
                if key in resource.get("Properties", {}):
                    if resource["Type"] == "AWS::Lambda::EventInvokeConfig":
                        continue  # FunctionName refers to the function, named below
                    name = json.dumps(resource["Properties"][key])
                    assert f"cloudburst-{stage}" in name, (logical_id, key, name)


def test_the_worker_task_can_grow_to_the_largest_profile(templates):
    for template in templates.values():
        task = template["Resources"]["WorkerTaskDefinition"]["Properties"]
        [container] = task["ContainerDefinitions"]
        assert "Memory" not in container  # a hard limit would cap the RunTask override
        assert container["MemoryReservation"] < LARGEST_PROFILE_MEMORY_MIB
        assert task["RequiresCompatibilities"] == ["FARGATE"]
        assert task["NetworkMode"] == "awsvpc"
        assert container["LogConfiguration"]["LogDriver"] == "awslogs"
        assert 21 <= task["EphemeralStorage"]["SizeInGiB"] <= 200


def test_the_bucket_is_versioned_evented_private_encrypted_and_expires_working_files(templates):
    for template in templates.values():
        bucket = template["Resources"]["JobBucket"]
        properties = bucket["Properties"]
        assert properties["NotificationConfiguration"] == {
            "EventBridgeConfiguration": {"EventBridgeEnabled": True}
        }
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
        assert all(properties["PublicAccessBlockConfiguration"].values())
        assert "BucketEncryption" in properties
        rules = properties["LifecycleConfiguration"]["Rules"]
        assert [r.get("Prefix") for r in rules if "ExpirationInDays" in r] == ["jobs/"]
        assert any("NoncurrentVersionExpiration" in r for r in rules)
        assert any("AbortIncompleteMultipartUpload" in r for r in rules)
        assert bucket["DeletionPolicy"] == "Retain"


def test_the_infra_template_is_the_same_for_the_same_stage_and_functions():
    # the digest `doctor` compares must not change between two builds of one checkout
    first, second = infra_template("dev", []), infra_template("dev", [])
    assert first["Metadata"] == second["Metadata"]
    assert first["Metadata"] != infra_template("prod", [])["Metadata"]


def _allow_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "Statement" in value and "Version" in value:
                found.extend(s for s in value["Statement"] if s["Effect"] == "Allow")
                return
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(template["Resources"])
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_stages_are_the_ones_config_json_declares():
    assert set(STAGES) == {"local", "dev", "prod"}


def test_any_number_of_event_handlers_get_their_rule_dlq_alarm_log_group_and_policy():
    # e.g. the cancel handler: S3 "Object Created" on cancel/*.json in the stage's bucket
    cancel = FunctionSpec(
        "on_cancel_requested",
        "OnCancelRequested",
        "OnCancelRequestedEvent",
        {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {
                "bucket": {"name": ["@@JobBucket@@"]},
                "object": {"key": [{"wildcard": "cancel/*.json"}]},
            },
        },
    )

    template = infra_template("dev", [cancel])

    resources = template["Resources"]
    event = resources["OnCancelRequested"]["Properties"]["Events"]["OnCancelRequestedEvent"]
    assert event["Properties"]["Pattern"]["detail"]["bucket"]["name"] == [{"Ref": "JobBucket"}]
    assert event["Properties"]["DeadLetterConfig"] == {
        "Arn": {"Fn::GetAtt": ["OnCancelRequestedDeadLetterQueue", "Arn"]}
    }
    queue, alarm, log_group = function_resources(cancel)
    assert {queue, alarm, log_group, "OnCancelRequestedRole"} <= set(resources)
    assert resources[log_group]["Properties"]["LogGroupName"] == (
        "/aws/lambda/cloudburst-dev-on_cancel_requested"
    )


def test_print_policy_prints_a_deployer_policy_with_no_star_action(capsys):
    from cloudburst.cli import main

    assert main(["deploy", "--print-policy"]) == 0

    policy = json.loads(capsys.readouterr().out)
    actions = [a for s in policy["Statement"] for a in _as_list(s["Action"])]
    assert "cloudformation:CreateStack" in actions
    assert not [a for a in actions if "*" in a]
    for statement in policy["Statement"]:
        if "*" in _as_list(statement["Resource"]):
            assert statement["Sid"] in {
                "RegisterTaskDefinitions",
                "NetworkCreate",
                "ReadOnlyChecks",
                "SimulatePolicies",
            }


# Resource types that hold data a user or the stage would miss.
DATA_TYPES = {
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::Logs::LogGroup",
    "AWS::SecretsManager::Secret",
    "AWS::ECR::Repository",
}


def test_every_resource_holding_data_says_what_happens_to_it_on_delete_and_replace(expanded):
    templates = [*expanded.values(), bootstrap_template("dev")]
    for template in templates:
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] in DATA_TYPES:
                assert resource.get("DeletionPolicy") in ("Delete", "Retain"), logical_id
                assert resource.get("UpdateReplacePolicy") == resource["DeletionPolicy"]
    for template in expanded.values():
        [bucket] = resources_of(template, "AWS::S3::Bucket").values()
        assert bucket["DeletionPolicy"] == "Retain"  # the user's jobs and videos


def test_no_bucket_has_a_name_someone_else_could_take_first(expanded):
    templates = [*expanded.values(), bootstrap_template("dev")]
    for template in templates:
        for logical_id, bucket in resources_of(template, "AWS::S3::Bucket").items():
            assert "BucketName" not in bucket["Properties"], logical_id


def test_every_lambda_sends_what_it_gives_up_on_to_its_queue_and_alarms_on_errors(expanded):
    for template in expanded.values():
        functions = resources_of(template, "AWS::Lambda::Function")
        configs = {
            r["Properties"]["FunctionName"]["Ref"]: r["Properties"]
            for r in resources_of(template, "AWS::Lambda::EventInvokeConfig").values()
        }
        assert set(configs) == set(functions)
        for logical_id, config in configs.items():
            assert config["Qualifier"] == "$LATEST"
            assert config["MaximumRetryAttempts"] == 2
            assert config["DestinationConfig"]["OnFailure"]["Destination"] == {
                "Fn::GetAtt": [f"{logical_id}DeadLetterQueue", "Arn"]
            }
            # the sweeper redrives that queue
            queues = functions[logical_id]["Properties"]["Environment"]["Variables"][
                "CLOUDBURST_DEAD_LETTER_QUEUES"
            ]
            assert {"Ref": f"{logical_id}DeadLetterQueue"} in queues["Fn::Join"][1]
            alarm = template["Resources"][f"{logical_id}ErrorsAlarm"]["Properties"]
            names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"][:2]}
            assert names == {"Errors", "Throttles"}
            assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert functions["Sweeper"]["Properties"]["ReservedConcurrentExecutions"] == 1
        others = [f for k, f in functions.items() if k != "Sweeper"]
        assert all("ReservedConcurrentExecutions" not in f["Properties"] for f in others)


def test_the_alarm_topic_is_one_cloudwatch_can_publish_to_and_mails_the_given_address(expanded):
    for template in expanded.values():
        topic = template["Resources"]["AlarmTopic"]["Properties"]
        assert "KmsMasterKeyId" not in topic  # CloudWatch cannot use the AWS-managed key
        subscription = template["Resources"]["AlarmEmailSubscription"]
        assert subscription["Condition"] == "HasAlarmEmail"
        assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}


def test_the_task_gets_the_ephemeral_storage_pricing_bills(templates):
    from chalicelib import pricing

    for template in templates.values():
        task = template["Resources"]["WorkerTaskDefinition"]["Properties"]
        assert task["EphemeralStorage"] == {"SizeInGiB": pricing.EPHEMERAL_STORAGE_GIB}
