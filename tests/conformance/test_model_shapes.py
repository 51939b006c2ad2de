"""The simulator's answers checked mechanically against the botocore service models.

botocore silently drops members it does not know and parses loosely, so a boto3 call that
"works" proves little. Here every call the simulator serves is made through boto3 with an
``after-call`` hook that captures the raw HTTP answer, and the raw body is walked against the
operation's output shape (EKS: rest-json; STS/IAM: query protocol, XML):

- every member in the raw answer is declared by the model (no stray keys/elements);
- types match (string, integer, boolean, timestamp, list, map, structure), enums hold a
  value the model allows, lengths and patterns hold, required members are present;
- ARNs and timestamps are well-formed (rest-json timestamps are epoch *seconds*);
- errors: the code is one the model declares for that operation (or one of AWS's common
  errors), the HTTP status is the error shape's ``httpStatusCode``, the query-protocol
  ``<Type>`` agrees with ``senderFault``, the EKS ``x-amzn-ErrorType`` header is
  ``Code`` or ``Code:namespace-URI`` (what botocore and the Rust SDK both parse) and agrees
  with the body, whose members are those of the error shape;
- pagination: every paginated operation follows its paginator's tokens to the same set of
  results as one unpaginated call.

Every operation the simulator routes (parsed from its source, so a new operation cannot be
left out) must be validated at least once on success and once on an error. The walkers and
the table of errors AWS answers without its model declaring them (with the evidence) are in
model_shapes.py; conftest.py applies the same check to every boto3 answer of the suite.
"""

import json
import xml.etree.ElementTree as ET

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCOUNT, DEFAULT_ROLE_ARN, unique
from model_shapes import check_json, check_xml, implemented_operations, validate_answer

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"

# ---------------------------------------------------------------------------------------
# The checker: boto3 clients whose every answer is validated.


class Checker:
    def __init__(self, sim):
        self.sim = sim
        self.session = botocore.session.get_session()
        self.problems = []
        self.ok_ops = set()
        self.err_ops = {}
        self._clients = {}

    def client(self, service, **kw):
        key = (service, tuple(sorted(kw.items())))
        if key not in self._clients:
            c = self.sim.client(service, **kw)
            c.meta.events.register("after-call", self._capture)
            self._clients[key] = c
        return self._clients[key]

    def raw_client(self, service):
        """A client that skips botocore's own input validation (to send what it refuses)."""
        key = (service, "raw")
        if key not in self._clients:
            c = self.sim.client(
                service,
                config=Config(
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    parameter_validation=False,
                ),
            )
            c.meta.events.register("after-call", self._capture)
            self._clients[key] = c
        return self._clients[key]

    def _capture(self, http_response, parsed, model, **kw):
        try:
            self._validate(http_response, model)
        except Exception as e:  # a validator bug must show, not hide the answer
            self.problems.append(f"{model.name}: validator crashed: {e!r}")

    def _validate(self, http, op):
        validate_answer(self, http, op)

    # -- calls

    def ok(self, service, method, client=None, **kw):
        c = client or self.client(service)
        return getattr(c, method)(**kw)

    def err(self, service, method, code, client=None, **kw):
        c = client or self.client(service)
        with pytest.raises(ClientError) as ei:
            getattr(c, method)(**kw)
        got = ei.value.response["Error"]["Code"]
        if got != code:
            self.problems.append(f"{service}:{method}({kw}): answered {got}, expected {code}")
        return ei.value.response

    def assert_clean(self):
        assert not self.problems, "model discrepancies:\n  " + "\n  ".join(self.problems)


@pytest.fixture(scope="module")
def checker(sim):
    return Checker(sim)


@pytest.fixture(scope="module")
def roles(checker):
    out = {}
    for key, path in [("cluster", "/"), ("nodes", "/"), ("karpenter", "/"), ("dev", "/development/apps/")]:
        r = checker.ok("iam", "create_role", RoleName=unique(f"shape-{key}-"), Path=path,
                       AssumeRolePolicyDocument=TRUST)
        out[key] = r["Role"]["Arn"]
    return out


def _cluster(checker, roles, mode=None, **extra):
    name = unique("shape")
    kw = dict(name=name, roleArn=roles["cluster"], resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]})
    if mode:
        kw["accessConfig"] = {"authenticationMode": mode}
    kw.update(extra)
    checker.ok("eks", "create_cluster", **kw)
    return name


# ---------------------------------------------------------------------------------------
# Tests


def test_eks_success_shapes(checker, roles, sim):
    eks = "eks"
    name = _cluster(checker, roles, tags={"team": "a"}, version="1.31",
                    clientRequestToken=unique("tok"),
                    resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"], "securityGroupIds": ["sg-1"],
                                        "endpointPublicAccess": True, "endpointPrivateAccess": False,
                                        "publicAccessCidrs": ["0.0.0.0/0"]},
                    logging={"clusterLogging": [{"types": ["api", "audit"], "enabled": True}]},
                    kubernetesNetworkConfig={"serviceIpv4Cidr": "10.100.0.0/16"})
    c = checker.ok(eks, "describe_cluster", name=name)["cluster"]
    # AWS fills in what was not given, and shows logging as enabled + disabled groups.
    assert c["kubernetesNetworkConfig"] == {
        "serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4", "elasticLoadBalancing": {"enabled": False},
    }
    assert c["logging"]["clusterLogging"] == [
        {"types": ["api", "audit"], "enabled": True},
        {"types": ["authenticator", "controllerManager", "scheduler"], "enabled": False},
    ]
    checker.ok(eks, "list_clusters")
    checker.ok(eks, "create_nodegroup", clusterName=name, nodegroupName="ng", subnets=["subnet-1"],
               nodeRole=roles["nodes"], scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2},
               instanceTypes=["m5.large"], amiType="AL2_x86_64", capacityType="ON_DEMAND",
               diskSize=20, labels={"a": "b"}, tags={"t": "v"})
    checker.ok(eks, "describe_nodegroup", clusterName=name, nodegroupName="ng")
    checker.ok(eks, "list_nodegroups", clusterName=name)
    ng_upd = checker.ok(eks, "update_nodegroup_config", clusterName=name, nodegroupName="ng",
                        scalingConfig={"desiredSize": 1})["update"]
    checker.ok(eks, "describe_update", name=name, updateId=ng_upd["id"], nodegroupName="ng")
    upd = checker.ok(eks, "update_cluster_config", name=name,
                     accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})["update"]
    checker.ok(eks, "describe_update", name=name, updateId=upd["id"])
    checker.ok(eks, "list_updates", name=name)
    checker.ok(eks, "describe_cluster", name=name)
    checker.ok(eks, "create_access_entry", clusterName=name, principalArn=roles["dev"],
               kubernetesGroups=["viewers"], username="dev-user", tags={"rack": "r1"}, type="STANDARD")
    checker.ok(eks, "create_access_entry", clusterName=name, principalArn=roles["karpenter"], type="EC2_LINUX")
    checker.ok(eks, "describe_access_entry", clusterName=name, principalArn=roles["dev"])
    checker.ok(eks, "describe_access_entry", clusterName=name, principalArn=roles["nodes"])
    checker.ok(eks, "list_access_entries", clusterName=name)
    # tags, by cluster ARN and by access entry ARN
    entry_arn = checker.ok(eks, "describe_access_entry", clusterName=name,
                           principalArn=roles["dev"])["accessEntry"]["accessEntryArn"]
    for arn in (c["arn"], entry_arn):
        checker.ok(eks, "tag_resource", resourceArn=arn, tags={"owner": "shapes", "k": "v"})
        checker.ok(eks, "untag_resource", resourceArn=arn, tagKeys=["k", "absent"])
        assert checker.ok(eks, "list_tags_for_resource", resourceArn=arn)["tags"]["owner"] == "shapes"
    checker.ok(eks, "associate_access_policy", clusterName=name, principalArn=roles["dev"],
               policyArn=VIEW_POLICY, accessScope={"type": "namespace", "namespaces": ["dev"]})
    checker.ok(eks, "list_associated_access_policies", clusterName=name, principalArn=roles["dev"])
    checker.ok(eks, "list_associated_access_policies", clusterName=name, principalArn=DEFAULT_ROLE_ARN)
    checker.ok(eks, "list_access_entries", clusterName=name, associatedPolicyArn=VIEW_POLICY)
    checker.ok(eks, "update_access_entry", clusterName=name, principalArn=roles["dev"],
               kubernetesGroups=["editors"], username="dev2")
    checker.ok(eks, "list_access_policies")
    checker.ok(eks, "disassociate_access_policy", clusterName=name, principalArn=roles["dev"],
               policyArn=VIEW_POLICY)
    checker.ok(eks, "delete_access_entry", clusterName=name, principalArn=roles["dev"])
    checker.ok(eks, "delete_nodegroup", clusterName=name, nodegroupName="ng")
    checker.ok(eks, "delete_cluster", name=name)
    # A cluster in another partition, and one made with every accessConfig member.
    cn = checker.client(eks, region="cn-north-1")
    cn_name = unique("shape-cn")
    checker.ok(eks, "create_cluster", client=cn, name=cn_name,
               roleArn=roles["cluster"].replace("arn:aws:", "arn:aws-cn:"),
               resourcesVpcConfig={"subnetIds": ["s1", "s2"]},
               accessConfig={"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": True})
    checker.ok(eks, "describe_cluster", client=cn, name=cn_name)
    checker.ok(eks, "list_access_policies", client=cn)
    # Slow paths: CREATING cluster, InProgress update.
    sim.set_settings(cluster_create_ms=60_000)
    try:
        slow = _cluster(checker, roles)
        checker.ok(eks, "describe_cluster", name=slow)
    finally:
        sim.set_settings(cluster_create_ms=0)
    sim.set_settings(update_ms=60_000)
    try:
        other = _cluster(checker, roles)
        u = checker.ok(eks, "update_cluster_config", name=other,
                       accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})["update"]
        checker.ok(eks, "describe_update", name=other, updateId=u["id"])
        checker.ok(eks, "describe_cluster", name=other)
    finally:
        sim.set_settings(update_ms=0)

    served = {op for svc, op in implemented_operations() if svc == "eks"}
    missed = served - {op for svc, op in checker.ok_ops if svc == "eks"}
    assert not missed, f"EKS operations never validated on success: {sorted(missed)}"
    checker.assert_clean()


def test_eks_error_shapes(checker, roles, sim):
    eks = "eks"
    cm = _cluster(checker, roles)  # CONFIG_MAP
    api = _cluster(checker, roles, mode="API")
    ghost = unique("ghost")
    checker.ok(eks, "create_access_entry", clusterName=api, principalArn=roles["nodes"], type="EC2_LINUX")
    checker.ok(eks, "create_nodegroup", clusterName=api, nodegroupName="ng", subnets=["s"], nodeRole=roles["nodes"])

    E = checker.err
    # clusters
    E(eks, "create_cluster", "ResourceInUseException", name=api, roleArn=roles["cluster"],
      resourcesVpcConfig={"subnetIds": ["s1", "s2"]})
    E(eks, "create_cluster", "InvalidParameterException", name="bad.name", roleArn=roles["cluster"],
      resourcesVpcConfig={"subnetIds": ["s1", "s2"]})
    E(eks, "create_cluster", "InvalidParameterException", name=unique("r"),
      roleArn=f"arn:aws:iam::{ACCOUNT}:role/missing", resourcesVpcConfig={"subnetIds": ["s1", "s2"]})
    E(eks, "describe_cluster", "ResourceNotFoundException", name=ghost)
    E(eks, "delete_cluster", "ResourceNotFoundException", name=ghost)
    E(eks, "delete_cluster", "ResourceInUseException", name=api)
    E(eks, "list_clusters", "InvalidParameterException", nextToken="not-a-token")
    E(eks, "list_clusters", "InvalidParameterException", client=checker.raw_client(eks), maxResults=0)
    E(eks, "list_clusters", "InvalidParameterException", maxResults=101)
    E(eks, "list_access_policies", "InvalidParameterException", maxResults=101)
    # updates
    E(eks, "update_cluster_config", "ResourceNotFoundException", name=ghost,
      accessConfig={"authenticationMode": "API"})
    E(eks, "update_cluster_config", "InvalidParameterException", name=cm,
      accessConfig={"authenticationMode": "API"})
    E(eks, "update_cluster_config", "InvalidParameterException", name=api,
      accessConfig={"authenticationMode": "CONFIG_MAP"})
    E(eks, "describe_update", "ResourceNotFoundException", name=api, updateId="00000000-0000-0000-0000-000000000000")
    E(eks, "describe_update", "ResourceNotFoundException", name=ghost, updateId="00000000-0000-0000-0000-000000000000")
    E(eks, "list_updates", "ResourceNotFoundException", name=ghost)
    E(eks, "list_updates", "InvalidParameterException", name=api, nextToken="bogus")
    sim.set_settings(update_ms=60_000)
    try:
        busy = _cluster(checker, roles)
        checker.ok(eks, "update_cluster_config", name=busy, accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
        E(eks, "update_cluster_config", "ResourceInUseException", name=busy,
          accessConfig={"authenticationMode": "API"})
    finally:
        sim.set_settings(update_ms=0)
    # access entries
    for call, kw in (
        ("create_access_entry", {}),
        ("describe_access_entry", {}),
        ("list_access_entries", None),
        ("update_access_entry", {"kubernetesGroups": ["x"]}),
        ("delete_access_entry", {}),
        ("associate_access_policy", {"policyArn": VIEW_POLICY, "accessScope": {"type": "cluster"}}),
        ("disassociate_access_policy", {"policyArn": VIEW_POLICY}),
        ("list_associated_access_policies", {}),
    ):
        args = {"clusterName": cm}
        if kw is not None:
            args.update(principalArn=roles["dev"], **kw)
        E(eks, call, "InvalidRequestException", **args)
        args["clusterName"] = ghost
        E(eks, call, "ResourceNotFoundException", **args)
    E(eks, "create_access_entry", "ResourceInUseException", clusterName=api, principalArn=DEFAULT_ROLE_ARN)
    E(eks, "create_access_entry", "InvalidParameterException", clusterName=api,
      principalArn=f"arn:aws:sts::{ACCOUNT}:assumed-role/ConvoxAdmin/convox")
    E(eks, "create_access_entry", "InvalidParameterException", clusterName=api, principalArn="garbage")
    E(eks, "create_access_entry", "InvalidParameterException", clusterName=api, principalArn=roles["karpenter"],
      type="EC2_LINUX", kubernetesGroups=["x"])
    E(eks, "create_access_entry", "InvalidParameterException", clusterName=api, principalArn=roles["karpenter"],
      type="NOT_A_TYPE")
    E(eks, "describe_access_entry", "ResourceNotFoundException", clusterName=api, principalArn=roles["dev"])
    E(eks, "update_access_entry", "ResourceNotFoundException", clusterName=api, principalArn=roles["dev"],
      kubernetesGroups=["x"])
    E(eks, "update_access_entry", "InvalidParameterException", clusterName=api, principalArn=roles["nodes"],
      kubernetesGroups=["x"])
    E(eks, "delete_access_entry", "ResourceNotFoundException", clusterName=api, principalArn=roles["dev"])
    E(eks, "list_access_entries", "InvalidParameterException", clusterName=api, nextToken="bogus")
    # access policies
    E(eks, "associate_access_policy", "InvalidParameterException", clusterName=api, principalArn=roles["nodes"],
      policyArn=VIEW_POLICY, accessScope={"type": "cluster"})
    E(eks, "associate_access_policy", "ResourceNotFoundException", clusterName=api, principalArn=roles["dev"],
      policyArn=VIEW_POLICY, accessScope={"type": "cluster"})
    E(eks, "associate_access_policy", "InvalidParameterException", clusterName=api, principalArn=DEFAULT_ROLE_ARN,
      policyArn=VIEW_POLICY, accessScope={"type": "namespace", "namespaces": []})
    E(eks, "associate_access_policy", "InvalidParameterException", clusterName=api, principalArn=DEFAULT_ROLE_ARN,
      policyArn=VIEW_POLICY, accessScope={"type": "cluster", "namespaces": ["dev"]})
    E(eks, "associate_access_policy", "InvalidParameterException", clusterName=api, principalArn=DEFAULT_ROLE_ARN,
      policyArn="arn:aws:eks::aws:cluster-access-policy/NoSuchPolicy", accessScope={"type": "cluster"})
    E(eks, "list_associated_access_policies", "InvalidParameterException", clusterName=api,
      principalArn=roles["nodes"])
    E(eks, "list_associated_access_policies", "ResourceNotFoundException", clusterName=api,
      principalArn=roles["dev"])
    E(eks, "disassociate_access_policy", "ResourceNotFoundException", clusterName=api,
      principalArn=roles["dev"], policyArn=VIEW_POLICY)
    # Values outside the model's enums and ranges are refused, never stored and echoed
    # back (botocore does not check enums, so only the service stands between them and an
    # answer AWS would never give).
    vpc = {"subnetIds": ["s1", "s2"]}
    refused_clusters = []
    for extra in (
        {"kubernetesNetworkConfig": {"ipFamily": "ipv5"}},
        {"logging": {"clusterLogging": [{"types": ["bogus"], "enabled": True}]}},
        {"accessConfig": {"authenticationMode": "OPEN"}},
        {"version": "0.1"},
    ):
        refused_clusters.append(unique("enum"))
        E(eks, "create_cluster", "InvalidParameterException", name=refused_clusters[-1],
          roleArn=roles["cluster"], resourcesVpcConfig=vpc, **extra)
    for extra in (
        {"amiType": "BOGUS"},
        {"capacityType": "NOPE"},
        {"scalingConfig": {"minSize": 5, "maxSize": 1, "desiredSize": 3}},
        {"scalingConfig": {"minSize": 1, "maxSize": 2, "desiredSize": 3}},
        {"diskSize": -5},
        {"version": "0.1"},
    ):
        E(eks, "create_nodegroup", "InvalidParameterException", clusterName=api, nodegroupName=unique("ng"),
          subnets=["s"], nodeRole=roles["nodes"], **extra)
    E(eks, "associate_access_policy", "InvalidParameterException", clusterName=api, principalArn=DEFAULT_ROLE_ARN,
      policyArn=VIEW_POLICY, accessScope={"type": "galaxy"})
    E(eks, "create_access_entry", "InvalidParameterException", clusterName=api, principalArn=roles["dev"],
      tags={"aws:x": "y"})
    # tags: reserved prefix, limits, unknown resources
    api_arn = checker.ok(eks, "describe_cluster", name=api)["cluster"]["arn"]
    E(eks, "tag_resource", "BadRequestException", resourceArn=api_arn, tags={"aws:x": "y"})
    E(eks, "tag_resource", "BadRequestException", resourceArn=api_arn, tags={f"k{i}": "v" for i in range(51)})
    E(eks, "untag_resource", "BadRequestException", resourceArn=api_arn, tagKeys=["aws:x"])
    E(eks, "tag_resource", "NotFoundException", resourceArn=api_arn.replace(api, ghost), tags={"k": "v"})
    E(eks, "untag_resource", "NotFoundException", resourceArn=api_arn.replace(api, ghost), tagKeys=["k"])
    E(eks, "list_tags_for_resource", "NotFoundException", resourceArn=api_arn.replace(api, ghost))
    assert "aws:x" not in checker.ok(eks, "list_tags_for_resource", resourceArn=api_arn)["tags"]
    left = set(refused_clusters) & set(checker.ok(eks, "list_clusters", maxResults=100)["clusters"])
    assert not left, f"refused clusters were stored: {left}"
    # node groups
    E(eks, "create_nodegroup", "ResourceInUseException", clusterName=api, nodegroupName="ng", subnets=["s"],
      nodeRole=roles["nodes"])
    E(eks, "create_nodegroup", "ResourceNotFoundException", clusterName=ghost, nodegroupName="ng",
      subnets=["s"], nodeRole=roles["nodes"])
    E(eks, "describe_nodegroup", "ResourceNotFoundException", clusterName=api, nodegroupName="nope")
    E(eks, "list_nodegroups", "ResourceNotFoundException", clusterName=ghost)
    E(eks, "delete_nodegroup", "ResourceNotFoundException", clusterName=api, nodegroupName="nope")
    E(eks, "update_nodegroup_config", "ResourceNotFoundException", clusterName=api, nodegroupName="nope",
      scalingConfig={"desiredSize": 1})
    E(eks, "update_nodegroup_config", "InvalidParameterException", clusterName=api, nodegroupName="ng",
      scalingConfig={"desiredSize": 99})
    # common errors: throttling and an unknown key
    sim.set_settings(throttle_rate=0.001, throttle_burst=1)
    try:
        checker.ok(eks, "list_access_policies")
        E(eks, "list_access_policies", "ThrottlingException")
    finally:
        sim.set_settings(throttle_rate=0, throttle_burst=0)
    E(eks, "list_clusters", "UnrecognizedClientException",
      client=checker.client(eks, access_key_id="AKIAUNKNOWNUNKNOWN00", session_token=None))
    served = {op for svc, op in implemented_operations() if svc == "eks"}
    missed = served - {op for svc, op in checker.err_ops if svc == "eks"}
    assert not missed, f"EKS operations never validated on an error: {sorted(missed)}"
    checker.assert_clean()


def test_sts_iam_shapes(checker, sim):
    E = checker.err
    checker.ok("sts", "get_caller_identity")
    name = unique("shape-role-")
    role = checker.ok("iam", "create_role", RoleName=name, Path="/team/a/", AssumeRolePolicyDocument=TRUST,
                      Description="d", MaxSessionDuration=7200, Tags=[{"Key": "k", "Value": "v"}])["Role"]
    checker.ok("iam", "get_role", RoleName=name)
    checker.ok("iam", "list_roles", PathPrefix="/team/")
    checker.ok("iam", "list_users")
    creds = checker.ok("sts", "assume_role", RoleArn=role["Arn"], RoleSessionName="s1",
                       DurationSeconds=900)["Credentials"]
    assumed = checker.client("sts", access_key_id=creds["AccessKeyId"],
                             secret_access_key=creds["SecretAccessKey"],
                             session_token=creds["SessionToken"])
    checker.ok("sts", "get_caller_identity", client=assumed)
    user = unique("shape-user-")
    checker.ok("iam", "create_user", UserName=user, Path="/people/", Tags=[{"Key": "k", "Value": "v"}])
    checker.ok("iam", "get_user", UserName=user)
    key = checker.ok("iam", "create_access_key", UserName=user)["AccessKey"]
    as_user = checker.client("iam", access_key_id=key["AccessKeyId"],
                             secret_access_key=key["SecretAccessKey"], session_token=None)
    checker.ok("iam", "get_user", client=as_user)
    if ("sts", "GetFederationToken") in implemented_operations():
        user_sts = checker.client("sts", access_key_id=key["AccessKeyId"],
                                  secret_access_key=key["SecretAccessKey"], session_token=None)
        fed = checker.ok("sts", "get_federation_token", client=user_sts, Name="shape-fed",
                         DurationSeconds=900)["Credentials"]
        fed_sts = checker.client("sts", access_key_id=fed["AccessKeyId"],
                                 secret_access_key=fed["SecretAccessKey"], session_token=fed["SessionToken"])
        checker.ok("sts", "get_caller_identity", client=fed_sts)
        E("sts", "get_federation_token", "AccessDenied", Name="shape-fed")  # a role session
    checker.ok("iam", "delete_role", RoleName=name)

    dup = unique("shape-dup-")
    checker.ok("iam", "create_role", RoleName=dup, AssumeRolePolicyDocument=TRUST)
    E("iam", "create_role", "EntityAlreadyExists", RoleName=dup, AssumeRolePolicyDocument=TRUST)
    E("iam", "create_role", "MalformedPolicyDocument", RoleName=unique("m-"), AssumeRolePolicyDocument="{not json")
    E("iam", "create_role", "ValidationError", RoleName="bad name!", AssumeRolePolicyDocument=TRUST)
    E("iam", "get_role", "NoSuchEntity", RoleName=name)
    E("iam", "delete_role", "NoSuchEntity", RoleName=name)
    E("iam", "create_user", "EntityAlreadyExists", UserName=user)
    E("iam", "get_user", "NoSuchEntity", UserName=unique("nobody-"))
    E("iam", "create_access_key", "NoSuchEntity", UserName=unique("nobody-"))
    E("iam", "list_roles", "ValidationError", client=checker.raw_client("iam"), MaxItems=0)
    E("iam", "list_users", "ValidationError", client=checker.raw_client("iam"), MaxItems=0)
    # The constraint named is the bound the value crossed.
    raw_iam, raw_sts = checker.raw_client("iam"), checker.raw_client("sts")
    for resp, bound in (
        (E("iam", "list_roles", "ValidationError", client=raw_iam, MaxItems=1001),
         "Member must have value less than or equal to 1000"),
        (E("iam", "create_role", "ValidationError", client=raw_iam, RoleName=unique("b-"),
           AssumeRolePolicyDocument=TRUST, MaxSessionDuration=100),
         "Member must have value greater than or equal to 3600"),
        (E("iam", "create_role", "ValidationError", client=raw_iam, RoleName=unique("b-"),
           AssumeRolePolicyDocument=TRUST, MaxSessionDuration=50000),
         "Member must have value less than or equal to 43200"),
        (E("iam", "create_role", "ValidationError", client=raw_iam, RoleName="r" * 65,
           AssumeRolePolicyDocument=TRUST),
         "Member must have length less than or equal to 64"),
        (E("sts", "assume_role", "ValidationError", client=raw_sts, RoleArn=role["Arn"],
           RoleSessionName="s" * 65),
         "Member must have length less than or equal to 64"),
        (E("sts", "assume_role", "ValidationError", client=raw_sts, RoleArn=role["Arn"],
           RoleSessionName="s2", DurationSeconds=50000),
         "Member must have value less than or equal to 43200"),
    ):
        assert resp["Error"]["Message"].endswith(bound), resp["Error"]["Message"]
    E("sts", "assume_role", "AccessDenied", RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}", RoleSessionName="s2")
    E("sts", "assume_role", "ValidationError", RoleArn=role["Arn"], RoleSessionName="bad name!")
    E("sts", "assume_role", "ValidationError", client=checker.raw_client("sts"), RoleArn=role["Arn"],
      RoleSessionName="s2", DurationSeconds=100)
    E("sts", "get_caller_identity", "InvalidClientTokenId",
      client=checker.client("sts", access_key_id="AKIAUNKNOWNUNKNOWN00", session_token=None))
    E("iam", "get_role", "SignatureDoesNotMatch", RoleName=dup,
      client=checker.client("iam", secret_access_key="wrong"))

    for svc in ("sts", "iam"):
        served = {op for s, op in implemented_operations() if s == svc}
        missed = served - {op for s, op in checker.ok_ops if s == svc}
        assert not missed, f"{svc} operations never validated on success: {sorted(missed)}"
        missed = served - {op for s, op in checker.err_ops if s == svc}
        assert not missed, f"{svc} operations never validated on an error: {sorted(missed)}"
    checker.assert_clean()


def _paginate_all(checker, service, op_name, kw, page_size):
    """Pages through `op_name` with the paginator's own tokens; returns (items, pages)."""
    pm = checker.session.get_paginator_model(service).get_paginator(op_name)
    client = checker.client(service)
    method = getattr(client, botocore.xform_name(op_name))
    in_tok, out_tok, limit, result = pm["input_token"], pm["output_token"], pm["limit_key"], pm["result_key"]
    items, pages, token = [], 0, None
    while True:
        args = dict(kw, **{limit: page_size})
        if token is not None:
            args[in_tok] = token
        page = method(**args)
        pages += 1
        items += page[result]
        assert len(page[result]) <= page_size, f"{op_name}: page larger than {limit}"
        more = page.get(pm.get("more_results", out_tok))
        token = page.get(out_tok)
        if "more_results" in pm:
            assert bool(token) == bool(more), f"{op_name}: {pm['more_results']}={more} but token={token!r}"
        if not token:
            break
        assert isinstance(token, str) and token, f"{op_name}: token {token!r}"
        assert pages < 1000
    return items, pages


def test_pagination_tokens(checker, roles):
    api = _cluster(checker, roles, mode="API")
    for k in ("dev", "nodes", "karpenter"):
        checker.ok("eks", "create_access_entry", clusterName=api, principalArn=roles[k])
    for i in range(3):
        checker.ok("eks", "create_nodegroup", clusterName=api, nodegroupName=f"ng{i}", subnets=["s"],
                   nodeRole=roles["nodes"])
    checker.ok("eks", "associate_access_policy", clusterName=api, principalArn=roles["dev"],
               policyArn=VIEW_POLICY, accessScope={"type": "cluster"})
    checker.ok("eks", "associate_access_policy", clusterName=api, principalArn=roles["dev"],
               policyArn=ADMIN_POLICY, accessScope={"type": "cluster"})
    for _ in range(3):
        checker.ok("iam", "create_role", RoleName=unique("shape-page-"), Path="/shape-page/",
                   AssumeRolePolicyDocument=TRUST)
        checker.ok("iam", "create_user", UserName=unique("shape-page-"), Path="/shape-page/")
    cases = [
        ("eks", "ListClusters", {}),
        ("eks", "ListAccessEntries", {"clusterName": api}),
        ("eks", "ListNodegroups", {"clusterName": api}),
        ("eks", "ListAccessPolicies", {}),
        ("eks", "ListAssociatedAccessPolicies", {"clusterName": api, "principalArn": roles["dev"]}),
        ("iam", "ListRoles", {"PathPrefix": "/shape-page/"}),
        ("iam", "ListUsers", {"PathPrefix": "/shape-page/"}),
    ]
    served = implemented_operations()
    paginated = {
        (svc, op) for svc in ("eks", "sts", "iam")
        for op in checker.session.get_paginator_model(svc)._paginator_config
    } & served
    paginated.discard(("eks", "ListUpdates"))  # checked below: one update per cluster here
    assert paginated <= {(s, o) for s, o, _ in cases}, f"paginated but untested: {paginated}"
    for svc, op, kw in cases:
        pm = checker.session.get_paginator_model(svc).get_paginator(op)
        whole = getattr(checker.client(svc), botocore.xform_name(op))(**kw)[pm["result_key"]]
        assert len(whole) >= 2, f"{op}: need at least two items to paginate"
        items, pages = _paginate_all(checker, svc, op, kw, 1)
        assert pages >= len(whole), f"{op}: {pages} pages for {len(whole)} items at size 1"
        assert items == whole, f"{op}: pages give {items}, one call gives {whole}"
    # ListUpdates: two updates on one cluster.
    cm = _cluster(checker, roles)
    checker.ok("eks", "update_cluster_config", name=cm, accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    checker.ok("eks", "update_cluster_config", name=cm, accessConfig={"authenticationMode": "API"})
    whole = checker.ok("eks", "list_updates", name=cm)["updateIds"]
    items, pages = _paginate_all(checker, "eks", "ListUpdates", {"name": cm}, 1)
    assert len(whole) == 2 and items == whole and pages >= 2
    checker.assert_clean()


def test_error_header_format_raw(sim):
    """The EKS error wire itself, as the Rust SDK and botocore read it: the header names the
    code, the body carries `message`, and the status is the model's."""
    eks = sim.client("eks")
    seen = {}

    def grab(http_response, **kw):
        seen["h"] = dict(http_response.headers)
        seen["b"] = http_response.content
        seen["s"] = http_response.status_code

    eks.meta.events.register("after-call", grab)
    with pytest.raises(ClientError):
        eks.describe_cluster(name=unique("nope"))
    headers = {k.lower(): v for k, v in seen["h"].items()}
    assert seen["s"] == 404
    assert headers["x-amzn-errortype"].split(":")[0] == "ResourceNotFoundException"
    assert headers["content-type"].startswith("application/json")
    body = json.loads(seen["b"])
    assert set(body) <= {"message", "clusterName", "nodegroupName", "fargateProfileName", "addonName", "subscriptionId"}
    assert body["message"].startswith("No cluster found")


def test_validator_catches_known_bad_answers():
    """The walkers themselves: each known-bad answer below must be reported."""
    s = botocore.session.get_session()
    eks = s.get_service_model("eks")
    iam = s.get_service_model("iam")
    desc = eks.operation_model("DescribeCluster").output_shape
    bad_json = [
        {"cluster": {"name": "x", "bogus": 1}},                        # stray member
        {"cluster": {"createdAt": 1_700_000_000_000}},                 # ms, not seconds
        {"cluster": {"status": "RUNNING"}},                            # not in the enum
        {"cluster": {"arn": "cluster/x"}},                             # not an ARN
        {"cluster": {"tags": {"k": 1}}},                               # map value type
        {"cluster": {"resourcesVpcConfig": {"subnetIds": "s"}}},       # list expected
        {"cluster": {"resourcesVpcConfig": {"endpointPublicAccess": "true"}}},
        {"cluster": {"name": None}},                                   # null member
    ]
    for body in bad_json:
        out = []
        check_json(desc, body, "DescribeCluster", out)
        assert out, f"not caught: {body}"
    good = []
    check_json(desc, {"cluster": {"name": "x", "createdAt": 1_700_000_000.5, "status": "ACTIVE",
                                  "arn": f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/x"}}, "D", good)
    assert good == []
    get_role = iam.operation_model("GetRole").output_shape
    for xml in (
        "<GetRoleResult><Role><Bogus>1</Bogus></Role></GetRoleResult>",
        "<GetRoleResult><Role><CreateDate>1700000000</CreateDate></Role></GetRoleResult>",
        "<GetRoleResult><Role><MaxSessionDuration>x</MaxSessionDuration></Role></GetRoleResult>",
        "<GetRoleResult><Role><Tags><Tag><Key>k</Key><Value>v</Value></Tag></Tags></Role></GetRoleResult>",
    ):
        out = []
        check_xml(get_role, ET.fromstring(xml), "GetRole", out)
        assert out, f"not caught: {xml}"


def test_documented_answers(checker, roles):
    """Behaviour the first wave could not confirm, now checked against AWS's own material:
    - CreateCluster with a role that does not exist: AWS's message, and the error names the
      cluster (public reports: aws/aws-k8s-tester#232, crossplane-contrib/provider-aws#218);
    - EC2_LINUX entries are in `system:nodes` (AWS CLI reference, create-access-entry
      example 2), whether EKS or the caller made them;
    - group and username prefixes: AWS's messages (terraform-aws-modules/terraform-aws-eks#2915,
      aws-ia/terraform-aws-eks-blueprints#1920), the value checked before the entry's type."""
    name = unique("shape-doc")
    missing = f"arn:aws:iam::{ACCOUNT}:role/{unique('missing-')}"
    e = checker.err("eks", "create_cluster", "InvalidParameterException", name=name, roleArn=missing,
                    resourcesVpcConfig={"subnetIds": ["s1", "s2"]})
    assert e["Error"]["Message"] == (
        f"Role with arn: {missing}, could not be assumed because it does not exist or the trusted "
        "entity is not correct"
    )
    assert e["clusterName"] == name

    # clientRequestToken "ensures the idempotency of the request" (API Reference): a retry
    # with the same token gets the cluster; a new token for the same name is a conflict.
    token = unique("tok")
    kw = dict(name=unique("shape-idem"), roleArn=roles["cluster"], resourcesVpcConfig={"subnetIds": ["s1", "s2"]})
    first = checker.ok("eks", "create_cluster", clientRequestToken=token, **kw)["cluster"]
    again = checker.ok("eks", "create_cluster", clientRequestToken=token, **kw)["cluster"]
    assert (again["arn"], again["createdAt"]) == (first["arn"], first["createdAt"])
    checker.err("eks", "create_cluster", "ResourceInUseException", clientRequestToken=unique("tok"), **kw)

    cm = _cluster(checker, roles)
    checker.ok("eks", "create_nodegroup", clusterName=cm, nodegroupName="ng", subnets=["s"],
               nodeRole=roles["nodes"])
    checker.ok("eks", "update_cluster_config", name=cm, accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    by_eks = checker.ok("eks", "describe_access_entry", clusterName=cm, principalArn=roles["nodes"])["accessEntry"]
    assert (by_eks["type"], by_eks["kubernetesGroups"]) == ("EC2_LINUX", ["system:nodes"])
    mine = checker.ok("eks", "create_access_entry", clusterName=cm, principalArn=roles["karpenter"],
                      type="EC2_LINUX")["accessEntry"]
    assert mine["kubernetesGroups"] == ["system:nodes"]
    assert mine["username"] == "system:node:{{EC2PrivateDNSName}}"
    std = checker.ok("eks", "create_access_entry", clusterName=cm, principalArn=roles["dev"])["accessEntry"]
    assert std["kubernetesGroups"] == []

    e = checker.err("eks", "create_access_entry", "InvalidParameterException", clusterName=cm,
                    principalArn=roles["cluster"], kubernetesGroups=["system:masters"])
    assert e["Error"]["Message"] == "The kubernetes group name system:masters is invalid, it cannot start with system:"
    e = checker.err("eks", "update_access_entry", "InvalidParameterException", clusterName=cm,
                    principalArn=roles["karpenter"], kubernetesGroups=[],
                    username="system:node:{{EC2PrivateDNSName}}")
    assert e["Error"]["Message"] == "The username must not begin with system:"
    checker.assert_clean()


def test_suite_wide_guard_fails_a_bad_answer():
    """conftest registers the same validation on every boto3 client of the suite."""
    import types

    import conftest

    op = botocore.session.get_session().get_service_model("eks").operation_model("DescribeCluster")
    bad = types.SimpleNamespace(
        status_code=200,
        headers={"x-amzn-requestid": "r", "content-type": "application/json"},
        content=b'{"cluster": {"name": "x", "bogus": 1}}',
    )
    with pytest.raises(AssertionError, match="stray member 'bogus'"):
        conftest._shape_guard(http_response=bad, parsed={}, model=op)
    good = types.SimpleNamespace(status_code=200, headers=bad.headers, content=b'{"cluster": {"name": "x"}}')
    conftest._shape_guard(http_response=good, parsed={}, model=op)
