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
    settings(read_lag_ms=400)
    eks.create_access_entry(clusterName=name, principalArn=dev, kubernetesGroups=["v1"])
    time.sleep(0.45)
    assert eks.describe_access_entry(clusterName=name, principalArn=dev)["accessEntry"]["kubernetesGroups"] == ["v1"]
    out = eks.update_access_entry(clusterName=name, principalArn=dev, kubernetesGroups=["v2"])
    assert out["accessEntry"]["kubernetesGroups"] == ["v2"]
    # Within the lag: the previous version, still listed (it used to vanish).
    seen = eks.describe_access_entry(clusterName=name, principalArn=dev)["accessEntry"]
    assert seen["kubernetesGroups"] == ["v1"]
    assert dev in eks.list_access_entries(clusterName=name)["accessEntries"]
    time.sleep(0.45)
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


def test_both_transfer_encoding_and_content_length_are_refused(sim):
    role = sim.client("iam").create_role(RoleName=unique("smuggle"), AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    body = json.dumps({"name": unique("smuggle"), "roleArn": role,
                       "resourcesVpcConfig": {"subnetIds": ["subnet-1"]}}).encode()
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    p, h = signed(sim, "eks", "POST", "/clusters", body, {"Content-Type": "application/json"})
    # Either header order: both are refused, whatever the lengths say.
    for extra in (["Transfer-Encoding: chunked"], ["Transfer-Encoding: chunked", "Content-Length: 5"]):
        data = head_bytes(sim, "POST", p, h, b"", extra=extra + ["Connection: close"])
        data = data.replace(b"Content-Length: 0\r\n", b"Content-Length: %d\r\n" % len(body), 1) + chunked
        if len(extra) == 2:  # Transfer-Encoding first, then Content-Length
            data = data.replace(b"Content-Length: %d\r\n" % len(body), b"", 1)
        status, code, headers = raw_call(sim, data)
        assert status == 400, (extra, status, code)
        assert code == "InvalidParameterException"
    # Nothing was made.
    names = sim.client("eks").list_clusters()["clusters"]
    assert not [n for n in names if n.startswith("smuggle-")]
    # The same request framed one way only is served.
    ok = head_bytes(sim, "POST", p, h, body, extra=["Connection: close"])
    status, _, _ = raw_call(sim, ok)
    assert status == 200


def test_only_the_request_framed_both_ways_is_refused_on_a_kept_alive_connection(sim):
    # Three pipelined requests: one with a Content-Length body, a chunked one, then one
    # framed both ways. The first two are served; the third is refused and the connection
    # closed (the first body is skipped, not mistaken for a head).
    pb, hb = signed(sim, "eks", "GET", "/clusters", b"{}")
    plain = head_bytes(sim, "GET", pb, hb, b"{}")
    p, h = signed(sim, "eks", "GET", "/clusters")
    chunked = head_bytes(sim, "GET", p, h).replace(b"Content-Length: 0\r\n", b"Transfer-Encoding: chunked\r\n") + b"0\r\n\r\n"
    both = head_bytes(sim, "GET", p, h, extra=["Transfer-Encoding: chunked"]) + b"0\r\n\r\n"
    resps = parse_responses(exchange(sim, plain + chunked + both))
    assert [r[1] for r in resps] == [200, 200, 400], resps
    assert resps[2][2].get("x-amzn-errortype") == "InvalidParameterException"
