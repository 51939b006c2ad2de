//! The simulator's model behind the generated `Eks` trait: typed inputs (already checked
//! against botocore's model) become the model's inputs; the model's answers become the
//! generated outputs. The model's answers pass through serde into the generated shapes, so
//! an answer that does not fit its shape (an unknown enum value, a missing required member)
//! is a 500 here rather than a malformed answer on the wire.

// The error type is the generated trait's, the model's error shapes unboxed as the wire has them.
#![allow(clippy::result_large_err)]

use eks_sim_model::eks::{self as model, AccessScope, Page};
use eks_sim_model::{Ctx, Sim, SimError};
use eks_sim_wire::generated::eks::{self as gen, EksError};
use eks_sim_wire::rt::Timestamp;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub(super) struct Model<'a> {
    pub sim: &'a Sim,
    /// Applied to every cluster answered (the endpoint and CA of its Kubernetes API).
    pub fix: &'a dyn Fn(&mut model::Cluster),
}

type R<T> = Result<T, EksError>;

pub(super) fn eks_error(e: SimError) -> EksError {
    EksError::from_code(&e.code, e.status, e.message)
}

fn internal(what: &str, e: impl std::fmt::Display) -> EksError {
    EksError::from_code("ServerException", 500, format!("{what}: {e}"))
}

/// A model value in the generated shape (both serialize to the same rest-json).
fn shape<T: DeserializeOwned>(v: &impl Serialize) -> R<T> {
    let bytes = serde_json::to_vec(v).map_err(|e| internal("encode", e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| internal("the model's answer does not fit its shape", e))
}

/// A checked input member handed to the model as the JSON document it reads.
fn document(v: &impl Serialize) -> R<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| internal("encode", e))
}

// The answers of the access-entry operations (a migration's hot path) are converted field by
// field; clusters, node groups and updates, with their stored JSON documents, through serde.

fn access_entry(e: model::AccessEntry) -> Option<gen::AccessEntry> {
    Some(gen::AccessEntry {
        cluster_name: Some(e.cluster_name),
        principal_arn: Some(e.principal_arn),
        kubernetes_groups: Some(e.kubernetes_groups),
        access_entry_arn: Some(e.access_entry_arn),
        created_at: Some(Timestamp(e.created_at)),
        modified_at: Some(Timestamp(e.modified_at)),
        tags: Some(e.tags),
        username: Some(e.username),
        r#type: Some(e.kind),
    })
}

fn associated(a: model::AssociatedAccessPolicy) -> R<gen::AssociatedAccessPolicy> {
    let kind = match a.access_scope.kind.as_deref() {
        None => None,
        Some(k) => Some(gen::AccessScopeType::parse(k).ok_or_else(|| {
            internal(
                "the model's answer does not fit its shape",
                format!("accessScope.type {k}"),
            )
        })?),
    };
    Ok(gen::AssociatedAccessPolicy {
        policy_arn: Some(a.policy_arn),
        access_scope: Some(gen::AccessScope {
            r#type: kind,
            namespaces: Some(a.access_scope.namespaces),
        }),
        associated_at: Some(Timestamp(a.associated_at)),
        modified_at: Some(Timestamp(a.modified_at)),
    })
}

fn names(page: Page<String>) -> (Option<Vec<String>>, Option<String>) {
    (Some(page.items), page.next_token)
}

impl Model<'_> {
    /// The cluster's own fields by hand; its stored JSON documents (`extra`) parsed once,
    /// straight into their shapes.
    fn cluster(&self, mut c: model::Cluster) -> R<Option<gen::Cluster>> {
        (self.fix)(&mut c);
        let mut docs = String::with_capacity(1024);
        docs.push('{');
        for (i, (k, v)) in c.extra.iter().enumerate() {
            if i > 0 {
                docs.push(',');
            }
            docs.push_str(&serde_json::Value::String(k.clone()).to_string());
            docs.push(':');
            docs.push_str(v.get());
        }
        docs.push('}');
        let mut out: gen::Cluster = serde_json::from_str(&docs)
            .map_err(|e| internal("the model's answer does not fit its shape", e))?;
        let misfit = |what: &str| internal("the model's answer does not fit its shape", what);
        let mode = match c.access_config.authentication_mode.as_deref() {
            None => None,
            Some(m) => Some(gen::AuthenticationMode::parse(m).ok_or_else(|| misfit(m))?),
        };
        out.name = Some(c.name);
        out.arn = Some(c.arn);
        out.created_at = Some(Timestamp(c.created_at));
        out.version = Some(c.version);
        out.endpoint = c.endpoint;
        out.role_arn = Some(c.role_arn);
        out.status = Some(gen::ClusterStatus::parse(&c.status).ok_or_else(|| misfit(&c.status))?);
        out.access_config = Some(gen::AccessConfigResponse {
            bootstrap_cluster_creator_admin_permissions: c
                .access_config
                .bootstrap_cluster_creator_admin_permissions,
            authentication_mode: mode,
        });
        out.platform_version = Some(c.platform_version);
        out.tags = Some(c.tags);
        Ok(Some(out))
    }
}

fn vpc(v: gen::VpcConfigRequest) -> model::VpcConfigRequest {
    model::VpcConfigRequest {
        subnet_ids: v.subnet_ids.unwrap_or_default(),
        security_group_ids: v.security_group_ids.unwrap_or_default(),
        endpoint_public_access: v.endpoint_public_access,
        endpoint_private_access: v.endpoint_private_access,
        public_access_cidrs: v.public_access_cidrs,
    }
}

/// The members of an UpdateClusterConfig other than accessConfig that the caller set (the
/// model refuses them: it simulates access-config updates only).
fn other_members(i: &gen::UpdateClusterConfigInput) -> R<Vec<String>> {
    let serde_json::Value::Object(m) = document(i)? else {
        return Ok(vec![]);
    };
    Ok(m.into_iter()
        .filter(|(k, v)| {
            !v.is_null() && !["accessConfig", "clientRequestToken", "name"].contains(&k.as_str())
        })
        .map(|(k, _)| k)
        .collect())
}

impl gen::Eks for Model<'_> {
    type Ctx = Ctx;

    fn create_cluster(&self, ctx: &Ctx, i: gen::CreateClusterInput) -> R<gen::CreateClusterOutput> {
        let input = model::CreateClusterInput {
            name: i.name,
            version: i.version,
            role_arn: i.role_arn,
            resources_vpc_config: vpc(i.resources_vpc_config),
            access_config: i.access_config.map(|a| model::AccessConfig {
                bootstrap_cluster_creator_admin_permissions: a
                    .bootstrap_cluster_creator_admin_permissions,
                authentication_mode: a.authentication_mode.map(|m| m.as_str().to_string()),
            }),
            tags: i.tags.unwrap_or_default(),
            client_request_token: i.client_request_token,
            logging: i.logging.as_ref().map(document).transpose()?,
            kubernetes_network_config: i
                .kubernetes_network_config
                .as_ref()
                .map(document)
                .transpose()?,
        };
        let c = model::create_cluster(self.sim, ctx, input).map_err(eks_error)?;
        Ok(gen::CreateClusterOutput {
            cluster: self.cluster(c)?,
        })
    }

    fn describe_cluster(
        &self,
        ctx: &Ctx,
        i: gen::DescribeClusterInput,
    ) -> R<gen::DescribeClusterOutput> {
        let c = model::describe_cluster(self.sim, ctx, &i.name).map_err(eks_error)?;
        Ok(gen::DescribeClusterOutput {
            cluster: self.cluster(c)?,
        })
    }

    fn list_clusters(&self, ctx: &Ctx, i: gen::ListClustersInput) -> R<gen::ListClustersOutput> {
        let page = model::list_clusters(self.sim, ctx, i.max_results, i.next_token.as_deref())
            .map_err(eks_error)?;
        let (clusters, next_token) = names(page);
        Ok(gen::ListClustersOutput {
            clusters,
            next_token,
        })
    }

    fn delete_cluster(&self, ctx: &Ctx, i: gen::DeleteClusterInput) -> R<gen::DeleteClusterOutput> {
        let c = model::delete_cluster(self.sim, ctx, &i.name).map_err(eks_error)?;
        Ok(gen::DeleteClusterOutput {
            cluster: self.cluster(c)?,
        })
    }

    fn update_cluster_config(
        &self,
        ctx: &Ctx,
        i: gen::UpdateClusterConfigInput,
    ) -> R<gen::UpdateClusterConfigOutput> {
        let other_members = other_members(&i)?;
        let input = model::UpdateClusterConfigInput {
            authentication_mode: i
                .access_config
                .as_ref()
                .and_then(|a| a.authentication_mode)
                .map(|m| m.as_str().to_string()),
            access_config_present: i.access_config.is_some(),
            other_members,
            client_request_token: i.client_request_token,
            name: i.name,
        };
        let u = model::update_cluster_config(self.sim, ctx, input).map_err(eks_error)?;
        Ok(gen::UpdateClusterConfigOutput {
            update: Some(shape(&u)?),
        })
    }

    fn describe_update(
        &self,
        ctx: &Ctx,
        i: gen::DescribeUpdateInput,
    ) -> R<gen::DescribeUpdateOutput> {
        let u = model::describe_update(
            self.sim,
            ctx,
            &i.name,
            &i.update_id,
            i.nodegroup_name.as_deref(),
        )
        .map_err(eks_error)?;
        Ok(gen::DescribeUpdateOutput {
            update: Some(shape(&u)?),
        })
    }

    fn list_updates(&self, ctx: &Ctx, i: gen::ListUpdatesInput) -> R<gen::ListUpdatesOutput> {
        let page = model::list_updates(
            self.sim,
            ctx,
            &i.name,
            i.nodegroup_name.as_deref(),
            i.max_results,
            i.next_token.as_deref(),
        )
        .map_err(eks_error)?;
        let (update_ids, next_token) = names(page);
        Ok(gen::ListUpdatesOutput {
            update_ids,
            next_token,
        })
    }

    fn create_access_entry(
        &self,
        ctx: &Ctx,
        i: gen::CreateAccessEntryInput,
    ) -> R<gen::CreateAccessEntryOutput> {
        let input = model::CreateAccessEntryInput {
            cluster_name: i.cluster_name,
            principal_arn: i.principal_arn,
            kubernetes_groups: i.kubernetes_groups,
            tags: i.tags.unwrap_or_default(),
            client_request_token: i.client_request_token,
            username: i.username,
            kind: i.r#type,
        };
        let e = model::create_access_entry(self.sim, ctx, input).map_err(eks_error)?;
        Ok(gen::CreateAccessEntryOutput {
            access_entry: access_entry(e),
        })
    }

    fn describe_access_entry(
        &self,
        ctx: &Ctx,
        i: gen::DescribeAccessEntryInput,
    ) -> R<gen::DescribeAccessEntryOutput> {
        let e = model::describe_access_entry(self.sim, ctx, &i.cluster_name, &i.principal_arn)
            .map_err(eks_error)?;
        Ok(gen::DescribeAccessEntryOutput {
            access_entry: access_entry(e),
        })
    }

    fn list_access_entries(
        &self,
        ctx: &Ctx,
        i: gen::ListAccessEntriesInput,
    ) -> R<gen::ListAccessEntriesOutput> {
        let page = model::list_access_entries(
            self.sim,
            ctx,
            &i.cluster_name,
            i.associated_policy_arn.as_deref(),
            i.max_results,
            i.next_token.as_deref(),
        )
        .map_err(eks_error)?;
        let (access_entries, next_token) = names(page);
        Ok(gen::ListAccessEntriesOutput {
            access_entries,
            next_token,
        })
    }

    fn update_access_entry(
        &self,
        ctx: &Ctx,
        i: gen::UpdateAccessEntryInput,
    ) -> R<gen::UpdateAccessEntryOutput> {
        let input = model::UpdateAccessEntryInput {
            cluster_name: i.cluster_name,
            principal_arn: i.principal_arn,
            kubernetes_groups: i.kubernetes_groups,
            client_request_token: i.client_request_token,
            username: i.username,
        };
        let e = model::update_access_entry(self.sim, ctx, input).map_err(eks_error)?;
        Ok(gen::UpdateAccessEntryOutput {
            access_entry: access_entry(e),
        })
    }

    fn delete_access_entry(
        &self,
        ctx: &Ctx,
        i: gen::DeleteAccessEntryInput,
    ) -> R<gen::DeleteAccessEntryOutput> {
        model::delete_access_entry(self.sim, ctx, &i.cluster_name, &i.principal_arn)
            .map_err(eks_error)?;
        Ok(gen::DeleteAccessEntryOutput {})
    }

    fn associate_access_policy(
        &self,
        ctx: &Ctx,
        i: gen::AssociateAccessPolicyInput,
    ) -> R<gen::AssociateAccessPolicyOutput> {
        let scope = AccessScope {
            kind: i.access_scope.r#type.map(|t| t.as_str().to_string()),
            namespaces: i.access_scope.namespaces.unwrap_or_default(),
        };
        let a = model::associate_access_policy(
            self.sim,
            ctx,
            &i.cluster_name,
            &i.principal_arn,
            &i.policy_arn,
            &scope,
        )
        .map_err(eks_error)?;
        Ok(gen::AssociateAccessPolicyOutput {
            cluster_name: Some(i.cluster_name),
            principal_arn: Some(i.principal_arn),
            associated_access_policy: Some(associated(a)?),
        })
    }

    fn disassociate_access_policy(
        &self,
        ctx: &Ctx,
        i: gen::DisassociateAccessPolicyInput,
    ) -> R<gen::DisassociateAccessPolicyOutput> {
        model::disassociate_access_policy(
            self.sim,
            ctx,
            &i.cluster_name,
            &i.principal_arn,
            &i.policy_arn,
        )
        .map_err(eks_error)?;
        Ok(gen::DisassociateAccessPolicyOutput {})
    }

    fn list_associated_access_policies(
        &self,
        ctx: &Ctx,
        i: gen::ListAssociatedAccessPoliciesInput,
    ) -> R<gen::ListAssociatedAccessPoliciesOutput> {
        let page = model::list_associated_access_policies(
            self.sim,
            ctx,
            &i.cluster_name,
            &i.principal_arn,
            i.max_results,
            i.next_token.as_deref(),
        )
        .map_err(eks_error)?;
        Ok(gen::ListAssociatedAccessPoliciesOutput {
            cluster_name: Some(i.cluster_name),
            principal_arn: Some(i.principal_arn),
            next_token: page.next_token,
            associated_access_policies: Some(
                page.items.into_iter().map(associated).collect::<R<_>>()?,
            ),
        })
    }

    fn list_access_policies(
        &self,
        ctx: &Ctx,
        i: gen::ListAccessPoliciesInput,
    ) -> R<gen::ListAccessPoliciesOutput> {
        let page = model::list_access_policies(ctx, i.max_results, i.next_token.as_deref())
            .map_err(eks_error)?;
        Ok(gen::ListAccessPoliciesOutput {
            access_policies: Some(
                page.items
                    .into_iter()
                    .map(|p| gen::AccessPolicy {
                        name: Some(p.name),
                        arn: Some(p.arn),
                    })
                    .collect(),
            ),
            next_token: page.next_token,
        })
    }

    fn create_nodegroup(
        &self,
        ctx: &Ctx,
        i: gen::CreateNodegroupInput,
    ) -> R<gen::CreateNodegroupOutput> {
        let input = model::CreateNodegroupInput {
            cluster_name: i.cluster_name,
            nodegroup_name: i.nodegroup_name,
            subnets: i.subnets,
            node_role: i.node_role,
            scaling_config: i.scaling_config.as_ref().map(document).transpose()?,
            instance_types: i.instance_types,
            ami_type: i.ami_type.map(|t| t.as_str().to_string()),
            capacity_type: i.capacity_type.map(|t| t.as_str().to_string()),
            disk_size: i.disk_size.map(i64::from),
            labels: i.labels.unwrap_or_default(),
            tags: i.tags.unwrap_or_default(),
            version: i.version,
            client_request_token: i.client_request_token,
        };
        let ng = model::create_nodegroup(self.sim, ctx, input).map_err(eks_error)?;
        Ok(gen::CreateNodegroupOutput {
            nodegroup: Some(shape(&ng)?),
        })
    }

    fn describe_nodegroup(
        &self,
        ctx: &Ctx,
        i: gen::DescribeNodegroupInput,
    ) -> R<gen::DescribeNodegroupOutput> {
        let ng = model::describe_nodegroup(self.sim, ctx, &i.cluster_name, &i.nodegroup_name)
            .map_err(eks_error)?;
        Ok(gen::DescribeNodegroupOutput {
            nodegroup: Some(shape(&ng)?),
        })
    }

    fn list_nodegroups(
        &self,
        ctx: &Ctx,
        i: gen::ListNodegroupsInput,
    ) -> R<gen::ListNodegroupsOutput> {
        let page = model::list_nodegroups(
            self.sim,
            ctx,
            &i.cluster_name,
            i.max_results,
            i.next_token.as_deref(),
        )
        .map_err(eks_error)?;
        let (nodegroups, next_token) = names(page);
        Ok(gen::ListNodegroupsOutput {
            nodegroups,
            next_token,
        })
    }

    fn delete_nodegroup(
        &self,
        ctx: &Ctx,
        i: gen::DeleteNodegroupInput,
    ) -> R<gen::DeleteNodegroupOutput> {
        let ng = model::delete_nodegroup(self.sim, ctx, &i.cluster_name, &i.nodegroup_name)
            .map_err(eks_error)?;
        Ok(gen::DeleteNodegroupOutput {
            nodegroup: Some(shape(&ng)?),
        })
    }

    fn tag_resource(&self, ctx: &Ctx, i: gen::TagResourceInput) -> R<gen::TagResourceOutput> {
        model::tags::tag_resource(self.sim, ctx, &i.resource_arn, &i.tags).map_err(eks_error)?;
        Ok(gen::TagResourceOutput {})
    }

    fn untag_resource(&self, ctx: &Ctx, i: gen::UntagResourceInput) -> R<gen::UntagResourceOutput> {
        model::tags::untag_resource(self.sim, ctx, &i.resource_arn, &i.tag_keys)
            .map_err(eks_error)?;
        Ok(gen::UntagResourceOutput {})
    }

    fn list_tags_for_resource(
        &self,
        ctx: &Ctx,
        i: gen::ListTagsForResourceInput,
    ) -> R<gen::ListTagsForResourceOutput> {
        let tags = model::tags::list_tags_for_resource(self.sim, ctx, &i.resource_arn)
            .map_err(eks_error)?;
        Ok(gen::ListTagsForResourceOutput { tags: Some(tags) })
    }

    fn update_nodegroup_config(
        &self,
        ctx: &Ctx,
        i: gen::UpdateNodegroupConfigInput,
    ) -> R<gen::UpdateNodegroupConfigOutput> {
        let scaling = i.scaling_config.as_ref().map(document).transpose()?;
        let u = model::nodegroup_config::update_nodegroup_config(
            self.sim,
            ctx,
            &i.cluster_name,
            &i.nodegroup_name,
            scaling.as_ref(),
        )
        .map_err(eks_error)?;
        Ok(gen::UpdateNodegroupConfigOutput {
            update: Some(shape(&u)?),
        })
    }
}
