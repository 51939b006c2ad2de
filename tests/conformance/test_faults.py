"""Faults on demand as AWS's own clients meet them: botocore's and the AWS CLI's standard
retry mode retry the simulator's throttling and 5xx answers exactly as they retry AWS's
(each attempt reaches the server and is counted), throttle buckets are per class, the error
sequence is a function of the seed, and the reserved /_sim/ endpoints refuse unsigned
requests when the server listens on an address that is not loopback."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCOUNT, ROOT, _sim_bin

TRUST = json.dumps({"Version": "2012-10-17", "Statement": []})


def retrying(sim, service, attempts):
    return sim.client(service, config=Config(retries={"mode": "standard", "total_max_attempts": attempts}))


def code_and_status(ei):
    r = ei.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["ResponseMetadata"]["RetryAttempts"]


def test_botocore_retries_eks_throttling_429_until_it_gives_up(fresh_sim):
    eks = retrying(fresh_sim, "eks", 3)
    # one token, refilled in ~17 minutes: the first read passes, the next ones are throttled
    fresh_sim.set_settings(throttle_rate=0.001, throttle_burst=1)
    eks.list_clusters()
    fresh_sim.clear_requests()
    with pytest.raises(ClientError) as ei:
        eks.list_clusters()
    assert code_and_status(ei) == ("ThrottlingException", 429, 2)
    # every attempt reached the server
    assert fresh_sim.requests() == {"eks:ListClusters": 3}
    # reads and changes are separate buckets: a change still goes through
    fresh_sim.client("iam").create_role(RoleName="r1", AssumeRolePolicyDocument=TRUST)
    with pytest.raises(ClientError) as ei:
        eks.delete_cluster(name="nope")
    assert ei.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_botocore_retry_succeeds_once_the_bucket_refills(fresh_sim):
    eks = retrying(fresh_sim, "eks", 8)
    # A token every 2 s: "right after" has to hold on a slow machine too (500 ms left little
    # room), and botocore's backoff (up to 1, 2, 4, 8… s) gets past 2 s within its 7 retries.
    fresh_sim.set_settings(throttle_rate=0.5, throttle_burst=1)
    fresh_sim.clear_requests()
    eks.list_clusters()
    r = eks.list_clusters()  # right after: throttled, retried with backoff, then served
    assert r["ResponseMetadata"]["RetryAttempts"] >= 1
    assert fresh_sim.requests()["eks:ListClusters"] == 2 + r["ResponseMetadata"]["RetryAttempts"]


def test_query_throttling_and_5xx_are_retried_by_botocore(fresh_sim):
    iam, sts = retrying(fresh_sim, "iam", 2), retrying(fresh_sim, "sts", 4)
    fresh_sim.set_settings(throttle_rate=0.001, throttle_burst=1)
    iam.get_role(RoleName="ConvoxAdmin")
    fresh_sim.clear_requests()
    with pytest.raises(ClientError) as ei:
        iam.get_role(RoleName="ConvoxAdmin")
    assert code_and_status(ei) == ("Throttling", 400, 1)
    assert fresh_sim.requests() == {"iam:GetRole": 2}
    fresh_sim.set_settings(throttle_rate=0, error_rate=1.0)
    fresh_sim.clear_requests()
    with pytest.raises(ClientError) as ei:
        sts.get_caller_identity()
    assert code_and_status(ei) == ("InternalFailure", 500, 3)
    assert fresh_sim.requests() == {"sts:GetCallerIdentity": 4}


def test_cli_standard_retries_on_server_errors(fresh_sim):
    fresh_sim.set_settings(error_rate=1.0)
    fresh_sim.clear_requests()
    env = fresh_sim.env(AWS_MAX_ATTEMPTS="3", AWS_RETRY_MODE="standard")
    r = fresh_sim.aws("eks", "list-clusters", check=False, env=env)
    assert r.returncode != 0
    assert "ServerException" in r.stderr and "reached max retries: 2" in r.stderr
    assert fresh_sim.requests() == {"eks:ListClusters": 3}
    # a mutating call that fails on every attempt leaves nothing behind
    fresh_sim.set_settings(error_rate=1.0)
    r = fresh_sim.aws("iam", "create-role", "--role-name", "never", "--assume-role-policy-document", TRUST,
                      check=False, env=env)
    assert r.returncode != 0 and "ServiceFailure" in r.stderr
    fresh_sim.set_settings(error_rate=0.0)
    with pytest.raises(ClientError) as ei:
        fresh_sim.client("iam").get_role(RoleName="never")
    assert ei.value.response["Error"]["Code"] == "NoSuchEntity"


def test_cli_retries_throttling_429(fresh_sim):
    fresh_sim.set_settings(throttle_rate=0.001, throttle_burst=1)
    env = fresh_sim.env(AWS_MAX_ATTEMPTS="2", AWS_RETRY_MODE="standard")
    assert fresh_sim.aws("eks", "list-clusters", env=env).json == {"clusters": []}
    fresh_sim.clear_requests()
    r = fresh_sim.aws("eks", "list-clusters", check=False, env=env)
    assert r.returncode != 0
    assert "ThrottlingException" in r.stderr and "reached max retries: 1" in r.stderr
    assert fresh_sim.requests() == {"eks:ListClusters": 2}


def test_error_sequence_repeats_after_reset_with_the_same_seed(fresh_sim):
    """The n-th request after a reset fails or not as a function of (seed, n) only."""
    sts = fresh_sim.client("sts")

    def run():
        fresh_sim.reset()
        fresh_sim.set_settings(error_rate=0.3, seed=12345)
        out = []
        for _ in range(30):
            try:
                sts.get_caller_identity()
                out.append(".")
            except ClientError as e:
                assert e.response["Error"]["Code"] == "InternalFailure"
                out.append("x")
        fresh_sim.set_settings(error_rate=0.0)
        return "".join(out)

    first, second = run(), run()
    assert first == second
    assert "x" in first and "." in first


def test_latency_applies_per_attempt(fresh_sim):
    import time
    fresh_sim.set_settings(latency_ms=200, error_rate=1.0)
    sts = retrying(fresh_sim, "sts", 2)
    t = time.monotonic()
    with pytest.raises(ClientError):
        sts.get_caller_identity()
    # two attempts, each delayed; botocore's own backoff adds to it
    assert time.monotonic() - t >= 0.4


# ---------------------------------------------------------------------------------------
# /_sim/ off loopback, inside a private network namespace.

NETNS_ADDR = "10.253.77.1"

PROBE = textwrap.dedent("""
    import json, subprocess, sys, tempfile, urllib.request, urllib.error
    sys.path.insert(0, sys.argv[1])
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    import conftest

    d = tempfile.mkdtemp()
    p = subprocess.Popen([sys.argv[2], "serve", "--listen", sys.argv[3] + ":0", "--state", d],
                         stdout=subprocess.PIPE, text=True)
    url = p.stdout.readline().strip().removeprefix("listening on ")
    out = {"url": url}

    def go(method, path, body=None, creds=None):
        data = json.dumps(body).encode() if body is not None else b""
        req = AWSRequest(method=method, url=url + path, data=data)
        if creds:
            SigV4Auth(creds, "eks", "us-east-1").add_auth(req)
        pr = req.prepare()
        r = urllib.request.Request(pr.url, data=pr.body or None, method=method, headers=dict(pr.headers))
        try:
            with urllib.request.urlopen(r, timeout=10) as resp:
                return [resp.status, None, json.loads(resp.read() or b"null")]
        except urllib.error.HTTPError as e:
            return [e.code, e.headers.get("x-amzn-errortype"), None]

    good = Credentials(conftest.ACCESS_KEY_ID, conftest.SECRET_ACCESS_KEY, conftest.SESSION_TOKEN)
    bad = Credentials(conftest.ACCESS_KEY_ID, "wrong-secret", conftest.SESSION_TOKEN)
    try:
        out["unsigned_get_requests"] = go("GET", "/_sim/requests")
        out["unsigned_set"] = go("POST", "/_sim/settings", {"error_rate": 1.0})
        out["unsigned_reset"] = go("POST", "/_sim/reset")
        out["wrong_secret_set"] = go("POST", "/_sim/settings", {"error_rate": 1.0}, bad)
        out["signed_settings"] = go("GET", "/_sim/settings", creds=good)
        out["signed_set"] = go("POST", "/_sim/settings", {"read_lag_ms": 5}, good)
    finally:
        p.terminate()
        p.wait(10)
    print(json.dumps(out))
""")


def _netns_prefix():
    """`unshare` arguments that give a private network namespace here, or None."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return None
    for args in (["unshare", "--net"], ["unshare", "--net", "--map-root-user"]):
        probe = subprocess.run(
            [*args, "sh", "-c", f"ip link set lo up && ip addr add {NETNS_ADDR}/32 dev lo"],
            capture_output=True,
        )
        if probe.returncode == 0:
            return args
    return None


def test_sim_endpoints_need_a_signature_off_loopback():
    prefix = _netns_prefix()
    if prefix is None:
        pytest.skip("no private network namespace here (unshare --net not permitted)")
    # The address exists only inside the new namespace: no traffic can leave the machine.
    setup = f"ip link set lo up && ip addr add {NETNS_ADDR}/32 dev lo && exec \"$0\" -c \"$1\" \"$2\" \"$3\" \"$4\""
    r = subprocess.run(
        [*prefix, "sh", "-c", setup, sys.executable, PROBE, str(ROOT / "tests" / "conformance"), _sim_bin(), NETNS_ADDR],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["url"].startswith(f"http://{NETNS_ADDR}:")
    assert out["unsigned_get_requests"][:2] == [403, "MissingAuthenticationTokenException"]
    assert out["unsigned_set"][:2] == [403, "MissingAuthenticationTokenException"]
    assert out["unsigned_reset"][:2] == [403, "MissingAuthenticationTokenException"]
    assert out["wrong_secret_set"][:2] == [403, "InvalidSignatureException"]
    # the refused writes changed nothing; a signed request of a known key is served
    status, _, settings = out["signed_settings"]
    assert status == 200 and settings["error_rate"] == 0
    status, _, settings = out["signed_set"]
    assert status == 200 and settings["read_lag_ms"] == 5 and settings["error_rate"] == 0


def test_two_processes_racing_on_one_state_never_fail_or_half_write(tmp_path):
    """Two servers on one state file, many clients creating/associating/deleting the same
    entries at once: every answer is a normal AWS answer (never 5xx), each create that wins
    is matched by exactly one delete that wins, and the state ends consistent."""
    import collections
    import threading

    from conftest import Sim

    a, b = Sim(str(tmp_path)), Sim(str(tmp_path))
    try:
        iam = a.client("iam")
        roles = [iam.create_role(RoleName=f"race{i}", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"] for i in range(6)]
        a.client("eks").create_cluster(
            name="race", roleArn=roles[0], resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]},
            accessConfig={"authenticationMode": "API_AND_CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": False},
        )
        seen = collections.Counter()
        lock = threading.Lock()
        policy = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"

        def worker(i):
            eks = (a if i % 2 else b).client("eks", config=Config(retries={"total_max_attempts": 1}))
            for r in roles:
                for op, f in [
                    ("create", lambda: eks.create_access_entry(clusterName="race", principalArn=r)),
                    ("assoc", lambda: eks.associate_access_policy(
                        clusterName="race", principalArn=r, policyArn=policy, accessScope={"type": "cluster"})),
                    ("delete", lambda: eks.delete_access_entry(clusterName="race", principalArn=r)),
                ]:
                    try:
                        f()
                        k = "ok"
                    except ClientError as e:
                        k = e.response["Error"]["Code"]
                        assert e.response["ResponseMetadata"]["HTTPStatusCode"] < 500, e.response
                    with lock:
                        seen[(op, k)] += 1

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(k for _, k in seen) <= {"ok", "ResourceInUseException", "ResourceNotFoundException"}, seen
        assert seen[("create", "ok")] == seen[("delete", "ok")] >= len(roles)
        eks = a.client("eks")
        assert eks.list_access_entries(clusterName="race")["accessEntries"] == []
        assert b.client("eks").list_access_entries(clusterName="race")["accessEntries"] == []
    finally:
        a.stop()
        b.stop()


@pytest.mark.parametrize("key,value", [
    ("read_lag_ms", 2**63),  # used to overflow ms arithmetic: every list/describe a 500
    ("cluster_create_ms", 2**64 - 1),  # used to wrap negative: the cluster ACTIVE at once
    ("update_ms", 31 * 24 * 3600 * 1000),
    ("latency_ms", 10**15),  # would hang every request for ever
])
def test_settings_that_would_break_the_simulator_are_refused(fresh_sim, key, value):
    import urllib.error

    before = fresh_sim.settings()
    with pytest.raises(urllib.error.HTTPError) as ei:
        fresh_sim.set_settings(**{key: value})
    assert ei.value.code == 400 and key in ei.value.read().decode()
    assert fresh_sim.settings() == before
    # still serving normally
    eks = fresh_sim.client("eks")
    assert eks.list_clusters()["clusters"] == []
