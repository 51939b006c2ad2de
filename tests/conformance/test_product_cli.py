"""The product's scenarios (issue 3), driven through the `convox` binary against a running
`convox sim serve`, and verified independently with the AWS CLI
(`aws eks list-access-entries`, `describe-cluster`, `list-associated-access-policies`, …).

Environment: ``CONVOX_BIN`` overrides the binary (default ``target/debug/convox``, built with
cargo if missing).
"""

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "us-east-1"
CALLER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ops/ConvoxAdmin"
KEY = "ASIASIMULATEDCONVOX1"
SECRET = "c0nv0xSimulatorDefaultSecretKey/EXAMPLE1"
TOKEN = "convox-sim-default-session-token"
FAST = {"cluster_create_ms": 0, "nodegroup_create_ms": 0, "update_ms": 0, "propagation_ms": 0}
ONLY_CONVOX = {"bootstrap_creator_admin": False, "auto_node_entries": False}
EKS_DEFAULTS = {"bootstrap_creator_admin": True, "auto_node_entries": True}
MUTATING = ("Create", "Update", "Delete", "Associate", "Disassociate", "Tag", "Untag")


def admin_policy(partition="aws"):
    return f"arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def nodes_role(rack):
    return f"arn:aws:iam::{ACCOUNT}:role/convox/{rack}-nodes"


def karpenter_role(rack):
    return f"arn:aws:iam::{ACCOUNT}:role/convox/{rack}-karpenter-nodes"


def _convox_bin():
    explicit = os.environ.get("CONVOX_BIN")
    if explicit:
        return explicit
    path = ROOT / "target" / "debug" / "convox"
    if not path.exists():
        subprocess.run(["cargo", "build", "-p", "convox", "--bin", "convox"], cwd=ROOT, check=True)
    return str(path)


class Product:
    """A CONVOX_HOME with a `convox sim serve` on it; runs convox and the AWS CLI."""

    def __init__(self):
        self.home = tempfile.mkdtemp(prefix="convox-home-")
        self.bin = _convox_bin()
        self.proc = subprocess.Popen(
            [self.bin, "sim", "serve", "--listen", "127.0.0.1:0", "--state", self.home],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=self.base_env(),
        )
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.proc.kill()
            raise RuntimeError(f"convox sim serve did not start: {line!r}")
        self.url = line[len("listening on "):]
        self.settings(**FAST)

    def base_env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and not k.startswith("CONVOX_")}
        env["CONVOX_HOME"] = self.home
        env["CONVOX_LOG"] = "warn"
        return env

    def settings(self, **kw):
        req = urllib.request.Request(self.url + "/_sim/settings", data=json.dumps(kw).encode(),
                                     method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def requests(self):
        with urllib.request.urlopen(self.url + "/_sim/requests", timeout=10) as r:
            v = json.loads(r.read())
        return v.get("counts", v)

    def convox_cmd(self, *args, env=None):
        e = self.base_env()
        e["CONVOX_SIM_ENDPOINT"] = self.url
        e.update(env or {})
        return [self.bin, *args], e

    def convox(self, *args, check=True, env=None):
        cmd, e = self.convox_cmd(*args, env=env)
        r = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"convox {' '.join(args)} failed: {r.stderr}")
        return r

    def convox_json(self, *args):
        return json.loads(self.convox(*args, "--output", "json").stdout)

    def aws_env(self, region=REGION, key=KEY, secret=SECRET, token=TOKEN):
        env = self.base_env()
        env.update(
            AWS_ENDPOINT_URL=self.url,
            AWS_ACCESS_KEY_ID=key,
            AWS_SECRET_ACCESS_KEY=secret,
            AWS_SESSION_TOKEN=token,
            AWS_DEFAULT_REGION=region,
            AWS_REGION=region,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_PAGER="",
            AWS_EC2_METADATA_DISABLED="true",
        )
        return env

    def aws(self, *args, region=REGION, check=True):
        exe = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
        if exe is None:
            pytest.skip("AWS CLI not installed")
        r = subprocess.run([exe, *args, "--output", "json"], env=self.aws_env(region),
                           capture_output=True, text=True, timeout=60)
        r.json = json.loads(r.stdout) if r.stdout.strip() else None
        if check and r.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {r.stderr}")
        return r

    # -- views through the AWS CLI ------------------------------------------------------------
    def mode(self, cluster, region=REGION):
        c = self.aws("eks", "describe-cluster", "--name", cluster, region=region).json["cluster"]
        return c["accessConfig"]["authenticationMode"]

    def eks(self, region=REGION):
        import boto3
        return boto3.session.Session().client(
            "eks", endpoint_url=self.url, region_name=region, aws_access_key_id=KEY,
            aws_secret_access_key=SECRET, aws_session_token=TOKEN)

    def entries(self, cluster, region=REGION):
        """Like entries_cli, through boto3 (fast; for the parametrized matrix)."""
        eks = self.eks(region)
        if eks.describe_cluster(name=cluster)["cluster"]["accessConfig"][
                "authenticationMode"] == "CONFIG_MAP":
            return {}
        out = {}
        for p in eks.list_access_entries(clusterName=cluster)["accessEntries"]:
            e = eks.describe_access_entry(clusterName=cluster, principalArn=p)["accessEntry"]
            pols = []
            if e["type"] == "STANDARD":
                ps = eks.list_associated_access_policies(clusterName=cluster, principalArn=p)
                pols = [(a["policyArn"], a["accessScope"]["type"])
                        for a in ps["associatedAccessPolicies"]]
            out[p] = (e["type"], e.get("tags", {}), pols)
        return out

    def entries_cli(self, cluster, region=REGION):
        """principal -> (type, tags, [(policyArn, scope type)]), through the AWS CLI."""
        if self.mode(cluster, region) == "CONFIG_MAP":
            return {}
        out = {}
        listed = self.aws("eks", "list-access-entries", "--cluster-name", cluster,
                          region=region).json["accessEntries"]
        for p in listed:
            e = self.aws("eks", "describe-access-entry", "--cluster-name", cluster,
                         "--principal-arn", p, region=region).json["accessEntry"]
            pols = []
            if e["type"] == "STANDARD":
                ps = self.aws("eks", "list-associated-access-policies", "--cluster-name", cluster,
                              "--principal-arn", p, region=region).json
                pols = [(a["policyArn"], a["accessScope"]["type"])
                        for a in ps["associatedAccessPolicies"]]
            out[p] = (e["type"], e.get("tags", {}), pols)
        return out

    def set_mode(self, cluster, mode):
        eks = self.eks()
        eks.update_cluster_config(name=cluster, accessConfig={"authenticationMode": mode})
        eks.get_waiter("cluster_active").wait(name=cluster, WaiterConfig={"Delay": 0.05})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.home, ignore_errors=True)


def diff(before, after):
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}


def mutating(calls):
    return sum(v for k, v in calls.items() if k.split(":")[-1].startswith(MUTATING))


@pytest.fixture(scope="module")
def product():
    p = Product()
    yield p
    p.stop()


@pytest.fixture
def only_convox(product):
    """EKS's own entries (creator admin, node group roles) off: what exists is convox's."""
    product.settings(**ONLY_CONVOX)
    yield product
    product.settings(**EKS_DEFAULTS)


_names = itertools.count(1)


def rack_name(prefix):
    return f"{prefix}{next(_names)}"


def test_seed_transcript(product):
    rack = rack_name("seed")
    product.convox("rack", "install", "local", rack)
    r = product.convox("rack", "params", "set", "eks_access_entries=true", "-r", rack)
    assert r.stdout == "Setting parameters... OK\n"
    assert product.mode(rack) == "API_AND_CONFIG_MAP"
    listed = product.aws("eks", "list-access-entries", "--cluster-name", rack,
                         "--region", REGION).json["accessEntries"]
    assert CALLER_ROLE in listed
    assert nodes_role(rack) in listed
    pols = product.aws("eks", "list-associated-access-policies", "--cluster-name", rack,
                       "--principal-arn", CALLER_ROLE).json["associatedAccessPolicies"]
    assert [(p["policyArn"], p["accessScope"]["type"]) for p in pols] == [
        (admin_policy(), "cluster")]


@pytest.mark.parametrize("start", ["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"])
@pytest.mark.parametrize("karpenter,entries", [(False, False), (True, False), (False, True),
                                               (True, True)])
def test_table_rows_from_each_starting_mode(only_convox, start, karpenter, entries):
    p = only_convox
    rack = rack_name("row")
    p.convox("rack", "install", "local", rack)
    if start != "CONFIG_MAP":
        p.set_mode(rack, "API_AND_CONFIG_MAP")
    if start == "API":
        p.set_mode(rack, "API")
    before = p.requests()
    r = p.convox("rack", "params", "set", f"karpenter_auth_mode={str(karpenter).lower()}",
                 f"eks_access_entries={str(entries).lower()}", "-r", rack)
    assert r.stdout == "Setting parameters... OK\n"
    calls = diff(before, p.requests())

    want_mode = start
    if start == "CONFIG_MAP" and (karpenter or entries):
        want_mode = "API_AND_CONFIG_MAP"
    assert p.mode(rack) == want_mode
    assert calls.get("eks:UpdateClusterConfig", 0) == int(start == "CONFIG_MAP"
                                                        and (karpenter or entries))
    want = {}
    if karpenter:
        want[karpenter_role(rack)] = ("EC2_LINUX", "karpenter-nodes", [])
    if entries:
        want[CALLER_ROLE] = ("STANDARD", "caller", [(admin_policy(), "cluster")])
        want[nodes_role(rack)] = ("EC2_LINUX", "nodes", [])
    got = p.entries(rack)
    assert sorted(got) == sorted(want)
    for principal, (ty, role, pols) in want.items():
        g_ty, g_tags, g_pols = got[principal]
        assert g_ty == ty
        assert g_tags.get("convox:rack") == rack
        assert g_tags.get("convox:entry") == role
        assert g_pols == pols


def test_second_run_changes_nothing(only_convox):
    p = only_convox
    rack = rack_name("noop")
    p.convox("rack", "install", "local", rack)
    p.convox("rack", "params", "set", "eks_access_entries=true", "-r", rack)
    before_entries = p.entries(rack)
    before = p.requests()
    r = p.convox("rack", "params", "set", "eks_access_entries=true", "-r", rack)
    assert r.stdout == "Setting parameters... OK\n"
    calls = diff(before, p.requests())
    assert mutating(calls) == 0, calls
    assert sum(calls.values()) <= 8, calls
    assert p.entries(rack) == before_entries


def test_entry_deleted_out_of_band_is_back_after_rack_update(product):
    rack = rack_name("heal")
    product.convox("rack", "install", "local", rack)
    product.convox("rack", "params", "set", "eks_access_entries=true", "-r", rack)
    product.aws("eks", "delete-access-entry", "--cluster-name", rack,
                "--principal-arn", nodes_role(rack))
    assert nodes_role(rack) not in product.entries_cli(rack)
    auth = product.convox_json("rack", "auth", "-r", rack)
    assert auth["converged"] is False
    product.convox("rack", "update", "-r", rack)
    got = product.entries_cli(rack)
    assert got[nodes_role(rack)][0] == "EC2_LINUX"
    assert got[nodes_role(rack)][1].get("convox:rack") == rack


def test_false_after_true_refused_and_store_unchanged(product):
    rack = rack_name("oneway")
    product.convox("rack", "install", "local", rack)
    product.convox("rack", "params", "set", "eks_access_entries=true", "-r", rack)
    before = product.convox_json("rack", "params", "-r", rack)
    r = product.convox("rack", "params", "set", "eks_access_entries=false", "-r", rack,
                       check=False)
    assert r.returncode != 0
    errors = [line for line in r.stderr.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1 and "one-way" in errors[0]
    assert product.convox_json("rack", "params", "-r", rack) == before
    assert product.mode(rack) == "API_AND_CONFIG_MAP"


def test_concurrent_params_set(only_convox):
    p = only_convox
    p.settings(update_ms=400)
    try:
        rack = rack_name("race")
        p.convox("rack", "install", "local", rack)
        before = p.requests()
        procs = []
        for _ in range(2):
            cmd, env = p.convox_cmd("rack", "params", "set", "eks_access_entries=true", "-r", rack)
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert out == "Setting parameters... OK\n"
        calls = diff(before, p.requests())
        assert calls.get("eks:UpdateClusterConfig") == 1, calls
        assert calls.get("eks:CreateAccessEntry") == 2, calls
        assert len(p.entries(rack)) == 2
    finally:
        p.settings(update_ms=0)


def test_caller_as_assumed_role_with_path(only_convox):
    p = only_convox
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "sts:AssumeRole"}]})
    role = p.aws("iam", "create-role", "--role-name", "CliDeployer", "--path", "/team/cli/",
                 "--assume-role-policy-document", trust).json["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/team/cli/CliDeployer"
    creds = p.aws("sts", "assume-role", "--role-arn", role["Arn"],
                  "--role-session-name", "pytest").json["Credentials"]
    env = {
        "CONVOX_SIM_ACCESS_KEY_ID": creds["AccessKeyId"],
        "CONVOX_SIM_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "CONVOX_SIM_SESSION_TOKEN": creds["SessionToken"],
    }
    rack = rack_name("path")
    p.convox("rack", "install", "local", rack, env=env)
    p.convox("rack", "params", "set", "eks_access_entries=true", "-r", rack, env=env)
    got = p.entries_cli(rack)
    assert got[role["Arn"]][0] == "STANDARD"
    assert got[role["Arn"]][2] == [(admin_policy(), "cluster")]
    assert f"arn:aws:iam::{ACCOUNT}:role/CliDeployer" not in got


def test_cn_north_1_gets_aws_cn_policy_arns(only_convox):
    p = only_convox
    rack = rack_name("cn")
    p.convox("rack", "install", "local", rack, "--region", "cn-north-1")
    p.convox("rack", "params", "set", "eks_access_entries=true", "-r", rack)
    got = p.entries_cli(rack, region="cn-north-1")
    standard = [v for v in got.values() if v[0] == "STANDARD"]
    assert len(standard) == 1
    assert standard[0][2] == [(admin_policy("aws-cn"), "cluster")]


def test_entries_precreated_by_eks_are_accepted_not_duplicated(product):
    product.settings(**EKS_DEFAULTS)
    rack = rack_name("eksmade")
    product.convox("rack", "install", "local", rack)
    before = product.requests()
    product.convox("rack", "params", "set", "eks_access_entries=true", "-r", rack)
    calls = diff(before, product.requests())
    assert calls.get("eks:CreateAccessEntry", 0) == 0, calls
    assert calls.get("eks:AssociateAccessPolicy", 0) == 0, calls
    got = product.entries_cli(rack)
    assert sorted(got) == sorted([CALLER_ROLE, nodes_role(rack)])
    for _ty, tags, _pols in got.values():
        assert "convox:rack" not in tags


def _aws_as(p, key, secret, token, *args):
    exe = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    if exe is None:
        pytest.skip("AWS CLI not installed")
    env = p.aws_env(key=key, secret=secret, token=token)
    if token is None:
        env.pop("AWS_SESSION_TOKEN")
    r = subprocess.run([exe, *args, "--output", "json"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_root_and_federated_callers_are_refused_and_change_nothing(product):
    """Identities that cannot be access-entry principals, made with the AWS CLI (the
    simulator's documented root key pair; an IAM user's GetFederationToken): one ERROR line,
    exit status 1, not a single mutating call, the rack and the cluster as they were."""
    p = product
    rack = rack_name("who")
    p.convox("rack", "install", "local", rack)
    root = ("AKIASIMULATEDROOT001", "c0nv0xSimulatorRootUserSecretKey/EXAMPLE", None)
    assert _aws_as(p, *root, "sts", "get-caller-identity")["Arn"] == \
        f"arn:aws:iam::{ACCOUNT}:root"
    user = rack_name("feduser")
    p.aws("iam", "create-user", "--user-name", user)
    key = p.aws("iam", "create-access-key", "--user-name", user).json["AccessKey"]
    fed = _aws_as(p, key["AccessKeyId"], key["SecretAccessKey"], None,
                  "sts", "get-federation-token", "--name", "bob")
    assert fed["FederatedUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:federated-user/bob"
    c = fed["Credentials"]
    federated = (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    rack_before = p.convox_json("rack", "-r", rack)
    params_before = p.convox_json("rack", "params", "-r", rack)
    for (k, s, t), says in [(root, "root user"), (federated, "federated user")]:
        env = {"CONVOX_SIM_ACCESS_KEY_ID": k, "CONVOX_SIM_SECRET_ACCESS_KEY": s}
        if t:
            env["CONVOX_SIM_SESSION_TOKEN"] = t
        before = p.requests()
        r = p.convox("rack", "params", "set", "eks_access_entries=true", "-r", rack,
                     check=False, env=env)
        assert r.returncode == 1, r.stderr
        errors = [line for line in r.stderr.splitlines() if line.startswith("ERROR: ")]
        assert len(errors) == 1 and says in errors[0], r.stderr
        assert s not in r.stderr + r.stdout
        assert mutating(diff(before, p.requests())) == 0
    assert p.mode(rack) == "CONFIG_MAP"
    assert p.convox_json("rack", "-r", rack) == rack_before
    assert p.convox_json("rack", "params", "-r", rack) == params_before


def test_read_commands_print_json(product):
    """--output json on every read command parses, and `rack params` agrees with the text
    listing (sorted two columns)."""
    p = product
    rack = rack_name("json")
    p.convox("rack", "install", "local", rack)
    assert any(r["name"] == rack for r in p.convox_json("racks"))
    assert p.convox_json("rack", "-r", rack)["name"] == rack
    params = p.convox_json("rack", "params", "-r", rack)
    text = p.convox("rack", "params", "-r", rack).stdout
    rows = [line.split(None, 1) for line in text.splitlines()]
    assert [r[0] for r in rows] == sorted(params)
    assert {r[0]: (r[1] if len(r) > 1 else "") for r in rows} == params
    assert p.convox_json("rack", "auth", "-r", rack)["auth_mode"] == "CONFIG_MAP"
    plan = p.convox_json("rack", "params", "set", "eks_access_entries=true", "--dry-run",
                         "-r", rack)
    assert plan["dry_run"] is True and plan["steps"]
    assert p.mode(rack) == "CONFIG_MAP"
    cmd, env = p.convox_cmd("sim", "config", "--state", p.home, "--output", "json")
    cfg = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True,
                                    check=True).stdout)
    assert isinstance(cfg["update_ms"], int)


def test_karpenter_first_then_eks_access_entries_skips_the_switch(only_convox):
    """The seed's "Interaction with Karpenter": with karpenter_auth_mode=true already applied
    the cluster is API_AND_CONFIG_MAP, and eks_access_entries=true then adds the caller and
    nodes entries without re-running the auth mode switch, the Karpenter node entry as it
    was. Checked with the AWS CLI."""
    p = only_convox
    rack = rack_name("karp")
    p.convox("rack", "install", "local", rack)
    before = p.requests()
    r = p.convox("rack", "params", "set", "karpenter_auth_mode=true", "-r", rack)
    assert r.stdout == "Setting parameters... OK\n"
    assert diff(before, p.requests()).get("eks:UpdateClusterConfig") == 1
    assert p.mode(rack) == "API_AND_CONFIG_MAP"
    first = p.entries_cli(rack)
    assert sorted(first) == [karpenter_role(rack)]

    before = p.requests()
    r = p.convox("rack", "params", "set", "eks_access_entries=true", "-r", rack)
    assert r.stdout == "Setting parameters... OK\n"
    calls = diff(before, p.requests())
    assert calls.get("eks:UpdateClusterConfig", 0) == 0, calls
    assert calls.get("eks:CreateAccessEntry") == 2, calls
    assert mutating(calls) == 3, calls
    assert p.mode(rack) == "API_AND_CONFIG_MAP"
    got = p.entries_cli(rack)
    assert sorted(got) == sorted([CALLER_ROLE, nodes_role(rack), karpenter_role(rack)])
    assert got[CALLER_ROLE][0] == "STANDARD"
    assert got[CALLER_ROLE][2] == [(admin_policy(), "cluster")]
    assert got[nodes_role(rack)][0] == "EC2_LINUX"
    assert got[karpenter_role(rack)] == first[karpenter_role(rack)]
    auth = p.convox_json("rack", "auth", "-r", rack)
    assert auth["converged"] is True
    assert all(auth["table_row"][k] for k in ("auth_mode_switch", "karpenter_node_entry",
                                              "caller_entry", "nodes_entry"))


def test_caller_entry_and_policy_removed_out_of_band_are_back_after_rack_update(only_convox):
    """Beyond the nodes entry: the caller's admin policy disassociated, then the caller's
    entry deleted, with the AWS CLI; `convox rack update` restores both."""
    p = only_convox
    rack = rack_name("mend")
    p.convox("rack", "install", "local", rack)
    p.convox("rack", "params", "set", "eks_access_entries=true", "-r", rack)
    converged = p.entries_cli(rack)
    p.aws("eks", "disassociate-access-policy", "--cluster-name", rack,
          "--principal-arn", CALLER_ROLE, "--policy-arn", admin_policy())
    assert p.entries_cli(rack)[CALLER_ROLE][2] == []
    assert p.convox_json("rack", "auth", "-r", rack)["converged"] is False
    p.convox("rack", "update", "-r", rack)
    assert p.entries_cli(rack) == converged
    p.aws("eks", "delete-access-entry", "--cluster-name", rack, "--principal-arn", CALLER_ROLE)
    assert CALLER_ROLE not in p.entries_cli(rack)
    p.convox("rack", "update", "-r", rack)
    assert p.entries_cli(rack) == converged
    assert p.convox_json("rack", "auth", "-r", rack)["converged"] is True


def test_seed_transcript_in_a_shell_after_eval_sim_env(product):
    """The seed's transcript as a user types it, in a shell whose only AWS setup is the
    documented `eval "$(convox sim env)"`: `convox rack params set eks_access_entries=true
    -r RACK` prints the seed's line, then the seed's verification command
    `aws eks list-access-entries --cluster-name <cluster-name> --region <region>` lists the
    caller's role and the nodes role."""
    p = product
    exe = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    if exe is None:
        pytest.skip("AWS CLI not installed")
    rack = rack_name("shell")
    p.convox("rack", "install", "local", rack)
    env = p.base_env()
    env["HOME"] = tempfile.mkdtemp(prefix="convox-user-")  # no ~/.aws of the machine's user
    env["CONVOX_SIM_ENDPOINT"] = p.url
    env["CONVOX"] = p.bin
    env["AWS_CLI"] = exe
    env["RACK"] = rack
    script = (
        'set -eu\n'
        'eval "$("$CONVOX" sim env)"\n'
        '"$CONVOX" rack params set eks_access_entries=true -r "$RACK"\n'
        'echo ---\n'
        '"$AWS_CLI" eks list-access-entries --cluster-name "$RACK" --region "$AWS_REGION"\n'
    )
    r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                       timeout=120)
    shutil.rmtree(env["HOME"], ignore_errors=True)
    assert r.returncode == 0, r.stderr
    said, listed = r.stdout.split("---\n", 1)
    assert said == "Setting parameters... OK\n"
    entries = json.loads(listed)["accessEntries"]
    assert CALLER_ROLE in entries and nodes_role(rack) in entries, entries
