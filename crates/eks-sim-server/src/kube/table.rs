//! Server-side printing (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), which
//! kubectl asks for on `get`: a `meta.k8s.io/v1` `Table` with the columns Kubernetes prints
//! for each kind (nodes: Name, Status, Roles, Age, Version; …) and each row's object as
//! `PartialObjectMetadata`.

use serde_json::{json, Value};

/// Whether the client asked for a Table.
pub(crate) fn wanted(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"))
}

/// Kubernetes's short "age" (`HumanDuration`): 45s, 3m20s, 95m, 5h10m, 2d3h, 12d.
pub(crate) fn age(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match () {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 && s % 60 != 0 => format!("{m}m{}s", s % 60),
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 && m % 60 != 0 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if d < 8 && h % 24 != 0 => format!("{d}d{}h", h % 24),
        _ => format!("{d}d"),
    }
}

fn created_secs_ago(obj: &Value, now_ms: i64) -> i64 {
    let t = obj["metadata"]["creationTimestamp"].as_str().unwrap_or("");
    let fmt = time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(t, &fmt)
        .map(|c| now_ms / 1000 - c.unix_timestamp())
        .unwrap_or(0)
}

fn col(name: &str, ty: &str, format: &str) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": "", "priority": 0})
}

fn node_status(obj: &Value) -> String {
    let ready = obj["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .map(|c| c["status"] == "True");
    match ready {
        Some(true) => "Ready",
        Some(false) => "NotReady",
        None => "Unknown",
    }
    .to_string()
}

fn node_roles(obj: &Value) -> String {
    let roles: Vec<String> = obj["metadata"]["labels"]
        .as_object()
        .map(|l| {
            l.keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.join(",")
    }
}

/// Columns and cells for a kind.
fn columns(kind: &str) -> Vec<Value> {
    match kind {
        "Node" => vec![
            col("Name", "string", "name"),
            col("Status", "string", ""),
            col("Roles", "string", ""),
            col("Age", "string", ""),
            col("Version", "string", ""),
        ],
        "ConfigMap" => vec![
            col("Name", "string", "name"),
            col("Data", "integer", ""),
            col("Age", "string", ""),
        ],
        "Namespace" => vec![
            col("Name", "string", "name"),
            col("Status", "string", ""),
            col("Age", "string", ""),
        ],
        _ => vec![col("Name", "string", "name"), col("Age", "string", "")],
    }
}

fn cells(kind: &str, obj: &Value, now_ms: i64) -> Vec<Value> {
    let name = json!(obj["metadata"]["name"].as_str().unwrap_or(""));
    let a = json!(age(created_secs_ago(obj, now_ms)));
    match kind {
        "Node" => vec![
            name,
            json!(node_status(obj)),
            json!(node_roles(obj)),
            a,
            obj["status"]["nodeInfo"]["kubeletVersion"].clone(),
        ],
        "ConfigMap" => {
            let n = obj["data"].as_object().map_or(0, |d| d.len())
                + obj["binaryData"].as_object().map_or(0, |d| d.len());
            vec![name, json!(n), a]
        }
        "Namespace" => vec![
            name,
            json!(obj["status"]["phase"].as_str().unwrap_or("Active")),
            a,
        ],
        _ => vec![name, a],
    }
}

/// The Table of `items` (objects of `kind`) at list version `rv`.
pub(crate) fn render(kind: &str, items: &[Value], rv: &str, now_ms: i64) -> Value {
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            json!({
                "cells": cells(kind, o, now_ms),
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o["metadata"],
                },
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": columns(kind),
        "rows": rows,
    })
}
