"""EKS against the simulator with boto3 and the AWS CLI: clusters, auth-mode updates,
access entries, access policies, node groups, pagination, waiters and AWS's errors."""

import datetime
import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, DEFAULT_ROLE_ARN, unique

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
MODE_MSG = (
    "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] "
    "to perform this operation."
)
DUP_MSG = "The specified access entry resource is already in use on this cluster."
STD_MSG = 'This operation can only be performed on Access Entries with a type of "STANDARD".'


def err(exc_info):
    e = exc_info.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def roles(sim):
    iam = sim.client("iam")
    out = {}
    for key, path in [("cluster", "/"), ("nodes", "/"), ("karpenter", "/"), ("dev", "/development/apps/")]:
        name = unique(f"eks-{key}-")
        r = iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(TRUST))
        out[key] = r["Role"]["Arn"]
    assert out["dev"].endswith("/development/apps/" + out["dev"].rsplit("/", 1)[1])
    return out


@pytest.fixture
def eks(sim):
    return sim.client("eks")


def make_cluster(eks, roles, mode=None, name=None):
    name = name or unique("c")
    kw = {}
    if mode:
        kw["accessConfig"] = {"authenticationMode": mode}
    eks.create_cluster(
        name=name,
        roleArn=roles["cluster"],
        resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]},
        **kw,
    )
    return name


def test_cluster_lifecycle_and_mode_migration(eks, roles):
    name = unique("demo")
    out = eks.create_cluster(
        name=name,
        roleArn=roles["cluster"],
        resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]},
        tags={"team": "a"},
    )["cluster"]
    assert out["arn"] == f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/{name}"
    # EKS echoes bootstrapClusterCreatorAdminPermissions only when it was given.
    assert out["accessConfig"] == {"authenticationMode": "CONFIG_MAP"}
    assert isinstance(out["createdAt"], datetime.datetime)
    assert out["tags"] == {"team": "a"}

    c = eks.describe_cluster(name=name)["cluster"]
    assert c["status"] == "ACTIVE"
    assert c["endpoint"].startswith("https://") and c["endpoint"].endswith(".eks.amazonaws.com")
    assert c["certificateAuthority"]["data"]
    assert c["identity"]["oidc"]["issuer"].startswith("https://oidc.eks.us-east-1.amazonaws.com/id/")
    assert name in eks.list_clusters()["clusters"]

    # Access entries do not exist in CONFIG_MAP mode.
    for call in (
        lambda: eks.list_access_entries(clusterName=name),
        lambda: eks.describe_access_entry(clusterName=name, principalArn=roles["dev"]),
        lambda: eks.create_access_entry(clusterName=name, principalArn=roles["dev"]),
    ):
        with pytest.raises(ClientError) as ei:
            call()
        assert err(ei) == ("InvalidRequestException", MODE_MSG, 400)

    eks.create_nodegroup(
        clusterName=name, nodegroupName="ng", subnets=["subnet-1"], nodeRole=roles["nodes"]
    )
    ng = eks.describe_nodegroup(clusterName=name, nodegroupName="ng")["nodegroup"]
    assert ng["nodeRole"] == roles["nodes"] and ng["status"] == "ACTIVE"
    assert eks.list_nodegroups(clusterName=name)["nodegroups"] == ["ng"]

    with pytest.raises(ClientError) as ei:
        eks.update_cluster_config(name=name, accessConfig={"authenticationMode": "API"})
    assert err(ei) == (
        "InvalidParameterException",
        "Unsupported authentication mode update from CONFIG_MAP to API",
        400,
    )

    upd = eks.update_cluster_config(
        name=name, accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"}
    )["update"]
    assert upd["type"] == "AccessConfigUpdate"
    assert upd["params"] == [{"type": "AuthenticationMode", "value": "API_AND_CONFIG_MAP"}]
    assert upd["errors"] == []
    got = eks.describe_update(name=name, updateId=upd["id"])["update"]
    assert got["status"] == "Successful"
    assert eks.list_updates(name=name)["updateIds"] == [upd["id"]]

    # EKS made the creator's admin entry and the node role's entry.
    entries = eks.list_access_entries(clusterName=name)["accessEntries"]
    assert sorted(entries) == sorted([DEFAULT_ROLE_ARN, roles["nodes"]])
    node = eks.describe_access_entry(clusterName=name, principalArn=roles["nodes"])["accessEntry"]
    assert node["type"] == "EC2_LINUX"
    assert node["username"] == "system:node:{{EC2PrivateDNSName}}"
    pols = eks.list_associated_access_policies(clusterName=name, principalArn=DEFAULT_ROLE_ARN)
    assert [p["policyArn"] for p in pols["associatedAccessPolicies"]] == [ADMIN_POLICY]
    assert pols["associatedAccessPolicies"][0]["accessScope"] == {"type": "cluster", "namespaces": []}
    with pytest.raises(ClientError) as ei:
        eks.list_associated_access_policies(clusterName=name, principalArn=roles["nodes"])
    assert err(ei) == ("InvalidParameterException", STD_MSG, 400)

    with pytest.raises(ClientError) as ei:
        eks.update_cluster_config(name=name, accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    assert err(ei)[0] == "InvalidParameterException"
    assert "API_AND_CONFIG_MAP to API_AND_CONFIG_MAP" in err(ei)[1]

    with pytest.raises(ClientError) as ei:
        eks.delete_cluster(name=name)
    assert err(ei)[0] == "ResourceInUseException" and err(ei)[2] == 409
    eks.delete_nodegroup(clusterName=name, nodegroupName="ng")
    assert eks.delete_cluster(name=name)["cluster"]["status"] == "DELETING"
    with pytest.raises(ClientError) as ei:
        eks.describe_cluster(name=name)
    assert err(ei) == ("ResourceNotFoundException", f"No cluster found for name: {name}.", 404)


def test_access_entries_and_policies(eks, roles):
    name = make_cluster(eks, roles, mode="API")
    e = eks.create_access_entry(
        clusterName=name,
        principalArn=roles["dev"],
        kubernetesGroups=["viewers"],
        tags={"rack": "r1"},
    )["accessEntry"]
    role_name = roles["dev"].rsplit("/", 1)[1]
    assert e["type"] == "STANDARD"
    assert e["username"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{{{{SessionName}}}}"
    assert e["accessEntryArn"].startswith(
        f"arn:aws:eks:us-east-1:{ACCOUNT}:access-entry/{name}/role/{ACCOUNT}/{role_name}/"
    )
    assert e["tags"] == {"rack": "r1"}
    assert isinstance(e["createdAt"], datetime.datetime)

    got = eks.describe_access_entry(clusterName=name, principalArn=roles["dev"])["accessEntry"]
    assert got == e

    with pytest.raises(ClientError) as ei:
        eks.create_access_entry(clusterName=name, principalArn=roles["dev"])
    assert err(ei) == ("ResourceInUseException", DUP_MSG, 409)

    for bad in (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/ConvoxAdmin/convox",
        f"arn:aws:iam::{ACCOUNT}:role/{role_name}",  # path dropped: not the same principal
        f"arn:aws:iam::{ACCOUNT}:role/does-not-exist",
        "garbage",
    ):
        with pytest.raises(ClientError) as ei:
            eks.create_access_entry(clusterName=name, principalArn=bad)
        assert err(ei) == (
            "InvalidParameterException",
            "The specified principalArn is invalid: invalid principal.",
            400,
        ), bad

    with pytest.raises(ClientError) as ei:
        eks.create_access_entry(
            clusterName=name, principalArn=roles["karpenter"], type="EC2_LINUX", kubernetesGroups=["x"]
        )
    assert err(ei)[0] == "InvalidParameterException"
    k = eks.create_access_entry(clusterName=name, principalArn=roles["karpenter"], type="EC2_LINUX")
    assert k["accessEntry"]["username"] == "system:node:{{EC2PrivateDNSName}}"
    with pytest.raises(ClientError) as ei:
        eks.associate_access_policy(
            clusterName=name, principalArn=roles["karpenter"], policyArn=VIEW_POLICY,
            accessScope={"type": "cluster"},
        )
    assert err(ei) == ("InvalidParameterException", STD_MSG, 400)

    a = eks.associate_access_policy(
        clusterName=name, principalArn=roles["dev"], policyArn=VIEW_POLICY,
        accessScope={"type": "namespace", "namespaces": ["dev", "team-*"]},
    )
    assert a["clusterName"] == name and a["principalArn"] == roles["dev"]
    assert a["associatedAccessPolicy"]["accessScope"] == {"type": "namespace", "namespaces": ["dev", "team-*"]}
    first_at = a["associatedAccessPolicy"]["associatedAt"]
    for scope in (
        {"type": "namespace", "namespaces": []},
        {"type": "namespace", "namespaces": ["Not_Valid"]},
        {"type": "cluster", "namespaces": ["dev"]},
    ):
        with pytest.raises(ClientError) as ei:
            eks.associate_access_policy(
                clusterName=name, principalArn=roles["dev"], policyArn=VIEW_POLICY, accessScope=scope
            )
        assert err(ei)[0] == "InvalidParameterException", scope
    # Associating again replaces the scope.
    b = eks.associate_access_policy(
        clusterName=name, principalArn=roles["dev"], policyArn=VIEW_POLICY,
        accessScope={"type": "cluster"},
    )["associatedAccessPolicy"]
    assert b["accessScope"]["type"] == "cluster"
    assert b["associatedAt"] == first_at
    listed = eks.list_associated_access_policies(clusterName=name, principalArn=roles["dev"])
    assert len(listed["associatedAccessPolicies"]) == 1
    only_view = eks.list_access_entries(clusterName=name, associatedPolicyArn=VIEW_POLICY)
    assert only_view["accessEntries"] == [roles["dev"]]

    upd = eks.update_access_entry(clusterName=name, principalArn=roles["dev"], kubernetesGroups=["editors"])
    assert upd["accessEntry"]["kubernetesGroups"] == ["editors"]

    eks.disassociate_access_policy(clusterName=name, principalArn=roles["dev"], policyArn=VIEW_POLICY)
    assert eks.list_associated_access_policies(clusterName=name, principalArn=roles["dev"])[
        "associatedAccessPolicies"
    ] == []
    eks.delete_access_entry(clusterName=name, principalArn=roles["dev"])
    with pytest.raises(ClientError) as ei:
        eks.describe_access_entry(clusterName=name, principalArn=roles["dev"])
    code, msg, status = err(ei)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert msg.startswith("The specified principalArn could not be found.")


def test_list_access_policies(eks):
    meta = eks.list_access_policies()["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 200 and meta["RequestId"]
    names = []
    for page in eks.get_paginator("list_access_policies").paginate(PaginationConfig={"PageSize": 4}):
        assert len(page["accessPolicies"]) <= 4
        names += [p["name"] for p in page["accessPolicies"]]
        for p in page["accessPolicies"]:
            assert p["arn"] == f"arn:aws:eks::aws:cluster-access-policy/{p['name']}"
    for want in ("AmazonEKSClusterAdminPolicy", "AmazonEKSAdminPolicy", "AmazonEKSEditPolicy", "AmazonEKSViewPolicy"):
        assert want in names
    assert names == sorted(names) and len(set(names)) == len(names)


def test_partition_follows_region(sim, roles):
    cn = sim.client("eks", region="cn-north-1")
    name = unique("cn")
    # IAM is one account across partitions here; in China its ARNs are aws-cn ones.
    with pytest.raises(ClientError) as ei:
        cn.create_cluster(name=name, roleArn=roles["cluster"], resourcesVpcConfig={"subnetIds": ["s1", "s2"]})
    assert err(ei)[0] == "InvalidParameterException"
    cn_role = roles["cluster"].replace("arn:aws:", "arn:aws-cn:")
    cn.create_cluster(
        name=name, roleArn=cn_role, resourcesVpcConfig={"subnetIds": ["s1", "s2"]},
        accessConfig={"authenticationMode": "API"},
    )
    assert cn.describe_cluster(name=name)["cluster"]["arn"].startswith("arn:aws-cn:eks:cn-north-1:")
    # the creator is seen in the region's partition (an aws-cn identity in China)
    cn_admin = DEFAULT_ROLE_ARN.replace("arn:aws:", "arn:aws-cn:")
    p = cn.list_associated_access_policies(clusterName=name, principalArn=cn_admin)
    assert p["associatedAccessPolicies"][0]["policyArn"] == (
        "arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    )
    pols = cn.list_access_policies()["accessPolicies"]
    assert all(p["arn"].startswith("arn:aws-cn:eks::aws:cluster-access-policy/") for p in pols)
    # The cluster is regional: us-east-1 does not see it.
    with pytest.raises(ClientError) as ei:
        sim.client("eks").describe_cluster(name=name)
    assert err(ei)[0] == "ResourceNotFoundException"


def test_pagination(eks, roles):
    name = make_cluster(eks, roles, mode="API")
    for key in ("dev", "nodes", "karpenter", "cluster"):
        eks.create_access_entry(clusterName=name, principalArn=roles[key])
    pages = list(
        eks.get_paginator("list_access_entries").paginate(
            clusterName=name, PaginationConfig={"PageSize": 2}
        )
    )
    assert len(pages) == 3  # 5 entries (4 + the creator's)
    got = [a for p in pages for a in p["accessEntries"]]
    assert sorted(got) == sorted([roles[k] for k in ("dev", "nodes", "karpenter", "cluster")] + [DEFAULT_ROLE_ARN])
    assert got == sorted(got)
    with pytest.raises(ClientError) as ei:
        eks.list_clusters(nextToken="not-a-token")
    assert err(ei)[0] == "InvalidParameterException"


def test_bad_names_and_missing_role(eks, roles):
    with pytest.raises(ClientError) as ei:
        eks.create_cluster(name="bad.name", roleArn=roles["cluster"], resourcesVpcConfig={})
    assert err(ei)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as ei:
        eks.create_cluster(
            name=unique("r"), roleArn=f"arn:aws:iam::{ACCOUNT}:role/missing", resourcesVpcConfig={}
        )
    assert err(ei)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as ei:
        eks.create_cluster(
            name=unique("b"), roleArn=roles["cluster"], resourcesVpcConfig={},
            accessConfig={"authenticationMode": "CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": False},
        )
    assert err(ei) == (
        "InvalidParameterException",
        "bootstrapClusterCreatorAdminPermissions must be true if cluster authentication mode is set to CONFIG_MAP",
        400,
    )
    name = make_cluster(eks, roles)
    with pytest.raises(ClientError) as ei:
        make_cluster(eks, roles, name=name)
    assert err(ei) == ("ResourceInUseException", f"Cluster already exists with name: {name}", 409)
    with pytest.raises(ClientError) as ei:
        eks.update_cluster_config(name=name, logging={"clusterLogging": [{"types": ["api"], "enabled": True}]})
    assert err(ei)[0] == "InvalidParameterException"


def test_update_in_progress_and_propagation(eks, roles, settings):
    # Each "not yet" is checked where the moment it is over is far away (ten minutes), so no
    # slowness of the machine lets it pass before the check; each "done" is checked after a
    # sleep longer than its duration (a lower bound, which a slow machine only lengthens).
    # In progress: the cluster is UPDATING and a second update is refused.
    busy = make_cluster(eks, roles)
    settings(update_ms=600_000)
    upd = eks.update_cluster_config(name=busy, accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    assert upd["update"]["status"] == "InProgress"
    assert eks.describe_cluster(name=busy)["cluster"]["status"] == "UPDATING"
    with pytest.raises(ClientError) as ei:
        eks.update_cluster_config(name=busy, accessConfig={"authenticationMode": "API"})
    assert err(ei)[0] == "ResourceInUseException" and err(ei)[2] == 409

    # Done after update_ms; then entries are refused while the change propagates...
    name = make_cluster(eks, roles)
    settings(update_ms=1500, propagation_ms=600_000)
    upd = eks.update_cluster_config(name=name, accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    assert upd["update"]["status"] == "InProgress"
    time.sleep(1.6)
    assert eks.describe_update(name=name, updateId=upd["update"]["id"])["update"]["status"] == "Successful"
    c = eks.describe_cluster(name=name)["cluster"]
    assert c["status"] == "ACTIVE" and c["accessConfig"]["authenticationMode"] == "API_AND_CONFIG_MAP"
    with pytest.raises(ClientError) as ei:
        eks.create_access_entry(clusterName=name, principalArn=roles["dev"])
    assert err(ei) == ("InvalidRequestException", MODE_MSG, 400)

    # ...and accepted once it has propagated.
    name = make_cluster(eks, roles)
    settings(update_ms=0, propagation_ms=1000)
    eks.update_cluster_config(name=name, accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    time.sleep(1.1)
    eks.create_access_entry(clusterName=name, principalArn=roles["dev"])


def test_read_after_write_lag(eks, roles, settings):
    name = make_cluster(eks, roles, mode="API")
    # The lag applies when reading: an hour of it while checking "not visible yet" (so no
    # slowness of the machine can let it pass first), then 1.5 s, slept out.
    settings(read_lag_ms=3_600_000)
    eks.create_access_entry(clusterName=name, principalArn=roles["dev"])
    assert roles["dev"] not in eks.list_access_entries(clusterName=name)["accessEntries"]
    settings(read_lag_ms=1500)
    time.sleep(1.6)
    assert roles["dev"] in eks.list_access_entries(clusterName=name)["accessEntries"]


# ---------------------------------------------------------------------------------------
# AWS CLI


def test_cli_documentation_commands(aws, eks, roles):
    name = make_cluster(eks, roles)
    r = aws("eks", "list-access-entries", "--cluster-name", name, "--region", "us-east-1", check=False)
    assert r.returncode != 0
    assert "InvalidRequestException" in r.stderr and "authentication mode" in r.stderr
    aws(
        "eks", "update-cluster-config", "--name", name,
        "--access-config", "authenticationMode=API_AND_CONFIG_MAP",
    )
    out = aws("eks", "list-access-entries", "--cluster-name", name, "--region", "us-east-1").json
    assert out["accessEntries"] == [DEFAULT_ROLE_ARN]
    aws("eks", "create-access-entry", "--cluster-name", name, "--principal-arn", roles["dev"], "--type", "STANDARD")
    aws(
        "eks", "associate-access-policy", "--cluster-name", name, "--principal-arn", roles["dev"],
        "--policy-arn", VIEW_POLICY, "--access-scope", "type=namespace,namespaces=dev,prod",
    )
    got = aws(
        "eks", "list-associated-access-policies", "--cluster-name", name, "--principal-arn", roles["dev"]
    ).json
    assert got["associatedAccessPolicies"][0]["accessScope"] == {"type": "namespace", "namespaces": ["dev", "prod"]}
    d = aws("eks", "describe-access-entry", "--cluster-name", name, "--principal-arn", roles["dev"]).json
    assert d["accessEntry"]["principalArn"] == roles["dev"]
    dup = aws("eks", "create-access-entry", "--cluster-name", name, "--principal-arn", roles["dev"], check=False)
    assert dup.returncode != 0 and "ResourceInUseException" in dup.stderr
    c = aws("eks", "describe-cluster", "--name", name).json["cluster"]
    assert c["accessConfig"]["authenticationMode"] == "API_AND_CONFIG_MAP"
    pols = aws("eks", "list-access-policies").json["accessPolicies"]
    assert any(p["name"] == "AmazonEKSClusterAdminPolicy" for p in pols)


def test_cli_list_clusters_pagination(aws, eks, roles):
    mine = {make_cluster(eks, roles) for _ in range(3)}
    # The CLI follows nextToken itself; a small page size forces several round trips.
    out = aws("eks", "list-clusters", "--page-size", "1").json
    assert mine <= set(out["clusters"])
    first = aws("eks", "list-clusters", "--max-items", "1").json
    assert len(first["clusters"]) == 1 and first.get("NextToken")


def test_cli_wait_cluster_active(aws, eks, roles, settings):
    # CREATING for 10 s: the two CREATING checks below cannot miss it on a slow machine, and
    # the waiter's 30 s poll still finds the cluster ACTIVE.
    settings(cluster_create_ms=10_000)
    name = unique("wait")
    created = aws(
        "eks", "create-cluster", "--name", name, "--role-arn", roles["cluster"],
        "--resources-vpc-config", "subnetIds=subnet-1,subnet-2",
    ).json["cluster"]
    assert created["status"] == "CREATING"
    assert eks.describe_cluster(name=name)["cluster"]["status"] == "CREATING"
    start = time.monotonic()
    # The CLI's waiter polls every 30 s: one CREATING answer, then ACTIVE on the next poll.
    aws("eks", "wait", "cluster-active", "--name", name, timeout=120)
    assert time.monotonic() - start < 90
    assert eks.describe_cluster(name=name)["cluster"]["status"] == "ACTIVE"


def test_boto3_waiter_fast(eks, roles, settings):
    # CREATING for 3 s: long enough that the check below cannot miss it on a slow machine,
    # well within the waiter's 10 polls 1 s apart.
    settings(cluster_create_ms=3000)
    name = make_cluster(eks, roles)
    assert eks.describe_cluster(name=name)["cluster"]["status"] == "CREATING"
    eks.get_waiter("cluster_active").wait(name=name, WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    assert eks.describe_cluster(name=name)["cluster"]["status"] == "ACTIVE"
