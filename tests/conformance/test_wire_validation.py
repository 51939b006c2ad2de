"""Validation the simulator's EKS wire gives from botocore's model (crates/eks-sim-wire,
generated): with boto3's client-side validation off, a request that breaks the model's
rules is refused by the simulator with AWS's 400 naming the member, and nothing changes;
where botocore validates client-side too, it refuses the same request."""

import json

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError

from conftest import unique

TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
})
SUBNETS = {"subnetIds": ["subnet-1", "subnet-2"]}
NO_CHECK = Config(parameter_validation=False, retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="module")
def env(sim):
    role = sim.client("iam").create_role(RoleName=unique("wire-val-"), AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    cluster = unique("wire-val-")
    sim.client("eks").create_cluster(name=cluster, roleArn=role, resourcesVpcConfig=SUBNETS)
    return {"role": role, "cluster": cluster, "raw": sim.client("eks", config=NO_CHECK), "eks": sim.client("eks")}


def refused(env, op, **kw):
    with pytest.raises(ClientError) as e:
        getattr(env["raw"], op)(**kw)
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400, err
    assert err["Error"]["Code"] == "InvalidParameterException", err
    return err["Error"]["Message"]


def test_max_results_out_of_range(env):
    for n in (0, 101):
        msg = refused(env, "list_access_entries", clusterName=env["cluster"], maxResults=n)
        assert msg == (f"1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy "
                       "constraint: Member must have value between 1 and 100")
    # botocore checks the lower bound only.
    with pytest.raises(ParamValidationError, match="maxResults"):
        env["eks"].list_access_entries(clusterName=env["cluster"], maxResults=0)


def test_missing_required_member(env):
    msg = refused(env, "create_access_entry", clusterName=env["cluster"])
    assert msg == "Missing required parameter: principalArn"
    with pytest.raises(ParamValidationError, match='Missing required parameter in input: "principalArn"'):
        env["eks"].create_access_entry(clusterName=env["cluster"])
    msg = refused(env, "create_nodegroup", clusterName=env["cluster"], nodegroupName="g", nodeRole=env["role"])
    assert msg == "Missing required parameter: subnets"


def test_unknown_enum_values(env):
    name = unique("wire-enum-")
    msg = refused(env, "create_cluster", name=name, roleArn=env["role"], resourcesVpcConfig=SUBNETS,
                  upgradePolicy={"supportType": "FOREVER"})
    assert msg == "The supportType 'FOREVER' is invalid. Valid values: STANDARD, EXTENDED."
    msg = refused(env, "create_nodegroup", clusterName=env["cluster"], nodegroupName=unique("g-"),
                  subnets=["subnet-1"], nodeRole=env["role"], taints=[{"key": "k", "effect": "SOMETIMES"}])
    assert msg.startswith("The effect 'SOMETIMES' is invalid. Valid values: NO_SCHEDULE"), msg
    names = env["eks"].list_clusters()["clusters"]
    assert name not in names
    assert env["eks"].list_nodegroups(clusterName=env["cluster"])["nodegroups"] == []


def test_wrong_member_types(env):
    name = unique("wire-type-")
    msg = refused(env, "create_cluster", name=name, roleArn=env["role"], resourcesVpcConfig=SUBNETS,
                  deletionProtection="yes")
    assert msg == "Invalid type for parameter deletionProtection: expected boolean, got string"
    with pytest.raises(ParamValidationError, match="deletionProtection"):
        env["eks"].create_cluster(name=name, roleArn=env["role"], resourcesVpcConfig=SUBNETS,
                                  deletionProtection="yes")
    msg = refused(env, "create_cluster", name=name, roleArn=env["role"], resourcesVpcConfig=SUBNETS,
                  zonalShiftConfig={"enabled": "yes"})
    assert msg == "Invalid type for parameter zonalShiftConfig.enabled: expected boolean, got string"
    assert name not in env["eks"].list_clusters()["clusters"]
