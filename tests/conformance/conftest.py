"""Shared fixtures: the simulator (`eks-sim serve`) on an ephemeral loopback port, boto3
clients and an AWS CLI runner pointed at it.

Fixtures:
- ``sim``        one server per test session (state in a temp dir, durations 0)
- ``fresh_sim``  a server of its own with a fresh state, for tests that need one
- ``client``     ``client("eks")`` → a boto3 client for ``sim`` (default key pair)
- ``aws``        ``aws("eks", "list-clusters")`` → runs the AWS CLI against ``sim``;
                 returns a result with ``.returncode``, ``.stdout``, ``.stderr``, ``.json``
                 (raises on a non-zero exit unless ``check=False``)
- ``aws_env``    the environment the CLI runs with (``AWS_ENDPOINT_URL`` etc.)
- ``settings``   ``settings(update_ms=500)`` changes simulator settings for one test and
                 restores them afterwards

Environment: ``EKS_SIM_BIN`` overrides the binary (default ``target/debug/eks-sim``, built
with cargo if missing).
"""

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "us-east-1"
ACCESS_KEY_ID = "ASIASIMULATEDCONVOX1"
SECRET_ACCESS_KEY = "c0nv0xSimulatorDefaultSecretKey/EXAMPLE1"
SESSION_TOKEN = "convox-sim-default-session-token"
DEFAULT_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ops/ConvoxAdmin"
DEFAULT_CALLER_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/ConvoxAdmin/convox"

# boto3 clients made in this process read the environment and ~/.aws like the CLI does: a
# profile, region, CA bundle, endpoint or FIPS switch of the machine's must not reach them
# (the CLI subprocesses get a clean environment from Sim.env()).
for _k in [k for k in os.environ if k.startswith("AWS_")]:
    del os.environ[_k]
os.environ.update(
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    AWS_EC2_METADATA_DISABLED="true",
)

ZERO_DURATIONS = {
    "cluster_create_ms": 0,
    "nodegroup_create_ms": 0,
    "update_ms": 0,
    "propagation_ms": 0,
}


def _sim_bin():
    explicit = os.environ.get("EKS_SIM_BIN")
    if explicit:
        return explicit
    path = ROOT / "target" / "debug" / "eks-sim"
    if not path.exists():
        subprocess.run(
            ["cargo", "build", "-p", "eks-sim-server", "--bin", "eks-sim"],
            cwd=ROOT,
            check=True,
        )
    return str(path)


class _Answers:
    def __init__(self):
        self.problems, self.ok_ops, self.err_ops = [], set(), {}


def _shape_guard(http_response, parsed, model, **kw):
    """Every answer a boto3 client of this suite gets is checked against the botocore model
    (raw body, not botocore's lenient parse; see test_model_shapes.py). A discrepancy fails
    the call that met it. CONVOX_SHAPE_CHECK=0 turns this off."""
    from model_shapes import validate_answer

    rec = _Answers()
    validate_answer(rec, http_response, model)
    if rec.problems:
        raise AssertionError("answer does not match the botocore model:\n  " + "\n  ".join(rec.problems))


class Sim:
    """A running `eks-sim serve` process."""

    def __init__(self, state_dir, extra_args=()):
        self.state_dir = state_dir
        # The log goes to a (deleted) file: a pipe nobody reads fills up (64 KiB, e.g. with
        # RUST_LOG set) and then blocks the server in the middle of a request.
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [_sim_bin(), "serve", "--listen", "127.0.0.1:0", "--state", state_dir, *extra_args],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        prefix = "listening on "
        if not line.startswith(prefix):
            self.proc.kill()
            self.proc.wait()
            self.log.seek(0)
            err = self.log.read().decode(errors="replace")
            self.log.close()
            raise RuntimeError(f"eks-sim did not start: {line!r} {err}")
        self.url = line[len(prefix):]
        self.addr = self.url.removeprefix("http://")
        self.set_settings(**ZERO_DURATIONS)

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def settings(self):
        return self._call("GET", "/_sim/settings")

    def set_settings(self, **kw):
        return self._call("POST", "/_sim/settings", kw)

    def requests(self):
        """Per-operation request counts, e.g. {"eks:DescribeCluster": 3}."""
        return self._call("GET", "/_sim/requests")

    def clear_requests(self):
        return self._call("DELETE", "/_sim/requests")

    def reset(self):
        return self._call("POST", "/_sim/reset")

    def env(self, **overrides):
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("AWS_"):
                del env[k]
        env.update(
            AWS_ENDPOINT_URL=self.url,
            AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
            AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
            AWS_SESSION_TOKEN=SESSION_TOKEN,
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
            # keep the user's files and any pager out of the tests
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_PAGER="",
            AWS_MAX_ATTEMPTS="1",
            AWS_EC2_METADATA_DISABLED="true",
        )
        env.update({k: v for k, v in overrides.items() if v is not None})
        for k, v in overrides.items():
            if v is None:
                env.pop(k, None)
        return env

    def client(self, service, region=REGION, access_key_id=ACCESS_KEY_ID,
               secret_access_key=SECRET_ACCESS_KEY, session_token=SESSION_TOKEN, **kw):
        import boto3
        from botocore.config import Config

        cfg = kw.pop("config", None) or Config(retries={"total_max_attempts": 1, "mode": "standard"})
        c = boto3.session.Session().client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            config=cfg,
            **kw,
        )
        if os.environ.get("CONVOX_SHAPE_CHECK", "1") != "0":
            c.meta.events.register("after-call", _shape_guard)
        return c

    def aws(self, *args, check=True, env=None, timeout=60):
        exe = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
        if exe is None:
            pytest.skip("AWS CLI not installed")
        r = subprocess.run(
            [exe, *args, "--output", "json"],
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        r.json = json.loads(r.stdout) if r.stdout.strip() else None
        if check and r.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def sim():
    d = tempfile.mkdtemp(prefix="eks-sim-")
    s = Sim(d)
    yield s
    s.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def fresh_sim():
    d = tempfile.mkdtemp(prefix="eks-sim-fresh-")
    s = Sim(d)
    yield s
    s.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def client(sim):
    return sim.client


@pytest.fixture
def aws(sim):
    return sim.aws


@pytest.fixture
def aws_env(sim):
    return sim.env()


@pytest.fixture
def settings(sim):
    before = sim.settings()
    changed = []

    def change(**kw):
        changed.extend(kw)
        return sim.set_settings(**kw)

    yield change
    if changed:
        sim.set_settings(**{k: before[k] for k in changed})


_unique_seq = itertools.count()


def unique(prefix):
    """A name that does not collide within the shared session state (nor with a rerun on the
    same state): the clock alone repeats when two calls fall in one tick of a coarse clock."""
    return f"{prefix}{time.time_ns() % 10**12}{next(_unique_seq)}"
