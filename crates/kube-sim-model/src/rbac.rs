//! Authorization: Kubernetes RBAC (Roles, ClusterRoles and their bindings, as stored in the
//! cluster, with the default roles and bindings every cluster starts with), EKS access
//! policies (cluster or namespace scope) and the node rules, adding up: a request is allowed
//! when any of them allows it.

use crate::identity::UserInfo;
use eks_sim_model::eks::kube_view::PolicyGrant;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What a request asks to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    pub verb: String,
    /// `None` for a non-resource request.
    pub resource: Option<ResourceAttrs>,
    /// The path of a non-resource request.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceAttrs {
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
}

/// A `PolicyRule`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    #[serde(
        default,
        rename = "nonResourceURLs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

fn has(list: &[String], v: &str) -> bool {
    list.iter().any(|x| x == "*" || x == v)
}

impl Rule {
    pub fn new(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Rule {
        let s = |l: &[&str]| l.iter().map(|x| x.to_string()).collect();
        Rule {
            verbs: s(verbs),
            api_groups: s(groups),
            resources: s(resources),
            ..Rule::default()
        }
    }

    pub fn urls(urls: &[&str], verbs: &[&str]) -> Rule {
        let s = |l: &[&str]| l.iter().map(|x| x.to_string()).collect();
        Rule {
            verbs: s(verbs),
            non_resource_urls: s(urls),
            ..Rule::default()
        }
    }

    /// Kubernetes's `RuleAllows`.
    pub fn allows(&self, a: &Attributes) -> bool {
        if !has(&self.verbs, &a.verb) {
            return false;
        }
        match &a.resource {
            Some(r) => {
                let combined = if r.subresource.is_empty() {
                    r.resource.clone()
                } else {
                    format!("{}/{}", r.resource, r.subresource)
                };
                let res_ok = self.resources.iter().any(|x| {
                    x == "*"
                        || *x == combined
                        || (!r.subresource.is_empty() && *x == format!("*/{}", r.subresource))
                });
                has(&self.api_groups, &r.group)
                    && res_ok
                    && (self.resource_names.is_empty() || self.resource_names.contains(&r.name))
            }
            None => self.non_resource_urls.iter().any(|u| {
                u == "*"
                    || *u == a.path
                    || u.strip_suffix('*').is_some_and(|p| a.path.starts_with(p))
            }),
        }
    }
}

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const ALL_WRITE_READ: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Namespaced resources the `view` role reads (no secrets).
const VIEWABLE: &[&str] = &[
    "configmaps",
    "endpoints",
    "persistentvolumeclaims",
    "pods",
    "pods/log",
    "pods/status",
    "replicationcontrollers",
    "services",
    "services/status",
    "events",
    "limitranges",
    "resourcequotas",
    "serviceaccounts",
];
const EDITABLE: &[&str] = &[
    "configmaps",
    "endpoints",
    "persistentvolumeclaims",
    "pods",
    "replicationcontrollers",
    "services",
    "secrets",
    "serviceaccounts",
];
const APP_GROUPS: &[&str] = &[
    "apps",
    "batch",
    "autoscaling",
    "networking.k8s.io",
    "policy",
];

fn view_rules() -> Vec<Rule> {
    vec![
        Rule::new(&[""], VIEWABLE, READ),
        Rule::new(&[""], &["namespaces", "namespaces/status"], READ),
        Rule::new(APP_GROUPS, &["*"], READ),
    ]
}

fn edit_rules() -> Vec<Rule> {
    let mut r = view_rules();
    r.push(Rule::new(&[""], EDITABLE, ALL_WRITE_READ));
    r.push(Rule::new(APP_GROUPS, &["*"], WRITE));
    r
}

fn admin_rules() -> Vec<Rule> {
    let mut r = edit_rules();
    r.push(Rule::new(
        &[crate::resources::RBAC_GROUP],
        &["roles", "rolebindings"],
        ALL_WRITE_READ,
    ));
    r.push(Rule::new(
        &["authorization.k8s.io"],
        &["localsubjectaccessreviews"],
        &["create"],
    ));
    r
}

/// The rules of an EKS access policy (EKS User Guide, "Access policy permissions"),
/// narrowed to what the simulator serves and the common workload kinds.
pub fn policy_rules(policy: &str) -> Vec<Rule> {
    match policy {
        "AmazonEKSClusterAdminPolicy" => vec![
            Rule::new(&["*"], &["*"], &["*"]),
            Rule::urls(&["*"], &["*"]),
        ],
        "AmazonEKSAdminViewPolicy" => vec![Rule::new(&["*"], &["*"], READ)],
        "AmazonEKSAdminPolicy" => admin_rules(),
        "AmazonEKSEditPolicy" => edit_rules(),
        "AmazonEKSViewPolicy" => view_rules(),
        _ => Vec::new(),
    }
}

/// Whether a namespace in an access scope (`team-*` wildcards allowed) covers `ns`.
fn scope_covers(pattern: &str, ns: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => ns.starts_with(prefix),
        None => pattern == ns,
    }
}

/// Whether the access policies allow `a`.
pub fn policies_allow(policies: &[PolicyGrant], a: &Attributes) -> bool {
    policies.iter().any(|p| {
        let in_scope = match (&a.resource, p.scope_type.as_str()) {
            (_, "cluster") => true,
            (Some(r), _) if !r.namespace.is_empty() => {
                p.namespaces.iter().any(|n| scope_covers(n, &r.namespace))
            }
            _ => false,
        };
        in_scope && policy_rules(&p.policy).iter().any(|r| r.allows(a))
    })
}

/// A subject of a binding.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Subject {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Subject {
    pub fn matches(&self, u: &UserInfo, binding_ns: &str) -> bool {
        match self.kind.as_str() {
            "User" => self.name == u.username,
            "Group" => u.in_group(&self.name),
            "ServiceAccount" => {
                let ns = self.namespace.as_deref().unwrap_or(binding_ns);
                u.username == format!("system:serviceaccount:{ns}:{}", self.name)
            }
            _ => false,
        }
    }
}

/// A binding as stored (Role/ClusterRoleBinding objects).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    #[serde(default)]
    pub subjects: Vec<Subject>,
    #[serde(default)]
    pub role_ref: RoleRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    #[serde(default)]
    pub api_group: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

/// The rules of a stored Role or ClusterRole object.
pub fn rules_of(role: &Value) -> Vec<Rule> {
    serde_json::from_value(role["rules"].clone()).unwrap_or_default()
}

/// Default ClusterRoles every cluster starts with (name → rules).
pub fn default_cluster_roles() -> Vec<(&'static str, Vec<Rule>)> {
    vec![
        (
            "cluster-admin",
            vec![
                Rule::new(&["*"], &["*"], &["*"]),
                Rule::urls(&["*"], &["*"]),
            ],
        ),
        ("admin", admin_rules()),
        ("edit", edit_rules()),
        ("view", view_rules()),
        (
            "system:discovery",
            vec![Rule::urls(
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
                &["get"],
            )],
        ),
        (
            "system:basic-user",
            vec![
                Rule::new(
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                    &["create"],
                ),
                Rule::new(
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    &["create"],
                ),
            ],
        ),
        (
            "system:public-info-viewer",
            vec![Rule::urls(
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
                &["get"],
            )],
        ),
    ]
}

/// Default ClusterRoleBindings: (name, role, group subjects).
pub fn default_cluster_role_bindings() -> Vec<(&'static str, &'static str, &'static [&'static str])>
{
    vec![
        ("cluster-admin", "cluster-admin", &["system:masters"]),
        (
            "system:discovery",
            "system:discovery",
            &["system:authenticated"],
        ),
        (
            "system:basic-user",
            "system:basic-user",
            &["system:authenticated"],
        ),
        (
            "system:public-info-viewer",
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
    ]
}

/// A ClusterRole object.
pub fn cluster_role_object(name: &str, rules: &[Rule]) -> Value {
    json!({
        "kind": "ClusterRole",
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        },
        "rules": rules,
    })
}

pub fn cluster_role_binding_object(name: &str, role: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": g}))
        .collect();
    json!({
        "kind": "ClusterRoleBinding",
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        },
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

/// What nodes may do (the Node authorizer, narrowed to the kinds served): read nodes,
/// create nodes, change only their own `Node`.
pub fn node_allows(u: &UserInfo, a: &Attributes) -> bool {
    let Some(node) = u.username.strip_prefix("system:node:") else {
        return false;
    };
    if !u.in_group("system:nodes") {
        return false;
    }
    let Some(r) = &a.resource else { return false };
    if !r.group.is_empty() || r.resource != "nodes" {
        return false;
    }
    match a.verb.as_str() {
        "get" | "list" | "watch" | "create" => true,
        "update" | "patch" | "delete" => r.name == node,
        _ => false,
    }
}

/// The refusal message Kubernetes gives (`… is forbidden: User "U" cannot …`).
pub fn forbidden_message(u: &UserInfo, a: &Attributes) -> String {
    let who = &u.username;
    let Some(r) = &a.resource else {
        return format!(
            "forbidden: User \"{who}\" cannot {} path \"{}\"",
            a.verb, a.path
        );
    };
    let res = if r.group.is_empty() {
        r.resource.clone()
    } else {
        format!("{}.{}", r.resource, r.group)
    };
    let subject = if r.name.is_empty() {
        res
    } else {
        format!("{res} \"{}\"", r.name)
    };
    let combined = if r.subresource.is_empty() {
        r.resource.clone()
    } else {
        format!("{}/{}", r.resource, r.subresource)
    };
    let scope = if r.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{}\"", r.namespace)
    };
    format!(
        "{subject} is forbidden: User \"{who}\" cannot {} resource \"{combined}\" in API group \"{}\" {scope}",
        a.verb, r.group
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(verb: &str, group: &str, res: &str, ns: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource: Some(ResourceAttrs {
                group: group.into(),
                resource: res.into(),
                subresource: String::new(),
                namespace: ns.into(),
                name: name.into(),
            }),
            path: String::new(),
        }
    }

    fn grant(policy: &str, scope: &str, ns: &[&str]) -> PolicyGrant {
        PolicyGrant {
            policy: policy.into(),
            scope_type: scope.into(),
            namespaces: ns.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn access_policies_table() {
        let cm_get = attrs("get", "", "configmaps", "kube-system", "aws-auth");
        let cm_update = attrs("update", "", "configmaps", "kube-system", "aws-auth");
        let secret_get = attrs("get", "", "secrets", "default", "s");
        let role_create = attrs(
            "create",
            "rbac.authorization.k8s.io",
            "roles",
            "default",
            "",
        );
        let crb_create = attrs(
            "create",
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            "",
            "",
        );
        let nodes_list = attrs("list", "", "nodes", "", "");
        let cases: &[(&str, &str, &[&str], &Attributes, bool)] = &[
            (
                "AmazonEKSClusterAdminPolicy",
                "cluster",
                &[],
                &crb_create,
                true,
            ),
            (
                "AmazonEKSAdminViewPolicy",
                "cluster",
                &[],
                &secret_get,
                true,
            ),
            (
                "AmazonEKSAdminViewPolicy",
                "cluster",
                &[],
                &cm_update,
                false,
            ),
            (
                "AmazonEKSAdminViewPolicy",
                "cluster",
                &[],
                &nodes_list,
                true,
            ),
            ("AmazonEKSViewPolicy", "cluster", &[], &cm_get, true),
            ("AmazonEKSViewPolicy", "cluster", &[], &secret_get, false),
            ("AmazonEKSViewPolicy", "cluster", &[], &cm_update, false),
            ("AmazonEKSEditPolicy", "cluster", &[], &cm_update, true),
            ("AmazonEKSEditPolicy", "cluster", &[], &role_create, false),
            ("AmazonEKSAdminPolicy", "cluster", &[], &role_create, true),
            ("AmazonEKSAdminPolicy", "cluster", &[], &crb_create, false),
            (
                "AmazonEKSEditPolicy",
                "namespace",
                &["kube-system"],
                &cm_update,
                true,
            ),
            (
                "AmazonEKSEditPolicy",
                "namespace",
                &["kube-*"],
                &cm_update,
                true,
            ),
            (
                "AmazonEKSEditPolicy",
                "namespace",
                &["default"],
                &cm_update,
                false,
            ),
            (
                "AmazonEKSClusterAdminPolicy",
                "namespace",
                &["default"],
                &nodes_list,
                false,
            ),
        ];
        for (policy, scope, ns, a, want) in cases {
            assert_eq!(
                policies_allow(&[grant(policy, scope, ns)], a),
                *want,
                "{policy} {scope} {ns:?} {a:?}"
            );
        }
    }

    #[test]
    fn access_policies_add_up() {
        let cm_update = attrs("update", "", "configmaps", "kube-system", "aws-auth");
        let both = [
            grant("AmazonEKSViewPolicy", "cluster", &[]),
            grant("AmazonEKSEditPolicy", "namespace", &["kube-system"]),
        ];
        assert!(policies_allow(&both, &cm_update));
        assert!(!policies_allow(
            &both,
            &attrs("update", "", "configmaps", "default", "x")
        ));
    }

    #[test]
    fn rules_and_messages() {
        let r = Rule {
            verbs: vec!["get".into()],
            api_groups: vec!["".into()],
            resources: vec!["configmaps".into()],
            resource_names: vec!["aws-auth".into()],
            non_resource_urls: vec![],
        };
        assert!(r.allows(&attrs("get", "", "configmaps", "kube-system", "aws-auth")));
        assert!(!r.allows(&attrs("get", "", "configmaps", "kube-system", "other")));
        assert!(!r.allows(&attrs("list", "", "configmaps", "kube-system", "")));
        assert!(!r.allows(&attrs(
            "get",
            "apps",
            "configmaps",
            "kube-system",
            "aws-auth"
        )));
        let u = Rule::urls(&["/apis/*"], &["get"]);
        let mut a = Attributes {
            verb: "get".into(),
            resource: None,
            path: "/apis/apps".into(),
        };
        assert!(u.allows(&a));
        a.path = "/version".into();
        assert!(!u.allows(&a));
        let user = UserInfo {
            username: "U".into(),
            ..UserInfo::default()
        };
        assert_eq!(
            forbidden_message(&user, &attrs("get", "", "configmaps", "kube-system", "aws-auth")),
            "configmaps \"aws-auth\" is forbidden: User \"U\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"kube-system\""
        );
        assert_eq!(
            forbidden_message(&user, &attrs("list", "", "nodes", "", "")),
            "nodes is forbidden: User \"U\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
        );
        assert_eq!(
            forbidden_message(
                &user,
                &Attributes {
                    verb: "get".into(),
                    resource: None,
                    path: "/x".into()
                }
            ),
            "forbidden: User \"U\" cannot get path \"/x\""
        );
    }
}
