"""STS and IAM against the simulator with boto3 and the AWS CLI."""

import json
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, DEFAULT_CALLER_ARN, DEFAULT_ROLE_ARN, unique

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def code_of(exc_info):
    return exc_info.value.response["Error"]["Code"]


def test_cli_get_caller_identity(aws):
    out = aws("sts", "get-caller-identity").json
    assert out == {
        "UserId": "AROASIMULATEDCONVOXAD:convox",
        "Account": ACCOUNT,
        "Arn": DEFAULT_CALLER_ARN,
    }


def test_boto3_get_caller_identity_metadata(client):
    out = client("sts").get_caller_identity()
    assert out["Arn"] == DEFAULT_CALLER_ARN
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert out["ResponseMetadata"]["RequestId"]


def test_cli_create_role_with_path(aws):
    name = unique("Cli")
    out = aws(
        "iam", "create-role", "--role-name", name, "--path", "/x/y/",
        "--assume-role-policy-document", json.dumps(TRUST),
    ).json["Role"]
    assert out["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/x/y/{name}"
    assert out["Path"] == "/x/y/"
    assert out["RoleId"].startswith("AROA")
    # the CLI decodes the URL-encoded policy document as it does for AWS
    assert out["AssumeRolePolicyDocument"] == TRUST
    got = aws("iam", "get-role", "--role-name", name).json["Role"]
    assert got["Arn"] == out["Arn"]
    dup = aws(
        "iam", "create-role", "--role-name", name,
        "--assume-role-policy-document", json.dumps(TRUST), check=False,
    )
    assert dup.returncode != 0
    assert "EntityAlreadyExists" in dup.stderr
    aws("iam", "delete-role", "--role-name", name)
    gone = aws("iam", "get-role", "--role-name", name, check=False)
    assert gone.returncode != 0
    assert "NoSuchEntity" in gone.stderr


def test_boto3_role_errors(client):
    iam = client("iam")
    cases = [
        (dict(RoleName="bad name", AssumeRolePolicyDocument="{}"), "ValidationError", 400),
        (dict(RoleName=unique("P"), Path="nopath", AssumeRolePolicyDocument="{}"), "ValidationError", 400),
        (dict(RoleName=unique("M"), AssumeRolePolicyDocument="{oops"), "MalformedPolicyDocument", 400),
        (dict(RoleName="ConvoxAdmin", Path="/ops/", AssumeRolePolicyDocument="{}"), "EntityAlreadyExists", 409),
    ]
    for kwargs, code, status in cases:
        with pytest.raises(ClientError) as e:
            iam.create_role(**kwargs)
        assert code_of(e) == code, kwargs
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    with pytest.raises(iam.exceptions.NoSuchEntityException) as e:
        iam.get_role(RoleName=unique("Missing"))
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.delete_role(RoleName=unique("Missing"))


def test_boto3_list_roles_pagination_and_prefix(client):
    iam = client("iam")
    prefix = f"/{unique('pg')}/"
    names = sorted(unique(f"R{i}x") for i in range(5))
    for n in names:
        iam.create_role(RoleName=n, Path=prefix, AssumeRolePolicyDocument=json.dumps(TRUST))
    first = iam.list_roles(PathPrefix=prefix, MaxItems=2)
    assert first["IsTruncated"] is True
    assert len(first["Roles"]) == 2
    seen = [r["RoleName"] for r in first["Roles"]]
    marker = first["Marker"]
    while marker:
        page = iam.list_roles(PathPrefix=prefix, MaxItems=2, Marker=marker)
        seen += [r["RoleName"] for r in page["Roles"]]
        marker = page.get("Marker")
    assert sorted(seen) == names
    paged = [
        r["RoleName"]
        for p in iam.get_paginator("list_roles").paginate(PathPrefix=prefix, PaginationConfig={"PageSize": 3})
        for r in p["Roles"]
    ]
    assert sorted(paged) == names
    all_roles = [r["Arn"] for p in iam.get_paginator("list_roles").paginate() for r in p["Roles"]]
    assert DEFAULT_ROLE_ARN in all_roles


def test_assume_role_then_use_session(client, sim):
    iam = client("iam")
    name = unique("Deploy")
    role = iam.create_role(RoleName=name, Path="/ci/", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
    out = client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="run-1")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/run-1"
    assert out["AssumedRoleUser"]["AssumedRoleId"] == f"{role['RoleId']}:run-1"
    c = out["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA")
    me = sim.client(
        "sts", access_key_id=c["AccessKeyId"], secret_access_key=c["SecretAccessKey"],
        session_token=c["SessionToken"],
    ).get_caller_identity()
    assert me["Arn"] == out["AssumedRoleUser"]["Arn"]
    # without the session token the key is not recognised
    with pytest.raises(ClientError) as e:
        sim.client(
            "sts", access_key_id=c["AccessKeyId"], secret_access_key=c["SecretAccessKey"],
            session_token=None,
        ).get_caller_identity()
    assert code_of(e) == "InvalidClientTokenId"
    with pytest.raises(ClientError) as e:
        client("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{unique('No')}", RoleSessionName="s1")
    assert code_of(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="bad session")
    assert code_of(e) == "ValidationError"


def test_cli_assume_role(aws, client):
    name = unique("CliSess")
    arn = client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    out = aws("sts", "assume-role", "--role-arn", arn, "--role-session-name", "me").json
    assert out["AssumedRoleUser"]["Arn"].endswith(f":assumed-role/{name}/me")
    assert "Expiration" in out["Credentials"]


def test_users(client, sim, aws):
    iam = client("iam")
    name = unique("user")
    u = iam.create_user(UserName=name, Path="/people/", Tags=[{"Key": "k", "Value": "v"}])["User"]
    assert u["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/people/{name}"
    assert u["UserId"].startswith("AIDA")
    assert iam.get_user(UserName=name)["User"]["Arn"] == u["Arn"]
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException):
        iam.create_user(UserName=name)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=unique("ghost"))
    # a role session must name the user
    with pytest.raises(ClientError) as e:
        iam.get_user()
    assert code_of(e) == "ValidationError"
    key = iam.create_access_key(UserName=name)["AccessKey"]
    env = sim.env(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"],
                  AWS_SESSION_TOKEN=None)
    me = aws("iam", "get-user", env=env).json["User"]
    assert me["UserName"] == name
    who = aws("sts", "get-caller-identity", env=env).json
    assert who["Arn"] == u["Arn"]


def test_missing_required_parameter(sim):
    from botocore.config import Config

    iam = sim.client("iam", config=Config(parameter_validation=False, retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError) as e:
        iam.get_role()
    assert code_of(e) == "ValidationError"
    assert "roleName" in e.value.response["Error"]["Message"]
    assert e.value.response["Error"]["Type"] == "Sender"


def test_request_counts(sim, client):
    sim.clear_requests()
    client("sts").get_caller_identity()
    client("sts").get_caller_identity()
    assert sim.requests().get("sts:GetCallerIdentity") == 2


def test_throttling_and_errors_on_demand(sim, settings, client):
    settings(throttle_rate=0.001, throttle_burst=1)
    sts = client("sts")
    sts.get_caller_identity()
    with pytest.raises(ClientError) as e:
        sts.get_caller_identity()
    assert code_of(e) == "Throttling"
    settings(throttle_rate=0, error_rate=1.0)
    with pytest.raises(ClientError) as e:
        client("iam").list_roles()
    assert code_of(e) == "ServiceFailure"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_fresh_state_has_only_defaults(fresh_sim):
    roles = fresh_sim.client("iam").list_roles()["Roles"]
    assert [r["Arn"] for r in roles] == [DEFAULT_ROLE_ARN]
    assert urllib.parse.unquote(json.dumps(roles[0]["AssumeRolePolicyDocument"]))


def test_restart_keeps_state_and_stops_cleanly(fresh_sim):
    from conftest import Sim

    name = unique("Persist")
    fresh_sim.client("iam").create_role(RoleName=name, Path="/keep/", AssumeRolePolicyDocument="{}")
    fresh_sim.set_settings(read_lag_ms=7)
    fresh_sim.proc.terminate()  # SIGTERM
    assert fresh_sim.proc.wait(timeout=10) == 0
    again = Sim(fresh_sim.state_dir)
    try:
        role = again.client("iam").get_role(RoleName=name)["Role"]
        assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/keep/{name}"
        assert again.settings()["read_lag_ms"] == 7
    finally:
        again.stop()


def test_two_processes_share_one_state(fresh_sim):
    from conftest import Sim

    other = Sim(fresh_sim.state_dir)
    try:
        name = unique("Shared")
        arn = fresh_sim.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        assert other.client("iam").get_role(RoleName=name)["Role"]["Arn"] == arn
        # session keys made by one process sign requests to the other
        c = fresh_sim.client("sts").assume_role(RoleArn=arn, RoleSessionName="x1")["Credentials"]
        me = other.client(
            "sts", access_key_id=c["AccessKeyId"], secret_access_key=c["SecretAccessKey"],
            session_token=c["SessionToken"],
        ).get_caller_identity()
        assert me["Arn"].endswith(f":assumed-role/{name}/x1")
        # settings changed through one are in force in the other at once
        fresh_sim.set_settings(error_rate=1.0)
        with pytest.raises(ClientError) as e:
            other.client("sts").get_caller_identity()
        assert code_of(e) == "InternalFailure"
        other.set_settings(error_rate=0.0)
        assert fresh_sim.client("sts").get_caller_identity()["Account"] == ACCOUNT
    finally:
        other.stop()


def test_eks_faults_use_eks_error_shapes(fresh_sim):
    eks = fresh_sim.client("eks")
    fresh_sim.set_settings(throttle_rate=0.001, throttle_burst=1)
    eks.list_clusters()
    with pytest.raises(ClientError) as e:
        eks.list_clusters()
    assert code_of(e) == "ThrottlingException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    # mutating calls have their own bucket
    fresh_sim.set_settings(throttle_rate=0, error_rate=1.0)
    with pytest.raises(eks.exceptions.ServerException) as e:
        eks.list_clusters()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    fresh_sim.set_settings(error_rate=0.0)
    assert eks.list_clusters()["clusters"] == []


def test_error_sequence_is_deterministic_under_seed(fresh_sim):
    sts = fresh_sim.client("sts")

    def pattern():
        out = []
        for _ in range(30):
            try:
                sts.get_caller_identity()
                out.append(0)
            except ClientError as e:
                assert e.response["Error"]["Code"] == "InternalFailure"
                out.append(1)
        return out

    fresh_sim.set_settings(error_rate=0.5, seed=7)
    first = pattern()
    assert 0 < sum(first) < 30
    fresh_sim.reset()  # restarts the seeded sequence; settings are kept
    assert pattern() == first
    fresh_sim.set_settings(seed=8)
    fresh_sim.reset()
    assert pattern() != first


def test_added_latency(fresh_sim):
    import time as _time

    sts = fresh_sim.client("sts")
    fresh_sim.set_settings(latency_ms=300)
    t0 = _time.monotonic()
    sts.get_caller_identity()
    assert _time.monotonic() - t0 >= 0.3


def test_eks_sim_cli_set_and_bad_set(tmp_path):
    import subprocess

    from conftest import Sim, _sim_bin

    bad = subprocess.run(
        [_sim_bin(), "serve", "--listen", "127.0.0.1:0", "--state", str(tmp_path), "--set", "no_such=1"],
        capture_output=True, text=True, timeout=30,
    )
    assert bad.returncode != 0
    assert bad.stderr.startswith("ERROR: ") and "no_such" in bad.stderr
    s = Sim(str(tmp_path), ["--set", "read_lag_ms=11", "--set", "auto_node_entries=false"])
    try:
        got = s.settings()
        assert got["read_lag_ms"] == 11 and got["auto_node_entries"] is False
        assert (tmp_path / "sim.db").exists()
        assert oct((tmp_path / "sim.db").stat().st_mode & 0o777) == "0o600"
    finally:
        s.stop()


def test_sigterm_right_after_start_is_clean(tmp_path):
    from conftest import Sim

    for i in range(5):
        s = Sim(str(tmp_path / str(i)))
        s.proc.terminate()
        assert s.proc.wait(timeout=10) == 0
