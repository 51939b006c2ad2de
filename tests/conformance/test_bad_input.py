"""Bad input, through boto3 and raw HTTP: malformed bodies, wrong types, missing members,
invalid ARNs and names, unknown operations, oversized bodies, broken HTTP, pipelining and
stalled clients. Each gets AWS's error (code and status), the server never answers 5xx or
hangs, and a refused request leaves the state exactly as it was (the API's view and the
rows of the state file are compared before and after)."""

import json
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY_ID, ACCOUNT, DEFAULT_CALLER_ARN, SECRET_ACCESS_KEY, SESSION_TOKEN, Sim

CREDS = Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN)
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
JSON = {"Content-Type": "application/json"}
ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
})
MAX_BODY = 8192


@pytest.fixture(scope="module")
def srv():
    """A server of its own, so that before/after snapshots see only this module's requests."""
    d = tempfile.mkdtemp(prefix="eks-sim-bad-")
    s = Sim(d)
    s.set_settings(max_body_bytes=MAX_BODY)
    iam = s.client("iam")
    s.cluster_role = iam.create_role(RoleName="bad-cluster", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    s.entry_role = iam.create_role(RoleName="bad-entry", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    s.other_role = iam.create_role(RoleName="bad-other", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    eks = s.client("eks")
    s.cluster = "bad-input"
    eks.create_cluster(
        name=s.cluster, roleArn=s.cluster_role, resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]},
        accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"},
    )
    eks.create_access_entry(clusterName=s.cluster, principalArn=s.entry_role, tags={"k": "v"})
    eks.associate_access_policy(
        clusterName=s.cluster, principalArn=s.entry_role, policyArn=ADMIN, accessScope={"type": "cluster"}
    )
    yield s
    s.stop()
    shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# Helpers.

def pages(call, key, token_in, token_out, **kw):
    out = []
    while True:
        r = call(**kw)
        out += r[key]
        if not r.get(token_out):
            return out
        kw[token_in] = r[token_out]


def api_snapshot(s):
    """Everything the API shows: clusters, updates, entries, policies, node groups, roles."""
    eks, iam = s.client("eks"), s.client("iam")
    snap = {"roles": sorted(
        (r["Arn"], r["Path"], r.get("Description"), r["CreateDate"].isoformat())
        for r in pages(iam.list_roles, "Roles", "Marker", "Marker")
    )}
    for name in sorted(pages(eks.list_clusters, "clusters", "nextToken", "nextToken")):
        c = eks.describe_cluster(name=name)["cluster"]
        entries = {}
        for p in sorted(pages(eks.list_access_entries, "accessEntries", "nextToken", "nextToken", clusterName=name)):
            e = eks.describe_access_entry(clusterName=name, principalArn=p)["accessEntry"]
            pol = eks.list_associated_access_policies(clusterName=name, principalArn=p)["associatedAccessPolicies"]
            entries[p] = (repr(e), repr(pol))
        snap[name] = {
            "cluster": repr({k: c.get(k) for k in ("status", "accessConfig", "version", "tags", "roleArn")}),
            "updates": pages(eks.list_updates, "updateIds", "nextToken", "nextToken", name=name),
            "nodegroups": pages(eks.list_nodegroups, "nodegroups", "nextToken", "nextToken", clusterName=name),
            "entries": entries,
        }
    return snap


def db_snapshot(s):
    """Every row of every table of the state file (read-only, alongside the server)."""
    con = sqlite3.connect(f"file:{Path(s.state_dir) / 'sim.db'}?mode=ro", uri=True, timeout=10)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: sorted(map(repr, con.execute(f'SELECT * FROM "{t}"'))) for t in tables}
    finally:
        con.close()


def snapshot(s):
    return api_snapshot(s), db_snapshot(s)


def signed(s, service, method, path, body=b"", headers=None):
    """Method, path (with query) and headers of a correctly signed request."""
    req = AWSRequest(method=method, url=s.url + path, data=body, headers=dict(headers or {}))
    SigV4Auth(CREDS, service, "us-east-1").add_auth(req)
    prepared = req.prepare()
    return prepared.url[len(s.url):], dict(prepared.headers)


def head_bytes(s, method, path, headers, body=b"", version="HTTP/1.1", extra=()):
    lines = [f"{method} {path} {version}", f"Host: {s.addr}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length")]
    lines.append(f"Content-Length: {len(body)}")
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def request_bytes(s, service, method, path, body=b"", headers=None, **kw):
    p, h = signed(s, service, method, path, body, headers)
    return head_bytes(s, method, p, h, body, **kw)


def exchange(s, data, timeout=10):
    """Sends raw bytes, returns everything the server sends back until it closes."""
    host, port = s.addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as c:
        # No half-close: like real clients, the request itself says when to close.
        c.sendall(data)
        out = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                return out
            out += chunk


def parse_responses(raw):
    """Splits a byte stream into (version, status, headers, body) responses."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, status = lines[0].split(" ")[:2]
        headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
        n = int(headers.get("content-length", "0"))
        out.append((version, int(status), headers, rest[:n]))
        raw = rest[n:]
    return out


def call(s, service, method, path, body=b"", headers=None, **kw):
    """One signed request on its own connection → (status, error code or None, body)."""
    resps = parse_responses(exchange(s, request_bytes(s, service, method, path, body, headers, extra=["Connection: close"], **kw)))
    assert len(resps) == 1, resps
    _, status, h, b = resps[0]
    code = h.get("x-amzn-errortype")
    if code is None and b"<Code>" in b:
        code = b.split(b"<Code>")[1].split(b"</Code>")[0].decode()
    return status, code, b


def q(arn):
    from urllib.parse import quote
    return quote(arn, safe="")


# ---------------------------------------------------------------------------------------
# Signed requests with bad content: AWS's code and status, nothing changed.

def eks_cases(s):
    c, entry, other = s.cluster, s.entry_role, s.other_role
    ae = f"/clusters/{c}/access-entries"
    pol = f"{ae}/{q(entry)}/access-policies"
    ipe = "InvalidParameterException"
    return [
        # malformed / wrongly shaped bodies
        ("POST", "/clusters", b"{not json", 400, ipe),
        ("POST", "/clusters", b"[1, 2]", 400, ipe),
        ("POST", "/clusters", b'"a string"', 400, ipe),
        ("POST", "/clusters", b'{"name": "x\xff\xfe"}', 400, ipe),
        ("POST", "/clusters", b"[" * 3000 + b"]" * 3000, 400, ipe),
        ("POST", "/clusters", b'{"name": "a", "roleArn": "' + s.cluster_role.encode() + b'", "resourcesVpcConfig": {}', 400, ipe),
        # missing / wrongly typed members
        ("POST", "/clusters", b"{}", 400, ipe),
        ("POST", "/clusters", json.dumps({"name": 5, "roleArn": s.cluster_role, "resourcesVpcConfig": {}}).encode(), 400, ipe),
        ("POST", "/clusters", json.dumps({"name": "n1", "roleArn": s.cluster_role, "resourcesVpcConfig": []}).encode(), 400, ipe),
        ("POST", "/clusters", json.dumps({"name": "n2", "roleArn": s.cluster_role, "resourcesVpcConfig": {}, "tags": ["a"]}).encode(), 400, ipe),
        ("POST", "/clusters", json.dumps({"name": "n3", "roleArn": s.cluster_role, "resourcesVpcConfig": {"subnetIds": "subnet-1"}}).encode(), 400, ipe),
        # names outside AWS's pattern, invalid role ARNs
        ("POST", "/clusters", json.dumps({"name": "bad name", "roleArn": s.cluster_role, "resourcesVpcConfig": {}}).encode(), 400, ipe),
        ("POST", "/clusters", json.dumps({"name": "-dash", "roleArn": s.cluster_role, "resourcesVpcConfig": {}}).encode(), 400, ipe),
        ("POST", "/clusters", json.dumps({"name": "a" * 101, "roleArn": s.cluster_role, "resourcesVpcConfig": {}}).encode(), 400, ipe),
        ("POST", "/clusters", json.dumps({"name": "n4", "roleArn": "not-an-arn", "resourcesVpcConfig": {}}).encode(), 400, ipe),
        # access entries
        ("POST", ae, b"{}", 400, ipe),
        ("POST", ae, json.dumps({"principalArn": 5}).encode(), 400, ipe),
        ("POST", ae, json.dumps({"principalArn": "not-an-arn"}).encode(), 400, ipe),
        ("POST", ae, json.dumps({"principalArn": "arn:aws:iam::123456789012:role/"}).encode(), 400, ipe),
        ("POST", ae, json.dumps({"principalArn": DEFAULT_CALLER_ARN}).encode(), 400, ipe),
        ("POST", ae, json.dumps({"principalArn": other, "type": "BOGUS"}).encode(), 400, ipe),
        ("POST", ae, json.dumps({"principalArn": other, "kubernetesGroups": "admins"}).encode(), 400, ipe),
        ("POST", ae, json.dumps({"principalArn": other, "tags": {"k": 1}}).encode(), 400, ipe),
        ("POST", ae, json.dumps({"principalArn": other, "type": "EC2_LINUX", "username": "x"}).encode(), 400, ipe),
        ("POST", ae, json.dumps({"principalArn": entry}).encode(), 409, "ResourceInUseException"),
        # access policies
        ("POST", pol, json.dumps({"policyArn": ADMIN}).encode(), 400, ipe),
        ("POST", pol, json.dumps({"policyArn": ADMIN, "accessScope": "cluster"}).encode(), 400, ipe),
        ("POST", pol, json.dumps({"policyArn": ADMIN, "accessScope": {"type": "namespace"}}).encode(), 400, ipe),
        ("POST", pol, json.dumps({"policyArn": ADMIN, "accessScope": {"type": "galaxy"}}).encode(), 400, ipe),
        ("POST", pol, json.dumps({"policyArn": "not-an-arn", "accessScope": {"type": "cluster"}}).encode(), 400, ipe),
        # auth mode: moving back, or a wrong type
        ("POST", f"/clusters/{c}/update-config", json.dumps({"accessConfig": {"authenticationMode": "CONFIG_MAP"}}).encode(), 400, ipe),
        ("POST", f"/clusters/{c}/update-config", json.dumps({"accessConfig": "API"}).encode(), 400, ipe),
        ("POST", f"/clusters/{c}/update-config", json.dumps({"accessConfig": {"authenticationMode": "SIDEWAYS"}}).encode(), 400, ipe),
        # pagination parameters
        ("GET", f"{ae}?maxResults=0", b"", 400, ipe),
        ("GET", f"{ae}?maxResults=abc", b"", 400, ipe),
        ("GET", f"{ae}?maxResults=99999999999", b"", 400, ipe),
        ("GET", f"{ae}?nextToken=garbage", b"", 400, ipe),
        # unknown operations and paths
        ("GET", "/nope", b"", 404, "UnknownOperationException"),
        ("PUT", "/clusters", b"{}", 404, "UnknownOperationException"),
        ("GET", "/clusters/a/b/c/d/e/f/g", b"", 404, "UnknownOperationException"),
        ("GET", "/clusters/%ff%fe", b"", 404, "UnknownOperationException"),
    ]


def query_cases():
    return [
        ("iam", b"Version=2010-05-08", 400, "MissingAction"),
        ("iam", b"<CreateRole><RoleName>x</RoleName></CreateRole>", 400, "MissingAction"),
        ("sts", b"", 400, "MissingAction"),
        ("iam", b"Action=DropAllTables&Version=2010-05-08", 400, "InvalidAction"),
        ("iam", b"Action=CreateRole&Version=2010-05-08&RoleName=x", 400, "ValidationError"),
        ("iam", b"Action=CreateRole&Version=2010-05-08&AssumeRolePolicyDocument=%7B%7D", 400, "ValidationError"),
        ("iam", b"Action=CreateRole&Version=2010-05-08&RoleName=bad%20name&AssumeRolePolicyDocument=%7B%7D", 400, "ValidationError"),
        ("iam", b"Action=CreateRole&Version=2010-05-08&RoleName=" + b"r" * 65 + b"&AssumeRolePolicyDocument=%7B%7D", 400, "ValidationError"),
        ("iam", b"Action=CreateRole&Version=2010-05-08&RoleName=p1&Path=nopath&AssumeRolePolicyDocument=%7B%7D", 400, "ValidationError"),
        ("iam", b"Action=CreateRole&Version=2010-05-08&RoleName=p2&AssumeRolePolicyDocument=not%20json", 400, "MalformedPolicyDocument"),
        ("iam", b"Action=CreateRole&Version=2010-05-08&RoleName=p3&AssumeRolePolicyDocument=%7B%7D&Tags.member.1.Key=k", 400, "ValidationError"),
        ("iam", b"Action=CreateRole&Version=2010-05-08&RoleName=p4&AssumeRolePolicyDocument=%7B%7D&MaxSessionDuration=abc", 400, "ValidationError"),
        ("iam", b"Action=CreateRole&Version=2010-05-08&RoleName=bad-entry&AssumeRolePolicyDocument=%7B%7D", 409, "EntityAlreadyExists"),
        ("iam", b"Action=GetRole&Version=2010-05-08&RoleName=%FF%FE", 400, "ValidationError"),
        ("iam", b"Action=ListRoles&Version=2010-05-08&MaxItems=abc", 400, "ValidationError"),
        ("iam", b"Action=ListRoles&Version=2010-05-08&MaxItems=0", 400, "ValidationError"),
        ("iam", b"Action=DeleteRole&Version=2010-05-08&RoleName=no-such-role", 404, "NoSuchEntity"),
        ("sts", b"Action=AssumeRole&Version=2011-06-15&RoleSessionName=s", 400, "ValidationError"),
        ("sts", b"Action=AssumeRole&Version=2011-06-15&RoleArn=not-an-arn&RoleSessionName=s", 400, "ValidationError"),
        ("sts", b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fbad-entry&RoleSessionName=bad%20name", 400, "ValidationError"),
        ("sts", b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fbad-entry&RoleSessionName=s&DurationSeconds=abc", 400, "ValidationError"),
        ("sts", b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fbad-entry&RoleSessionName=s&DurationSeconds=1", 400, "ValidationError"),
    ]


def test_bad_eks_requests_get_aws_errors_and_change_nothing(srv):
    before = snapshot(srv)
    wrong = []
    for method, path, body, status, code in eks_cases(srv):
        got = call(srv, "eks", method, path, body, JSON if body else None)
        if got[:2] != (status, code):
            wrong.append((method, path, body[:80], (status, code), got))
    assert not wrong, "\n".join(map(repr, wrong))
    assert snapshot(srv) == before


def test_bad_query_requests_get_aws_errors_and_change_nothing(srv):
    before = snapshot(srv)
    wrong = []
    for service, body, status, code in query_cases():
        headers = {"Content-Type": "text/xml"} if body.startswith(b"<") else FORM
        got = call(srv, service, "POST", "/", body, headers)
        if got[:2] != (status, code):
            wrong.append((service, body[:100], (status, code), got))
        # the same request as a GET with the parameters in the query string
        if not body.startswith(b"<"):
            got = call(srv, service, "GET", "/?" + body.decode("latin-1") if body else "/")
            if got[:2] != (status, code):
                wrong.append(("GET", service, body[:100], (status, code), got))
    assert not wrong, "\n".join(map(repr, wrong))
    assert snapshot(srv) == before


def test_wrong_types_through_boto3_without_client_validation(srv):
    """botocore normally refuses these itself; with its validation off the server must."""
    eks = srv.client("eks", config=Config(parameter_validation=False, retries={"total_max_attempts": 1}))
    before = snapshot(srv)
    calls = [
        lambda: eks.create_access_entry(clusterName=srv.cluster, principalArn=["a"]),
        lambda: eks.create_access_entry(clusterName=srv.cluster, principalArn=srv.other_role, kubernetesGroups=[1, 2]),
        lambda: eks.create_access_entry(clusterName=srv.cluster, principalArn=srv.other_role, tags={"k": 1}),
        lambda: eks.associate_access_policy(
            clusterName=srv.cluster, principalArn=srv.entry_role, policyArn=ADMIN,
            accessScope={"type": "namespace", "namespaces": [5]}),
        lambda: eks.create_cluster(name=True, roleArn=srv.cluster_role, resourcesVpcConfig={}),
        lambda: eks.update_cluster_config(name=srv.cluster, accessConfig={"authenticationMode": 3}),
        lambda: eks.list_access_entries(clusterName=srv.cluster, maxResults=1000),
    ]
    for f in calls:
        with pytest.raises(ClientError) as ei:
            f()
        r = ei.value.response
        assert (r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidParameterException", 400)
    assert snapshot(srv) == before


def test_oversized_bodies_are_refused_before_anything_happens(srv):
    before = snapshot(srv)
    big_tags = json.dumps({"principalArn": srv.other_role, "tags": {f"k{i}": "v" * 100 for i in range(200)}}).encode()
    assert len(big_tags) > MAX_BODY
    status, code, _ = call(srv, "eks", "POST", f"/clusters/{srv.cluster}/access-entries", big_tags, JSON)
    assert (status, code) == (413, "RequestEntityTooLargeException")
    body = b"Action=CreateRole&Version=2010-05-08&RoleName=huge&AssumeRolePolicyDocument=%7B%7D&Description=" + b"d" * MAX_BODY
    assert call(srv, "iam", "POST", "/", body, FORM)[:2] == (413, "RequestEntityTooLarge")
    # chunked, without a Content-Length: the limit still holds while reading
    p, h = signed(srv, "eks", "POST", f"/clusters/{srv.cluster}/access-entries", big_tags, JSON)
    lines = [f"POST {p} HTTP/1.1", f"Host: {srv.addr}", "Transfer-Encoding: chunked", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in h.items() if k.lower() not in ("host", "content-length")]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(big_tags[i:i + 1000]), big_tags[i:i + 1000]) for i in range(0, len(big_tags), 1000))
    resp = parse_responses(exchange(srv, ("\r\n".join(lines) + "\r\n\r\n").encode() + chunked + b"0\r\n\r\n"))
    assert [(r[1], r[2].get("x-amzn-errortype")) for r in resp] == [(413, "RequestEntityTooLargeException")]
    assert snapshot(srv) == before


# ---------------------------------------------------------------------------------------
# Broken HTTP.

def test_broken_http_is_refused_and_the_server_keeps_serving(srv):
    before = snapshot(srv)
    ok = request_bytes(srv, "eks", "GET", "/clusters", extra=["Connection: close"])
    cases = [
        # huge header, too many headers: 431 from the HTTP layer
        (request_bytes(srv, "eks", "GET", "/clusters", extra=["X-Big: " + "a" * 500_000, "Connection: close"]), 431),
        # just over the 64 KiB head limit: refused however the bytes happen to be read
        (request_bytes(srv, "eks", "GET", "/clusters", extra=["X-Big: " + "a" * 66_000, "Connection: close"]), 431),
        (request_bytes(srv, "eks", "GET", "/clusters", extra=[f"X-H{i}: a" for i in range(150)] + ["Connection: close"]), 431),
        # non-UTF-8 bytes in the request line, garbage, a bad Content-Length, broken chunks
        (b"GET /clusters/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        (b"\x00\x01\x02 garbage\r\n\r\n", 400),
        (b"POST /clusters HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n", 400),
        (b"POST /clusters HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\nConnection: close\r\n\r\nabcdef", 400),
        (b"POST /clusters HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n", 400),
    ]
    for data, status in cases:
        resp = parse_responses(exchange(srv, data))
        assert resp and resp[0][1] == status, (data[:60], resp)
        # still serving, promptly
        assert parse_responses(exchange(srv, ok))[0][1] == 200
    # a head under the limit is served
    near = request_bytes(srv, "eks", "GET", "/clusters", extra=["X-Big: " + "a" * 60_000, "Connection: close"])
    assert parse_responses(exchange(srv, near))[0][1] == 200
    # a non-UTF-8 header value is opaque bytes: signed and served like any other
    p, h = signed(srv, "eks", "GET", "/clusters")
    raw = head_bytes(srv, "GET", p, h, extra=["Connection: close"]).replace(b"\r\n\r\n", b"\r\nX-Odd: \xff\xfe\r\n\r\n", 1)
    assert parse_responses(exchange(srv, raw))[0][1] == 200
    assert snapshot(srv) == before


def test_http_1_0(srv):
    resp = parse_responses(exchange(srv, request_bytes(srv, "eks", "GET", f"/clusters/{srv.cluster}", version="HTTP/1.0")))
    assert len(resp) == 1
    version, status, headers, body = resp[0]
    assert (version, status) == ("HTTP/1.0", 200)
    assert json.loads(body)["cluster"]["name"] == srv.cluster
    sts = parse_responses(exchange(srv, request_bytes(
        srv, "sts", "POST", "/", b"Action=GetCallerIdentity&Version=2011-06-15", FORM, version="HTTP/1.0")))
    assert sts[0][1] == 200 and ACCOUNT.encode() in sts[0][3]


def test_pipelined_requests_are_answered_in_order(srv):
    name = "pipelined"
    create = json.dumps({"name": name, "roleArn": srv.cluster_role,
                         "resourcesVpcConfig": {"subnetIds": ["subnet-1", "subnet-2"]}}).encode()
    data = b"".join([
        request_bytes(srv, "eks", "GET", f"/clusters/{name}"),
        request_bytes(srv, "eks", "POST", "/clusters", create, JSON),
        request_bytes(srv, "eks", "GET", f"/clusters/{name}"),
        request_bytes(srv, "sts", "POST", "/", b"Action=GetCallerIdentity&Version=2011-06-15", FORM),
        request_bytes(srv, "eks", "DELETE", f"/clusters/{name}", extra=["Connection: close"]),
    ])
    resp = parse_responses(exchange(srv, data))
    assert [r[1] for r in resp] == [404, 200, 200, 200, 200]
    assert json.loads(resp[2][3])["cluster"]["name"] == name
    assert name not in srv.client("eks").list_clusters()["clusters"]


def test_stalled_clients_do_not_block_others(srv):
    host, port = srv.addr.rsplit(":", 1)
    stalled = []
    try:
        for data in [
            b"GET /clusters HTTP/1.1\r\nHost: x\r\n",  # head never finished
            b"POST /clusters HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",  # body never finished
            b"",  # connected, silent
        ]:
            c = socket.create_connection((host, int(port)), timeout=5)
            c.sendall(data)
            stalled.append(c)
        eks = srv.client("eks")
        t = time.monotonic()
        for _ in range(5):
            eks.describe_cluster(name=srv.cluster)
        # Blocked behind the stalled clients, these would wait out their 30 s/75 s timeouts
        # (or time out themselves); the bound only has to tell that from a slow machine.
        assert time.monotonic() - t < 20
    finally:
        for c in stalled:
            c.close()


def test_shutdown_is_prompt_with_stalled_clients(tmp_path):
    """A client stuck in the middle of a request must not hold the server's exit."""
    s = Sim(str(tmp_path))
    host, port = s.addr.rsplit(":", 1)
    socks = []
    try:
        for data in [
            b"GET /clusters HTTP/1.1\r\nHost: x\r\n",
            b"POST /clusters HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
        ]:
            c = socket.create_connection((host, int(port)), timeout=5)
            c.sendall(data)
            socks.append(c)
        time.sleep(0.2)
        t = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(timeout=15) == 0
        # A server waiting for them would take its full 10 s grace (or their 30 s/75 s
        # timeouts); a prompt exit is far below that even on a slow machine.
        assert time.monotonic() - t < 6
    finally:
        for c in socks:
            c.close()
        s.stop()


def test_server_is_still_alive(srv):
    """Runs last in this module: after all of the above the process still serves."""
    assert srv.proc.poll() is None
    assert srv.client("sts").get_caller_identity()["Account"] == ACCOUNT


@pytest.mark.parametrize("region", ["us-east-1x", "mars-1", "aws-global"])
def test_a_region_that_does_not_exist_is_refused(srv, region):
    """One endpoint serves every region: a typo must not open an empty world of its own."""
    before = snapshot(srv)
    for service, call_, code in [
        ("eks", lambda c: c.create_cluster(name="typo", roleArn=srv.cluster_role, resourcesVpcConfig={}),
         "InvalidSignatureException"),
        ("eks", lambda c: c.list_clusters(), "InvalidSignatureException"),
        ("sts", lambda c: c.get_caller_identity(), "SignatureDoesNotMatch"),
        ("iam", lambda c: c.create_role(RoleName="typo", AssumeRolePolicyDocument=TRUST), "SignatureDoesNotMatch"),
    ]:
        with pytest.raises(ClientError) as ei:
            call_(srv.client(service, region=region))
        r = ei.value.response
        assert (r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]) == (code, 403)
        assert f"Credential should be scoped to a valid region, not '{region}'" in r["Error"]["Message"]
    assert snapshot(srv) == before
    # every real region of every partition is served
    for region in ["eu-west-1", "ap-southeast-5", "cn-northwest-1", "us-gov-east-1"]:
        assert srv.client("sts", region=region).get_caller_identity()["Account"] == ACCOUNT


def test_no_body_limit_locks_the_settings_endpoint(tmp_path):
    """max_body_bytes applies to AWS requests only: the reserved endpoints keep their own
    limit, so the smallest limit (1 byte; 0 is refused) can still be undone."""
    s = Sim(str(tmp_path))
    try:
        s.set_settings(max_body_bytes=1)
        body = b"Action=GetCallerIdentity&Version=2011-06-15"
        assert call(s, "sts", "POST", "/", body, FORM)[:2] == (413, "RequestEntityTooLarge")
        assert s.set_settings(max_body_bytes=1024)["max_body_bytes"] == 1024
        assert call(s, "sts", "POST", "/", body, FORM)[0] == 200
        # the reserved endpoints' own limit holds (declared size: refused before any read)
        head = f"POST /_sim/settings HTTP/1.1\r\nHost: {s.addr}\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n"
        assert parse_responses(exchange(s, head.encode()))[0][1] == 413
        assert s.settings()["seed"] == 0
    finally:
        s.stop()
