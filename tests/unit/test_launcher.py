from chalicelib.adapters.ecs import client_token, run_task_request
from chalicelib.ports import TaskRequest
from chalicelib.pricing import PROFILES
from chalicelib.settings import settings_from_env

SETTINGS = settings_from_env(
    {
        "CLOUDBURST_BUCKET": "b",
        "CLOUDBURST_SUBNETS": "subnet-1, subnet-2",
        "CLOUDBURST_SECURITY_GROUPS": "sg-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
    }
)


def request(**overrides):
    arguments = {
        "job_id": "ep1-abc",
        "batch_number": 2,
        "attempt": 1,
        "spec_uri": "s3://b/jobs/ep1-abc/batches/0002.json",
        "profile": PROFILES[2],
        "spot": False,
        "language": "chinese",
    }
    arguments.update(overrides)
    return run_task_request(SETTINGS, TaskRequest(**arguments))


def test_the_task_gets_only_its_spec_uri_attempt_and_the_endpoints():
    env = request(attempt=2)["overrides"]["containerOverrides"][0]["environment"]

    assert env == [
        {"name": "BATCH_SPEC", "value": "s3://b/jobs/ep1-abc/batches/0002.json"},
        {"name": "CLOUDBURST_ATTEMPT", "value": "2"},
        {"name": "AWS_ENDPOINT_URL", "value": "http://127.0.0.1:4566"},
    ]


def test_the_compute_profile_becomes_task_level_overrides():
    overrides = request(profile=PROFILES[3])["overrides"]

    assert (overrides["cpu"], overrides["memory"]) == ("8192", "16384")


def test_on_demand_uses_fargate_and_spot_the_spot_capacity_provider():
    on_demand, spot = request(), request(spot=True)

    assert on_demand["launchType"] == "FARGATE"
    assert "capacityProviderStrategy" not in on_demand
    assert spot["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    assert "launchType" not in spot


def test_a_retried_run_task_repeats_its_client_token_and_a_new_attempt_does_not():
    assert request()["clientToken"] == request()["clientToken"]
    assert request()["clientToken"] != request(attempt=2)["clientToken"]
    assert len(client_token("j" * 200, 9999, 99)) <= 64


def test_the_task_names_its_job_for_operations():
    sent = request()

    assert sent["startedBy"] == "cloudburst/ep1-abc/0002"
    assert sent["group"] == "cloudburst:ep1-abc"
    assert {t["key"] for t in sent["tags"]} == {"CreatedBy", "Purpose", "Job", "Batch", "Language"}
    assert sent["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == [
        "subnet-1",
        "subnet-2",
    ]
