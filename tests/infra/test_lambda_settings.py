"""A Lambda knows at cold start what its settings lack, and finds its signing secret."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from chalicelib.adapters.secret import webhook_secret
from chalicelib.settings import missing_settings, settings_from_env

SECRET = "whsec_" + "A" * 43 + "="
REGION = "eu-west-1"


def env(**values: str) -> dict[str, str]:
    return {"CLOUDBURST_BUCKET": "b", "AWS_DEFAULT_REGION": REGION, **values}


DEPLOYED = env(
    CLOUDBURST_STAGE="dev",
    CLOUDBURST_SUBNETS="subnet-1,subnet-2",
    CLOUDBURST_SECURITY_GROUPS="sg-1",
    CLOUDBURST_WEBHOOK_SECRET_ARN="arn:aws:secretsmanager:eu-west-1:1:secret:x",
)


def test_a_complete_deployed_configuration_misses_nothing():
    assert missing_settings(settings_from_env(DEPLOYED)) == []


@pytest.mark.parametrize(
    ("dropped", "named"),
    [
        ("CLOUDBURST_SUBNETS", "CLOUDBURST_SUBNETS"),
        ("CLOUDBURST_SECURITY_GROUPS", "CLOUDBURST_SECURITY_GROUPS"),
        ("CLOUDBURST_WEBHOOK_SECRET_ARN", "CLOUDBURST_WEBHOOK_SECRET_ARN"),
    ],
)
def test_a_deployed_stage_without_a_setting_names_exactly_that_setting(dropped: str, named: str):
    given = {k: v for k, v in DEPLOYED.items() if k != dropped}

    missing = missing_settings(settings_from_env(given))

    assert [m.split(":")[0] for m in missing] == [named]


def test_a_secret_in_the_environment_does_not_count_outside_the_local_stage():
    given = {k: v for k, v in DEPLOYED.items() if k != "CLOUDBURST_WEBHOOK_SECRET_ARN"}
    settings = settings_from_env({**given, "CLOUDBURST_WEBHOOK_SECRET": SECRET})

    assert [m.split(":")[0] for m in missing_settings(settings)] == [
        "CLOUDBURST_WEBHOOK_SECRET_ARN"
    ]
    assert webhook_secret(settings) is None


def test_the_local_stage_needs_no_network_but_a_secret():
    local = env(CLOUDBURST_STAGE="local")

    assert [m.split(":")[0] for m in missing_settings(settings_from_env(local))] == [
        "CLOUDBURST_WEBHOOK_SECRET"
    ]
    with_secret = settings_from_env({**local, "CLOUDBURST_WEBHOOK_SECRET": SECRET})
    assert missing_settings(with_secret) == []
    assert webhook_secret(with_secret) == SECRET


@pytest.fixture
def secretsmanager(moto_in) -> Iterator[object]:
    parameters.clear_caches()
    with moto_in(REGION):
        yield boto3.client("secretsmanager", region_name=REGION)
    parameters.clear_caches()


def test_a_deployed_lambda_reads_the_secret_from_secrets_manager_once_then_from_cache(
    secretsmanager,
):
    arn = secretsmanager.create_secret(Name="cloudburst-dev/webhook", SecretString=SECRET)["ARN"]
    settings = settings_from_env({**DEPLOYED, "CLOUDBURST_WEBHOOK_SECRET_ARN": arn})

    first = webhook_secret(settings)
    secretsmanager.put_secret_value(SecretId=arn, SecretString="whsec_rotated")
    second = webhook_secret(settings)

    assert first == second == SECRET
    parameters.clear_caches()  # a new container, or the cache's max age passed
    assert webhook_secret(settings) == "whsec_rotated"
