"""Simulator fidelity details: read-after-write lag on updated entries, IAM's reserved `aws:`
tag prefix, and how unreadable or ambiguously framed bodies are refused."""

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from model_shapes import COMMON_ERRORS
from test_bad_input import exchange, head_bytes, parse_responses, signed

TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
})


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def raw_call(sim, data):
    resps = parse_responses(exchange(sim, data))
    assert len(resps) == 1, resps
    _, status, h, body = resps[0]
    code = h.get("x-amzn-errortype")
    if code is None and b"<Code>" in body:
        code = body.split(b"<Code>")[1].split(b"</Code>")[0].decode()
    return status, code, h


def test_an_updated_entry_reads_as_its_previous_version_during_the_lag(sim, client, settings):
    iam, eks = client("iam"), client("eks")
    cluster_role = iam.create_role(RoleName=unique("lagc"), AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    dev = iam.create_role(RoleName=unique("lagd"), AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    name = unique("lag")
    eks.create_cluster(
        name=name, roleArn=cluster_role, resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]},
        accessConfig={"authenticationMode": "API"},
    )
    # The checks "within the lag" must come less than the lag after the update: 2 s leaves a
    # slow machine room for them (400 ms left little).
    settings(read_lag_ms=2000)
    eks.create_access_entry(clusterName=name, principalArn=dev, kubernetesGroups=["v1"])
    time.sleep(2.05)
    assert eks.describe_access_entry(clusterName=name, principalArn=dev)["accessEntry"]["kubernetesGroups"] == ["v1"]
    out = eks.update_access_entry(clusterName=name, principalArn=dev, kubernetesGroups=["v2"])
    assert out["accessEntry"]["kubernetesGroups"] == ["v2"]
    # Within the lag: the previous version, still listed (it used to vanish).
    seen = eks.describe_access_entry(clusterName=name, principalArn=dev)["accessEntry"]
    assert seen["kubernetesGroups"] == ["v1"]
    assert dev in eks.list_access_entries(clusterName=name)["accessEntries"]
    time.sleep(2.05)
    assert eks.describe_access_entry(clusterName=name, principalArn=dev)["accessEntry"]["kubernetesGroups"] == ["v2"]


@pytest.mark.parametrize("key", ["aws:team", "AWS:team", "Aws:Team"])
def test_tag_keys_with_the_reserved_aws_prefix_are_refused(client, key):
    iam = client("iam")
    role, user = unique("tagr"), unique("tagu")
    with pytest.raises(ClientError) as ei:
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST, Tags=[{"Key": key, "Value": "x"}])
    assert ei.value.response["Error"]["Code"] == "InvalidInput"
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=role)
    with pytest.raises(ClientError) as ei:
        iam.create_user(UserName=user, Tags=[{"Key": key, "Value": "x"}])
    assert ei.value.response["Error"]["Code"] == "InvalidInput"
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user)
    # The prefix only: a key merely containing it, or starting "aws" without the colon, is fine.
    for ok in ("team:aws:x", "awsteam"):
        iam.create_role(RoleName=unique("tagok"), AssumeRolePolicyDocument=TRUST, Tags=[{"Key": ok, "Value": "x"}])


def broken_chunked(sim, service, method, path, headers):
    p, h = signed(sim, service, method, path, b"", headers)
    head = head_bytes(sim, method, p, h, b"", extra=["Connection: close"])
    # Chunked framing instead of the Content-Length head_bytes writes; the size is not hex.
    head = head.replace(b"Content-Length: 0\r\n", b"Transfer-Encoding: chunked\r\n")
    return head + b"zz\r\nabc\r\n"


def test_a_broken_chunked_body_gets_an_error_its_protocol_knows(sim):
    status, code, _ = raw_call(sim, broken_chunked(sim, "eks", "POST", "/clusters", {"Content-Type": "application/json"}))
    # Declared by the EKS model for CreateCluster (and every EKS operation with a body
    # but TagResource).
    assert (status, code) == (400, "InvalidParameterException")
    form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    status, code, _ = raw_call(sim, broken_chunked(sim, "sts", "POST", "/", form))
    assert status == 400 and code in COMMON_ERRORS["query"], code

