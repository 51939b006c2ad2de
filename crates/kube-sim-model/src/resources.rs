//! The kinds each simulated cluster serves, for routing and discovery.

/// A served resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    /// Plural, as in the URL.
    pub resource: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
    pub short_names: &'static [&'static str],
}

const CRUD: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const CREATE_ONLY: &[&str] = &["create"];
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

pub const KINDS: &[Kind] = &[
    Kind {
        group: "",
        version: "v1",
        resource: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        verbs: &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ],
        short_names: &["ns"],
    },
    Kind {
        group: "",
        version: "v1",
        resource: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        verbs: CRUD,
        short_names: &["cm"],
    },
    Kind {
        group: "",
        version: "v1",
        resource: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        verbs: CRUD,
        short_names: &["ev"],
    },
    Kind {
        group: "",
        version: "v1",
        resource: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        verbs: CRUD,
        short_names: &["po"],
    },
    Kind {
        group: "",
        version: "v1",
        resource: "nodes",
        singular: "node",
        kind: "Node",
        namespaced: false,
        verbs: CRUD,
        short_names: &["no"],
    },
    Kind {
        group: RBAC_GROUP,
        version: "v1",
        resource: "clusterroles",
        singular: "clusterrole",
        kind: "ClusterRole",
        namespaced: false,
        verbs: CRUD,
        short_names: &[],
    },
    Kind {
        group: RBAC_GROUP,
        version: "v1",
        resource: "clusterrolebindings",
        singular: "clusterrolebinding",
        kind: "ClusterRoleBinding",
        namespaced: false,
        verbs: CRUD,
        short_names: &[],
    },
    Kind {
        group: RBAC_GROUP,
        version: "v1",
        resource: "roles",
        singular: "role",
        kind: "Role",
        namespaced: true,
        verbs: CRUD,
        short_names: &[],
    },
    Kind {
        group: RBAC_GROUP,
        version: "v1",
        resource: "rolebindings",
        singular: "rolebinding",
        kind: "RoleBinding",
        namespaced: true,
        verbs: CRUD,
        short_names: &[],
    },
    Kind {
        group: "authentication.k8s.io",
        version: "v1",
        resource: "selfsubjectreviews",
        singular: "selfsubjectreview",
        kind: "SelfSubjectReview",
        namespaced: false,
        verbs: CREATE_ONLY,
        short_names: &[],
    },
    Kind {
        group: "authorization.k8s.io",
        version: "v1",
        resource: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        kind: "SelfSubjectAccessReview",
        namespaced: false,
        verbs: CREATE_ONLY,
        short_names: &[],
    },
    Kind {
        group: "authorization.k8s.io",
        version: "v1",
        resource: "selfsubjectrulesreviews",
        singular: "selfsubjectrulesreview",
        kind: "SelfSubjectRulesReview",
        namespaced: false,
        verbs: CREATE_ONLY,
        short_names: &[],
    },
];

impl Kind {
    /// The `apiVersion` of its objects.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Key in the object store: `resource` or `resource.group`.
    pub fn store_key(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    /// Kinds that are only created, never stored (reviews).
    pub fn is_virtual(&self) -> bool {
        self.verbs == CREATE_ONLY
    }
}

pub fn find(group: &str, version: &str, resource: &str) -> Option<&'static Kind> {
    KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.resource == resource)
}

/// The groups served besides the core group, in discovery order.
pub fn groups() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for k in KINDS {
        if !k.group.is_empty() && !out.contains(&k.group) {
            out.push(k.group);
        }
    }
    out
}
