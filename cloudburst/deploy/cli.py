"""``cloudburst deploy``, ``destroy`` and ``doctor``: registered on the main parser by one call."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cloudburst.stage import StageError, resource_prefix

ARCHITECTURES = ("x86_64", "arm64")


def register(commands: Any) -> None:
    """Add the three commands to ``cloudburst``'s subparsers."""
    deploy = commands.add_parser("deploy", help="deploy a stage to your AWS account")
    deploy.add_argument("--stage", help="dev, prod, … (every name in AWS carries it)")
    deploy.add_argument("--region", default=None, help="default: AWS_REGION / your profile's")
    deploy.add_argument("--arch", choices=ARCHITECTURES, default="x86_64", help="worker CPU")
    deploy.add_argument("--subnets", default="", help="existing subnet ids, comma-separated")
    deploy.add_argument("--security-group", default=None, help="with --subnets")
    deploy.add_argument(
        "--assign-public-ip",
        choices=("true", "false"),
        default=None,
        help="with --subnets: give tasks public IPs (subnets routed to an internet gateway,"
        " no NAT); default: as deployed, else false",
    )
    deploy.add_argument(
        "--alarm-email",
        default=None,
        help="mail the stage's alarms here (confirm AWS's mail); \"\" stops; default: as deployed",
    )
    deploy.add_argument(
        "--permissions-boundary",
        default=None,
        metavar="ARN",
        help="managed policy set as the boundary of every role the stage creates",
    )
    deploy.add_argument(
        "--print-policy",
        action="store_true",
        help="print the IAM policy a deployer needs (with --permissions-boundary: one that"
        " lets the deployer create roles only under that boundary)",
    )
    deploy.set_defaults(run=_deploy)

    destroy = commands.add_parser("destroy", help="delete a stage's stacks (keeps its bucket)")
    destroy.add_argument("--stage", required=True)
    destroy.add_argument("--region", default=None)
    destroy.add_argument(
        "--delete-data", action="store_true", help="also delete the bucket and every object"
    )
    destroy.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    destroy.set_defaults(run=_destroy)

    doctor = commands.add_parser("doctor", help="check a deployed stage, one line per check")
    doctor.add_argument("--stage", required=True)
    doctor.add_argument("--region", default=None)
    doctor.set_defaults(run=_doctor)


def _deploy(args: argparse.Namespace) -> int:
    if args.print_policy:
        from cloudburst.deploy.deployer_policy import deployer_policy

        print(json.dumps(deployer_policy(args.permissions_boundary), indent=2))
        return 0
    if not args.stage:
        print("cloudburst deploy: --stage is required", file=sys.stderr)
        return 2
    import boto3

    from cloudburst.deploy.deploy import DeployError, DeployOptions, deploy, summary
    from cloudburst.deploy.image import ContainerEngine, ImageError
    from cloudburst.deploy.package import PROJECT_DIR, PackageError, package_in_subprocess
    from cloudburst.deploy.stacks import StackError

    try:
        resource_prefix(args.stage)
        session = boto3.session.Session(region_name=args.region)
        region = _region(session)
        options = DeployOptions(
            stage=args.stage,
            region=region,
            architecture=args.arch,
            subnets=[s for s in args.subnets.split(",") if s],
            security_group=args.security_group,
            work_dir=PROJECT_DIR / "dist",
            assign_public_ip=None
            if args.assign_public_ip is None
            else args.assign_public_ip == "true",
            alarm_email=args.alarm_email,
            permissions_boundary=args.permissions_boundary,
        )
        images = ContainerEngine(session.client("ecr", region_name=region), PROJECT_DIR)
        done = deploy(options, session, images, package_in_subprocess, _say)
    except (StageError, DeployError, ImageError, PackageError, StackError) as exc:
        print(f"cloudburst deploy: {exc}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as exc:  # credentials, permissions, throttling
        print(f"cloudburst deploy: AWS refused: {exc}", file=sys.stderr)
        return 1
    print(summary(done, region))
    return 0


def _destroy(args: argparse.Namespace) -> int:
    import boto3

    from cloudburst.deploy.deploy import destroy
    from cloudburst.deploy.stacks import StackError

    session = boto3.session.Session(region_name=args.region)
    region = _region(session)
    what = "its stacks, bucket and every object in it" if args.delete_data else "its stacks"
    if not args.yes:
        answer = input(f"Delete stage {args.stage} in {region} ({what})? Type the stage name: ")
        if answer.strip() != args.stage:
            print("not confirmed; nothing deleted")
            return 1
    try:
        destroy(args.stage, region, session, delete_data=args.delete_data, say=_say)
    except (StackError, BotoCoreError, ClientError) as exc:
        print(f"cloudburst destroy: {exc}", file=sys.stderr)
        return 1
    return 0


def _doctor(args: argparse.Namespace) -> int:
    import boto3

    from cloudburst.deploy.doctor import run_doctor

    try:
        session = boto3.session.Session(region_name=args.region)
    except BotoCoreError as exc:  # e.g. a profile that does not exist
        print(f"FAIL  credentials: {exc}", file=sys.stderr)
        return 1
    region = _region(session)
    ok = run_doctor(args.stage, region, lambda name: session.client(name, region_name=region), _say)
    return 0 if ok else 1


def _region(session: Any) -> str:
    return str(session.region_name or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")


def _say(line: str) -> None:
    print(line, flush=True)
