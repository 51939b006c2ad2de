"""SigV4: what AWS's own signers produce is accepted; missing, malformed, wrong, tampered
or stale signatures are refused with AWS's codes, and refused requests change nothing."""

import datetime
import http.client
import json

import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY_ID, ACCOUNT, SECRET_ACCESS_KEY, SESSION_TOKEN, unique

FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
CREDS = Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN)


def send(sim, method, path, headers=None, body=b""):
    conn = http.client.HTTPConnection(sim.addr, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode())
    conn.close()
    return out


def signed(sim, service, method, path, body=b"", headers=None, creds=CREDS, presign=False):
    req = AWSRequest(method=method, url=sim.url + path, data=body, headers=dict(headers or {}))
    if presign:
        SigV4QueryAuth(creds, service, "us-east-1", expires=300).add_auth(req)
    else:
        SigV4Auth(creds, service, "us-east-1").add_auth(req)
    prepared = req.prepare()
    full = prepared.url[len(sim.url):]
    return full, dict(prepared.headers)


def test_boto3_wrong_secret(sim):
    bad = dict(secret_access_key="wrong-secret")
    with pytest.raises(ClientError) as e:
        sim.client("sts", **bad).get_caller_identity()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as e:
        sim.client("eks", **bad).list_clusters()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_boto3_unknown_key(sim):
    bad = dict(access_key_id="AKIAIOSFODNN7EXAMPLE", secret_access_key="x", session_token=None)
    for service, call, code in [
        ("sts", "get_caller_identity", "InvalidClientTokenId"),
        ("iam", "list_roles", "InvalidClientTokenId"),
        ("eks", "list_clusters", "UnrecognizedClientException"),
    ]:
        with pytest.raises(ClientError) as e:
            getattr(sim.client(service, **bad), call)()
        assert e.value.response["Error"]["Code"] == code, service
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_cli_wrong_secret(sim, aws):
    r = aws("sts", "get-caller-identity", check=False, env=sim.env(AWS_SECRET_ACCESS_KEY="nope"))
    assert r.returncode != 0
    assert "SignatureDoesNotMatch" in r.stderr


def test_missing_authentication(sim):
    status, _, body = send(sim, "POST", "/", FORM, b"Action=GetCallerIdentity&Version=2011-06-15")
    assert status == 403
    assert "<Code>MissingAuthenticationToken</Code>" in body
    status, headers, body = send(sim, "GET", "/clusters")
    assert status == 403
    assert headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert "message" in json.loads(body)


def test_incomplete_signature(sim):
    h = dict(FORM)
    h["Authorization"] = "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=00"
    h["X-Amz-Date"] = "20260101T000000Z"
    status, _, body = send(sim, "POST", "/", h, b"Action=GetCallerIdentity&Version=2011-06-15")
    assert status == 400
    assert "<Code>IncompleteSignature</Code>" in body


def test_botocore_signed_header_and_presigned(sim):
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    path, h = signed(sim, "sts", "POST", "/", body, FORM)
    status, _, text = send(sim, "POST", path, h, body)
    assert status == 200, text
    assert f"<Account>{ACCOUNT}</Account>" in text
    path, h = signed(sim, "sts", "GET", "/?Action=GetCallerIdentity&Version=2011-06-15", presign=True)
    assert "X-Amz-Signature=" in path
    status, _, text = send(sim, "GET", path, h)
    assert status == 200, text


def test_tampered_body_changes_nothing(sim, client):
    name = unique("Tamper")
    good = f"Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument=%7B%7D".encode()
    evil = good.replace(name.encode(), (name + "X").encode())
    path, h = signed(sim, "iam", "POST", "/", good, FORM)
    status, _, text = send(sim, "POST", path, h, evil)
    assert status == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in text
    iam = client("iam")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=name + "X")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=name)


@pytest.mark.parametrize("minutes", [-20, 20])
def test_stale_or_future_date(sim, monkeypatch, minutes):
    fixed = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(minutes=minutes)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: fixed)
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    path, h = signed(sim, "sts", "POST", "/", body, FORM)
    monkeypatch.undo()
    status, _, text = send(sim, "POST", path, h, body)
    assert status == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in text
    assert "Signature expired" in text


def test_session_token_required(sim):
    with pytest.raises(ClientError) as e:
        sim.client("sts", session_token=None).get_caller_identity()
    assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
    with pytest.raises(ClientError) as e:
        sim.client("eks", session_token="forged").list_clusters()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_unknown_action(sim):
    body = b"Action=DeleteEverything&Version=2010-05-08"
    path, h = signed(sim, "iam", "POST", "/", body, FORM)
    status, _, text = send(sim, "POST", path, h, body)
    assert status == 400
    assert "<Code>InvalidAction</Code>" in text


def test_oversized_body(fresh_sim):
    fresh_sim.set_settings(max_body_bytes=512)
    body = b"Action=GetCallerIdentity&Version=2011-06-15&Pad=" + b"x" * 2000
    path, h = signed(fresh_sim, "sts", "POST", "/", body, FORM)
    status, _, _ = send(fresh_sim, "POST", path, h, body)
    assert status == 413
    # still serving
    assert fresh_sim.client("sts").get_caller_identity()["Account"] == ACCOUNT
