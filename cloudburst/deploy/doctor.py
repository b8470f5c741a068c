"""``cloudburst doctor --stage S``: the checks a user's first failed job would otherwise make.

One line per check, ``PASS`` or ``FAIL``, and every failure says how to fix it. Each check
is a function of a few boto3 clients and the stage's names, so a test can run it alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import pricing
from chalicelib.settings import DEFAULT_MAX_RUNNING_TASKS, ENV
from cloudburst import stage as stages
from cloudburst.deploy.deployer_policy import deployer_policy
from cloudburst.deploy.policies import LAMBDA_CALLS
from cloudburst.deploy.template import LARGEST_PROFILE_VCPU, infra_digest
from cloudburst.stage import resource_prefix

# Service Quotas codes (service "fargate"), as `aws service-quotas
# list-aws-default-service-quotas --service-code fargate` lists them.
FARGATE_ON_DEMAND_VCPU = "L-3032A538"  # Fargate On-Demand vCPU resource count
FARGATE_SPOT_VCPU = "L-36FBB829"  # Fargate Spot vCPU resource count
LAMBDA_CONCURRENCY = "L-B99A9384"  # Lambda: Concurrent executions
ENDPOINT_SERVICES = ("s3", "ecr.api", "ecr.dkr", "logs")
DEFAULT_PROFILE = pricing.PROFILES[1]  # a manifest's default config_priority

Clients = Callable[[str], Any]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.detail}"
        return text if self.ok else f"{text}\n      fix: {self.fix}"


@dataclass(frozen=True)
class StageFacts:
    """What the checks need to know about the deployed stage (from its stack)."""

    stage: str
    region: str
    account: str
    outputs: dict[str, str]
    parameters: dict[str, str]
    roles: dict[str, str]  # logical id → role ARN, for every IAM role of the stack
    template: dict[str, Any]  # as deployed (before the SAM transform)
    resources: dict[str, tuple[str, str]]  # logical id → (type, physical id)

    @property
    def functions(self) -> dict[str, dict[str, Any]]:
        """The deployed template's Lambdas (logical id → properties)."""
        return {
            k: r.get("Properties", {})
            for k, r in self.template.get("Resources", {}).items()
            if r.get("Type") == "AWS::Serverless::Function"
        }

    def of_type(self, kind: str) -> dict[str, str]:
        return {k: physical for k, (t, physical) in self.resources.items() if t == kind}


def run_doctor(stage: str, region: str, clients: Clients, say: Callable[[str], None]) -> bool:
    """Run every check, print one line each; True when all pass. Any AWS error becomes the
    FAIL line of the check that met it, never a traceback."""
    checks: list[Check] = []
    identity = guarded("credentials", lambda: check_credentials(clients, region))
    checks.append(identity)
    if identity.ok:
        found: list[StageFacts | None] = [None]

        def stack() -> Check:
            check, found[0] = check_stack(clients, stage, region)
            return check

        checks.append(guarded("stack", stack))
        facts = found[0]
        boundary = (facts.parameters.get("PermissionsBoundary") if facts else None) or None
        checks.append(
            guarded("deployer permissions", lambda: check_caller(clients, region, boundary))
        )
        checks.append(guarded("region", lambda: check_region(clients, region)))
        if facts is not None:
            cap = stage_cap(facts.template)
            steps: list[tuple[str, Callable[[], Check | list[Check]]]] = [
                ("worker image", lambda: check_image(clients, facts)),
                ("worker roles", lambda: check_worker_roles(clients, facts)),
                ("network", lambda: check_network(clients, facts)),
                ("security group", lambda: check_egress(clients, facts)),
                ("webhook secret", lambda: check_secret(clients, facts)),
                ("rules", lambda: check_rules(clients, facts)),
                ("dead letters", lambda: check_dead_letters(clients, facts)),
                ("Lambda errors", lambda: check_lambda_errors(clients, facts)),
                ("Fargate quotas", lambda: check_fargate_quotas(clients, cap, facts)),
                ("Lambda concurrency", lambda: check_lambda_concurrency(clients, cap)),
                ("Lambda permissions", lambda: check_lambda_permissions(clients, facts)),
                ("architecture", lambda: check_architecture(facts)),
            ]
            for name, step in steps:
                result = guarded_many(name, step)
                checks += result
    for check in checks:
        say(check.line())
    return all(check.ok for check in checks)


def guarded(name: str, check: Callable[[], Check]) -> Check:
    """The check, or its FAIL line when AWS refused or answered something unexpected."""
    return guarded_many(name, check)[0]


def guarded_many(name: str, check: Callable[[], Check | list[Check]]) -> list[Check]:
    try:
        result = check()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "error")
        fix = (
            f"allow {exc.operation_name} (cloudburst deploy --print-policy lists it)"
            if code in _DENIED
            else "retry; if it persists, check the stage in the AWS console"
        )
        return [Check(name, False, f"{code}: {error.get('Message', '')}", fix)]
    except Exception as exc:  # an unreadable answer is a FAIL line, never a traceback
        detail = f"{type(exc).__name__}: {str(exc)[:300]}"
        return [Check(name, False, detail, "retry; if it persists, redeploy the stage")]
    return result if isinstance(result, list) else [result]


_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthFailure"}


def check_credentials(clients: Clients, region: str) -> Check:
    try:
        identity = clients("sts").get_caller_identity()
    except (ClientError, BotoCoreError) as exc:
        return Check(
            "credentials",
            False,
            str(exc),
            "configure AWS credentials (aws configure, AWS_PROFILE or a role) and try again",
        )
    return Check("credentials", True, f"{identity['Arn']} in {region}")


def check_stack(clients: Clients, stage: str, region: str) -> tuple[Check, StageFacts | None]:
    cfn = clients("cloudformation")
    name = stages.stack_name(stage)
    deploy_fix = f"cloudburst deploy --stage {stage} --region {region}"
    try:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError:
        return Check("stack", False, f"{name} not found in {region}", deploy_fix), None
    status = stack["StackStatus"]
    account = stack["StackId"].split(":")[4]
    body = cfn.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]
    template = json.loads(body) if isinstance(body, str) else body
    resources = _resources(cfn, name)
    facts = StageFacts(
        stage=stage,
        region=region,
        account=account,
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in stack["Parameters"]},
        roles=_roles(resources, account),
        template=template,
        resources=resources,
    )
    if status.endswith("_IN_PROGRESS"):
        return Check("stack", False, f"{name} is {status}", "wait for it, then run doctor"), facts
    if not status.endswith("_COMPLETE") or status.startswith("ROLLBACK"):
        return Check("stack", False, f"{name} is {status}", deploy_fix), facts
    deployed = template.get("Metadata", {}).get("CloudBurst", {}).get("InfraDigest")
    if deployed != infra_digest(stage):
        return (
            Check(
                "stack",
                False,
                f"{name} was deployed from another checkout (infra {deployed})",
                deploy_fix,
            ),
            facts,
        )
    return Check("stack", True, f"{name} {status}, matches this checkout"), facts


def check_image(clients: Clients, facts: StageFacts) -> Check:
    arn = facts.outputs.get(stages.OUTPUT_TASK_DEFINITION)
    fix = f"cloudburst deploy --stage {facts.stage} (builds and pushes the image)"
    if not arn:
        return Check("worker image", False, "the stack reports no task definition", fix)
    task = clients("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
    image = task["containerDefinitions"][0]["image"]
    architecture = task.get("runtimePlatform", {}).get("cpuArchitecture", "X86_64")
    repository, _, tag = image.split("/", 1)[1].partition(":")
    try:
        clients("ecr").describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ClientError as exc:
        return Check("worker image", False, f"{image}: {exc.response['Error']['Code']}", fix)
    built_for = tag.split("-", 1)[0].replace("_", "").upper()
    if built_for != architecture.replace("_", "").upper():
        detail = f"{image} was built for {built_for}, the task runs {architecture}"
        return Check("worker image", False, detail, fix + " with the matching --arch")
    return Check("worker image", True, f"{image} ({architecture})")


def check_network(clients: Clients, facts: StageFacts) -> Check:
    """Each worker subnet must reach ECR, S3 and CloudWatch Logs: an internet gateway with
    public IPs, a NAT gateway, or VPC endpoints for all four services."""
    ec2 = clients("ec2")
    subnets = [s for s in facts.outputs.get("WorkerSubnets", "").split(",") if s]
    made_vpc = not facts.parameters.get("SubnetIds", "").strip("[]'\" ")
    public_ip = made_vpc or facts.parameters.get("AssignPublicIp") == "true"
    fix = (
        "route 0.0.0.0/0 to an internet gateway and deploy with public IPs, or to a NAT "
        f"gateway, or add VPC endpoints for {', '.join(ENDPOINT_SERVICES)}"
    )
    if not subnets:
        return Check("network", False, "the stack reports no worker subnets", fix)
    stuck = []
    for subnet in ec2.describe_subnets(SubnetIds=subnets)["Subnets"]:
        if not _way_out(ec2, subnet, public_ip, facts.region):
            stuck.append(subnet["SubnetId"])
    if stuck:
        return Check("network", False, f"no way out from {', '.join(stuck)}", fix)
    return Check("network", True, f"{len(subnets)} subnet(s) reach ECR, S3 and Logs")


def check_fargate_quotas(clients: Clients, cap: int, facts: StageFacts) -> list[Check]:
    """The vCPU quota must start one task of the largest profile, and the stage's cap of
    tasks at the default profile: what the cap can really use, not cap × the largest."""
    quotas = clients("service-quotas")
    needed = max(LARGEST_PROFILE_VCPU, cap * DEFAULT_PROFILE.vcpu)
    found = []
    arm64 = facts.parameters.get("WorkerArchitecture") == "arm64"
    for label, code in (("On-Demand", FARGATE_ON_DEMAND_VCPU), ("Spot", FARGATE_SPOT_VCPU)):
        name = f"Fargate {label} vCPU quota"
        if label == "Spot" and arm64:
            found.append(Check(name, True, "not used: arm64 workers run on demand"))
            continue
        quota = quotas.get_service_quota(ServiceCode="fargate", QuotaCode=code)["Quota"]
        value = float(quota["Value"])
        detail = (
            f"{value:.0f} vCPU: {int(value // DEFAULT_PROFILE.vcpu)} {DEFAULT_PROFILE.label}"
            f" ({DEFAULT_PROFILE.vcpu:g} vCPU) tasks at once for a cap of {cap},"
            f" {int(value // LARGEST_PROFILE_VCPU)} of the largest ({LARGEST_PROFILE_VCPU} vCPU)"
        )
        fix = (
            "aws service-quotas request-service-quota-increase --service-code fargate"
            f" --quota-code {code} --desired-value {needed:g}"
            " (or lower CLOUDBURST_MAX_RUNNING_TASKS)"
        )
        found.append(Check(name, value >= needed, detail, fix))
    return found


def check_lambda_concurrency(clients: Clients, cap: int) -> Check:
    """Tasks that stop together invoke the completion Lambda together (up to the task cap),
    and the sweeper's reserved run must leave AWS's minimum of 10 unreserved."""
    limit = clients("lambda").get_account_settings()["AccountLimit"]
    free = int(limit["UnreservedConcurrentExecutions"])
    needed = max(min(cap, 100), 10)
    fix = (
        "aws service-quotas request-service-quota-increase --service-code lambda"
        f" --quota-code {LAMBDA_CONCURRENCY} --desired-value {max(needed * 2, 100)}"
    )
    return Check("Lambda concurrency", free >= needed, f"{free} unreserved, {needed} needed", fix)


def check_lambda_permissions(clients: Clients, facts: StageFacts) -> Check:
    """Simulate every call the code makes (policies.LAMBDA_CALLS) against each Lambda role."""
    iam = clients("iam")
    names = _arns(facts)
    lambda_roles = {k: v for k, v in facts.roles.items() if not k.startswith("Worker")}
    denied: list[str] = []
    # a call on a resource the stack does not report cannot be simulated: say which
    calls = [c for c in LAMBDA_CALLS if c[1] == "*" or names[_placeholder(c[1])]]
    skipped = sorted({call[0] for call in LAMBDA_CALLS if call not in calls})
    for logical, role in sorted(lambda_roles.items()):
        for action, resource, context in calls:
            entries = [
                {
                    "ContextKeyName": key,
                    "ContextKeyValues": [value.format(**names)],
                    "ContextKeyType": "string",
                }
                for key, value in context.items()
            ]
            result = iam.simulate_principal_policy(
                PolicySourceArn=role,
                ActionNames=[action],
                ResourceArns=[resource.format(**names)],
                ContextEntries=entries,
            )["EvaluationResults"][0]
            if result["EvalDecision"] != "allowed":
                denied.append(f"{logical} {action}")
    fix = f"cloudburst deploy --stage {facts.stage} (the template carries the policies)"
    if denied:
        return Check("Lambda permissions", False, "denied: " + ", ".join(denied), fix)
    detail = f"{len(lambda_roles)} role(s) allow all {len(calls)} calls"
    if skipped:
        detail += f" (not simulated, the stack names no resource for: {', '.join(skipped)})"
    return Check("Lambda permissions", bool(lambda_roles), detail, fix)


def check_caller(clients: Clients, region: str, boundary: str | None = None) -> Check:
    """Simulate the caller's own policies against what deploy, destroy and doctor need
    (with the stage's permissions boundary, as `--print-policy` would print it)."""
    identity = clients("sts").get_caller_identity()
    principal = caller_principal(identity["Arn"])
    fix = "attach the policy `cloudburst deploy --print-policy` prints to this identity"
    if principal is None:
        return Check("deployer permissions", True, "the account's root user may do anything")
    iam = clients("iam")
    denied: list[str] = []
    requests = simulation_requests(deployer_policy(boundary), region, identity["Account"])
    for actions, resource, context in requests:
        results = iam.simulate_principal_policy(
            PolicySourceArn=principal,
            ActionNames=actions,
            ResourceArns=[resource],
            ContextEntries=context,
        )["EvaluationResults"]
        denied += [r["EvalActionName"] for r in results if r["EvalDecision"] != "allowed"]
    if denied:
        shown = ", ".join(sorted(set(denied))[:8]) + (" …" if len(set(denied)) > 8 else "")
        return Check("deployer permissions", False, f"{principal} lacks {shown}", fix)
    total = sum(len(r[0]) for r in requests)
    return Check("deployer permissions", True, f"{principal} may make all {total} calls")


def caller_principal(arn: str) -> str | None:
    """The IAM principal whose policies apply: an assumed role's role, a user; None for root.
    (A role with a path is named without it: IAM's simulation then says it is not found.)"""
    parts = arn.split(":", 5)
    account, resource = parts[4], parts[5]
    if resource == "root":
        return None
    if parts[2] == "sts" and resource.startswith("assumed-role/"):
        return f"arn:aws:iam::{account}:role/{resource.split('/')[1]}"
    return arn


Simulation = tuple[list[str], str, list[dict[str, Any]]]


def simulation_requests(policy: dict[str, Any], region: str, account: str) -> list[Simulation]:
    """One simulation per statement: its actions, on a resource its pattern matches, with the
    condition values it asks for (IAM's simulator evaluates conditions it is given)."""
    requests: list[Simulation] = []
    for statement in policy["Statement"]:
        resources = statement["Resource"]
        pattern = resources if isinstance(resources, str) else resources[0]
        context = [
            {
                "ContextKeyName": key,
                "ContextKeyValues": [_concrete(v if isinstance(v, str) else v[0])],
                "ContextKeyType": "string",
            }
            for test in statement.get("Condition", {}).values()
            for key, v in test.items()
        ]
        requests.append((list(statement["Action"]), _sample(pattern, region, account), context))
    return requests


def _sample(pattern: str, region: str, account: str) -> str:
    if pattern == "*":
        return "*"
    parts = pattern.split(":", 5)
    if len(parts) == 6:
        parts[3] = region if parts[3] == "*" else parts[3]
        parts[4] = account if parts[4] == "*" else parts[4]
    return _concrete(":".join(parts))


def _concrete(pattern: str) -> str:
    return pattern.replace("*", "x")


def check_region(clients: Clients, region: str) -> Check:
    """The region is enabled for the account; its prices are known (else us-east-1's)."""
    [found] = clients("ec2").describe_regions(RegionNames=[region], AllRegions=True)["Regions"]
    status = found.get("OptInStatus", "opt-in-not-required")
    fix = f"enable {region} for the account (Account settings, AWS Regions) or use another"
    if status not in ("opt-in-not-required", "opted-in"):
        return Check("region", False, f"{region} is {status}", fix)
    priced = region in pricing.priced_regions()
    detail = f"{region} enabled" + ("" if priced else "; costs are estimated at us-east-1 prices")
    return Check("region", True, detail)


def check_worker_roles(clients: Clients, facts: StageFacts) -> Check:
    """The task definition names the stack's two worker roles, ECS tasks may assume both,
    and each may make the calls a task makes (image pull, logs; S3 in and out)."""
    fix = f"cloudburst deploy --stage {facts.stage} (the template carries the roles)"
    task = clients("ecs").describe_task_definition(
        taskDefinition=facts.outputs[stages.OUTPUT_TASK_DEFINITION]
    )["taskDefinition"]
    iam = clients("iam")
    wrong: list[str] = []
    names = _arns(facts)
    expected = {
        "taskRoleArn": facts.roles.get("WorkerTaskRole"),
        "executionRoleArn": facts.roles.get("WorkerExecutionRole"),
    }
    for field, arn in expected.items():
        if not arn or task.get(field) != arn:
            wrong.append(f"{field} is {task.get(field)}, not the stack's role")
            continue
        role = iam.get_role(RoleName=arn.rsplit("/", 1)[1])["Role"]
        trust = role.get("AssumeRolePolicyDocument", {})
        trust = json.loads(trust) if isinstance(trust, str) else trust
        if "ecs-tasks.amazonaws.com" not in json.dumps(trust):
            wrong.append(f"{arn} does not trust ecs-tasks.amazonaws.com")
    image = task["containerDefinitions"][0]["image"]
    repository = image.split("/", 1)[1].split(":", 1)[0]
    log_group = f"/ecs/{resource_prefix(facts.stage)}-worker"
    calls = {
        "executionRoleArn": [
            (
                "ecr:BatchGetImage",
                f"arn:aws:ecr:{facts.region}:{facts.account}:repository/{repository}",
            ),
            (
                "ecr:GetDownloadUrlForLayer",
                f"arn:aws:ecr:{facts.region}:{facts.account}:repository/{repository}",
            ),
            ("ecr:GetAuthorizationToken", "*"),
            (
                "logs:PutLogEvents",
                f"arn:aws:logs:{facts.region}:{facts.account}:log-group:"
                f"{log_group}:log-stream:worker/x",
            ),
        ],
        "taskRoleArn": [
            ("s3:GetObject", f"{names['bucket_arn']}/jobs/x/batches/0001.json"),
            ("s3:GetObjectVersion", f"{names['bucket_arn']}/inputs/x/scene_001.png"),
            ("s3:PutObject", f"{names['bucket_arn']}/outputs/x/scene.mp4"),
            ("s3:ListBucket", names["bucket_arn"]),
        ],
    }
    for field, role_calls in calls.items():
        arn = expected[field]
        if not arn or task.get(field) != arn:
            continue
        for action, resource in role_calls:
            [result] = iam.simulate_principal_policy(
                PolicySourceArn=arn, ActionNames=[action], ResourceArns=[resource]
            )["EvaluationResults"]
            if result["EvalDecision"] != "allowed":
                wrong.append(f"{arn.rsplit('/', 1)[1]} may not {action}")
    if wrong:
        return Check("worker roles", False, "; ".join(wrong), fix)
    return Check("worker roles", True, "task and execution roles trusted by ECS, calls allowed")


def check_egress(clients: Clients, facts: StageFacts) -> Check:
    """The workers' security group lets HTTPS out (image, S3, ECR, Logs)."""
    groups = [g for g in facts.outputs.get("WorkerSecurityGroup", "").split(",") if g]
    if not groups:
        return Check(
            "security group",
            False,
            "the stage has no security group for its tasks",
            f"cloudburst deploy --stage {facts.stage} --subnets … --security-group sg-…",
        )
    found = clients("ec2").describe_security_groups(GroupIds=groups)["SecurityGroups"]
    closed = [g["GroupId"] for g in found if not _https_out(g.get("IpPermissionsEgress", []))]
    if closed:
        return Check(
            "security group",
            False,
            f"{', '.join(closed)} lets no HTTPS out",
            f"aws ec2 authorize-security-group-egress --group-id {closed[0]}"
            " --protocol tcp --port 443 --cidr 0.0.0.0/0",
        )
    return Check("security group", True, f"{', '.join(groups)} lets HTTPS out")


def _https_out(rules: list[dict[str, Any]]) -> bool:
    for rule in rules:
        protocol = str(rule.get("IpProtocol"))
        ports = protocol == "-1" or (
            protocol in ("tcp", "6") and rule.get("FromPort", 0) <= 443 <= rule.get("ToPort", 0)
        )
        anywhere = any(r.get("CidrIp") == "0.0.0.0/0" for r in rule.get("IpRanges", []))
        if ports and (anywhere or rule.get("PrefixListIds") or rule.get("UserIdGroupPairs")):
            return True
    return False


def check_secret(clients: Clients, facts: StageFacts) -> Check:
    """The webhook signing secret exists and is not being deleted (the Lambdas' right to
    read it is simulated under "Lambda permissions")."""
    arn = facts.outputs.get(stages.OUTPUT_SECRET)
    fix = f"cloudburst deploy --stage {facts.stage}"
    if not arn:
        return Check("webhook secret", False, "the stack reports no secret", fix)
    secret = clients("secretsmanager").describe_secret(SecretId=arn)
    if secret.get("DeletedDate"):
        return Check(
            "webhook secret",
            False,
            f"{arn} is scheduled for deletion",
            f"aws secretsmanager restore-secret --secret-id {arn}",
        )
    return Check("webhook secret", True, secret.get("Name", arn))


def check_rules(clients: Clients, facts: StageFacts) -> Check:
    """Each handler's rule is enabled and targets its Lambda with a dead-letter queue."""
    events = clients("events")
    names = sorted(
        event["Properties"].get("RuleName") or event["Properties"].get("Name")
        for function in facts.functions.values()
        for event in function.get("Events", {}).values()
    )
    fix = f"cloudburst deploy --stage {facts.stage}"
    problems: list[str] = []
    for name in names:
        rule = events.describe_rule(Name=name)
        if rule.get("State") != "ENABLED":
            problems.append(f"{name} is {rule.get('State')}")
            fix = f"aws events enable-rule --name {name}"
            continue
        targets = events.list_targets_by_rule(Rule=name)["Targets"]
        if not targets:
            problems.append(f"{name} has no target")
        elif not all(t.get("DeadLetterConfig") for t in targets):
            problems.append(f"{name} has a target without a dead-letter queue")
    if problems or not names:
        return Check("rules", False, "; ".join(problems) or "the stage has no rules", fix)
    return Check("rules", True, f"{len(names)} rule(s) enabled, each with its target and DLQ")


def check_dead_letters(clients: Clients, facts: StageFacts) -> Check:
    """Events nothing could handle wait in the dead-letter queues; the sweeper redrives them
    each run, so a queue that stays non-empty is a job stuck on a cause to fix."""
    sqs = clients("sqs")
    waiting: list[str] = []
    queues = facts.of_type("AWS::SQS::Queue")
    for url in queues.values():
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        count = int(attributes.get("ApproximateNumberOfMessages", "0"))
        if count:
            waiting.append(f"{count} in {url.rsplit('/', 1)[-1]}")
    if waiting:
        return Check(
            "dead letters",
            False,
            ", ".join(waiting),
            "the sweeper redrives them every run; if they stay, read one (aws sqs"
            " receive-message --queue-url …) and the Lambda's log group, fix the cause",
        )
    return Check("dead letters", True, f"{len(queues)} queue(s) empty")


def check_lambda_errors(clients: Clients, facts: StageFacts) -> Check:
    """Errors of the stage's Lambdas in the last hour (each is retried, then dead-lettered)."""
    names = {k: f["FunctionName"] for k, f in facts.functions.items() if "FunctionName" in f}
    now = datetime.now(UTC)
    queries = [
        {
            "Id": f"e{index}",
            "Label": name,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Lambda",
                    "MetricName": "Errors",
                    "Dimensions": [{"Name": "FunctionName", "Value": name}],
                },
                "Period": 3600,
                "Stat": "Sum",
            },
        }
        for index, name in enumerate(sorted(names.values()))
    ]
    if not queries:
        return Check("Lambda errors", True, "no functions")
    results = clients("cloudwatch").get_metric_data(
        MetricDataQueries=queries, StartTime=now - timedelta(hours=1), EndTime=now
    )["MetricDataResults"]
    failing = {r["Label"]: int(sum(r.get("Values", []))) for r in results if sum(r["Values"])}
    if failing:
        first = sorted(failing)[0]
        return Check(
            "Lambda errors",
            False,
            "in the last hour: " + ", ".join(f"{n} {c}" for n, c in sorted(failing.items())),
            f"aws logs tail /aws/lambda/{first} --since 1h --region {facts.region}",
        )
    return Check("Lambda errors", True, f"none in the last hour ({len(queries)} functions)")


def check_architecture(facts: StageFacts) -> Check:
    architecture = facts.parameters.get("WorkerArchitecture", "x86_64")
    if architecture == "arm64":
        return Check(
            "architecture",
            True,
            "arm64: jobs that ask for Spot run (and are priced) on demand;"
            " Fargate Spot is x86_64 only",
        )
    return Check("architecture", True, f"{architecture}: Spot jobs run on Fargate Spot")


def stage_cap(template: dict[str, Any]) -> int:
    """The deployed stage's task cap: what its Lambdas were given, read from its template."""
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            variables = resource["Properties"].get("Environment", {}).get("Variables", {})
            if isinstance(variables.get(ENV["max_running_tasks"]), str):
                return int(variables[ENV["max_running_tasks"]])
    return DEFAULT_MAX_RUNNING_TASKS


# -- helpers -----------------------------------------------------------------------------------
def _placeholder(resource: str) -> str:
    """The name a LAMBDA_CALLS resource starts from: "{bucket_arn}/x" → "bucket_arn"."""
    return resource[1:].split("}", 1)[0]


def _resources(cfn: Any, name: str) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=name):
        for resource in page["StackResourceSummaries"]:
            found[resource["LogicalResourceId"]] = (
                resource["ResourceType"],
                resource.get("PhysicalResourceId", ""),
            )
    return found


def _roles(resources: dict[str, tuple[str, str]], account: str) -> dict[str, str]:
    """Logical id → ARN of every role in the stack (a role's physical id is its name)."""
    roles: dict[str, str] = {}
    for logical, (kind, physical) in resources.items():
        if kind == "AWS::IAM::Role":
            if not physical.startswith("arn:"):
                physical = f"arn:aws:iam::{account}:role/{physical}"
            roles[logical] = physical
    return roles


def _arns(facts: StageFacts) -> dict[str, str]:
    region, account = facts.region, facts.account
    bucket = facts.outputs.get(stages.OUTPUT_BUCKET, "")
    table = facts.outputs.get(stages.OUTPUT_TABLE, "")
    cluster = facts.outputs.get(stages.OUTPUT_CLUSTER, "")
    return {
        "bucket_arn": f"arn:aws:s3:::{bucket}",
        "table_arn": f"arn:aws:dynamodb:{region}:{account}:table/{table}",
        "cluster_arn": f"arn:aws:ecs:{region}:{account}:cluster/{cluster}",
        "task_arn": f"arn:aws:ecs:{region}:{account}:task/{cluster}/0123456789abcdef",
        "task_definition_arn": facts.outputs.get(stages.OUTPUT_TASK_DEFINITION, ""),
        "task_role_arn": facts.roles.get("WorkerTaskRole", ""),
        "execution_role_arn": facts.roles.get("WorkerExecutionRole", ""),
        "secret_arn": facts.outputs.get(stages.OUTPUT_SECRET, ""),
        # the sweeper redrives every handler's queue, each named <prefix>-<handler>-dlq
        "dead_letter_queue_arn": (
            f"arn:aws:sqs:{region}:{account}:{resource_prefix(facts.stage)}"
            "-on-manifest-uploaded-dlq"
        ),
    }


def _way_out(ec2: Any, subnet: dict[str, Any], public_ip: bool, region: str) -> bool:
    vpc = subnet["VpcId"]
    tables = (
        ec2.describe_route_tables(
            Filters=[{"Name": "association.subnet-id", "Values": [subnet["SubnetId"]]}]
        )["RouteTables"]
        or ec2.describe_route_tables(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc]},
                {"Name": "association.main", "Values": ["true"]},
            ]
        )["RouteTables"]
    )
    for table in tables:
        for route in table.get("Routes", []):
            if route.get("DestinationCidrBlock") != "0.0.0.0/0":
                continue
            if route.get("NatGatewayId"):
                return True
            if route.get("GatewayId", "").startswith("igw-") and public_ip:
                return True
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    services = {e["ServiceName"] for e in endpoints["VpcEndpoints"]}
    return all(f"com.amazonaws.{region}.{s}" in services for s in ENDPOINT_SERVICES)
