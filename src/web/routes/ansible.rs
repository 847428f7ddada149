//! `GET /api/ansible/inventory`: Ansible's dynamic-inventory JSON (the script
//! protocol's `--list`): pods as hosts (running ones unless `?all=true`), grouped by
//! provider, project, node and label, with `_meta.hostvars` (address, namespace,
//! node, labels, tags, provider). What the caller may not see is not there: the pods
//! come through the query engine with the caller's RBAC visibility.
//! `contrib/steward_inventory.py` lets `ansible-inventory -i` use it.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::inventory::visibility;
use crate::api_query::sql::{Query, build};
use crate::api_query::{collection, exec};
use crate::db::schema::{categories, providers, taggings, tags};
use crate::web::{ApiError, AppState, Caller};

/// Most hosts in one inventory.
const MAX_HOSTS: i64 = 100_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InventoryQuery {
    /// Include pods that are not running.
    all: Option<bool>,
}

/// A group name Ansible accepts: `[A-Za-z0-9_]`, not starting with a digit.
fn group_name(prefix: &str, raw: &str) -> String {
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}_{clean}")
}

pub(super) async fn inventory(
    caller: Caller,
    query: web::Query<InventoryQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pods = collection("container_groups")
        .ok_or_else(|| ApiError::Internal("no container_groups collection".into()))?;
    let attributes = [
        "name",
        "namespace",
        "node_name",
        "pod_ip",
        "host_ip",
        "phase",
        "labels",
        "provider_id",
    ];
    let mut q = Query {
        filters: Vec::new(),
        attributes: Some(attributes.iter().map(|a| a.to_string()).collect()),
        sort: Vec::new(),
        ignore_case: false,
        offset: 0,
        limit: MAX_HOSTS,
        include_deleted: false,
        parents: Vec::new(),
        parent_in: None,
        id: None,
        by_tag: Vec::new(),
    };
    if !query.all.unwrap_or(false) {
        q.filters.push(
            crate::api_query::filter::parse_clause("phase = \"Running\"")
                .map_err(|e| ApiError::Internal(e.to_string()))?,
        );
    }
    let built = build(state.db.backend(), pods, &q, &visibility(&caller.0))
        .map_err(|e| ApiError::Internal(e.0))?;
    let (page, provider_names, pod_tags) = state
        .db
        .run(move |conn| {
            let page = exec::run(conn, &built, None)?;
            let names: Vec<(i64, String)> = providers::table
                .select((providers::id, providers::name))
                .load(conn)?;
            let pod_tags: Vec<(i64, String, String)> = taggings::table
                .inner_join(tags::table.inner_join(categories::table))
                .filter(taggings::taggable_type.eq("container_groups"))
                .select((taggings::taggable_id, categories::name, tags::name))
                .load(conn)?;
            Ok((page, names, pod_tags))
        })
        .await?;
    let provider_names: BTreeMap<String, String> = provider_names
        .into_iter()
        .map(|(id, name)| (id.to_string(), name))
        .collect();
    let mut tags_by_pod: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, category, tag) in pod_tags {
        tags_by_pod
            .entry(id.to_string())
            .or_default()
            .push(format!("/managed/{category}/{tag}"));
    }

    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut hostvars = Map::new();
    for pod in page.rows {
        let text = |k: &str| pod[k].as_str().unwrap_or_default().to_string();
        let provider = provider_names
            .get(&text("provider_id"))
            .cloned()
            .unwrap_or_else(|| text("provider_id"));
        let host = format!("{}.{}.{}", text("name"), text("namespace"), provider);
        groups
            .entry(group_name("provider", &provider))
            .or_default()
            .insert(host.clone());
        groups
            .entry(group_name("project", &text("namespace")))
            .or_default()
            .insert(host.clone());
        if !text("node_name").is_empty() {
            groups
                .entry(group_name("node", &text("node_name")))
                .or_default()
                .insert(host.clone());
        }
        if let Some(labels) = pod["labels"].as_object() {
            for (k, v) in labels {
                let value = v.as_str().unwrap_or_default();
                groups
                    .entry(group_name("label", &format!("{k}_{value}")))
                    .or_default()
                    .insert(host.clone());
            }
        }
        let tags = tags_by_pod.get(&text("id")).cloned().unwrap_or_default();
        hostvars.insert(
            host,
            json!({
                "ansible_host": text("pod_ip"),
                "steward_id": text("id"),
                "steward_provider": provider,
                "namespace": text("namespace"),
                "node": text("node_name"),
                "host_ip": text("host_ip"),
                "phase": text("phase"),
                "labels": pod["labels"],
                "tags": tags,
            }),
        );
    }
    let mut body = Map::new();
    body.insert(
        "all".into(),
        json!({"children": groups.keys().cloned().collect::<Vec<_>>()}),
    );
    for (name, hosts) in groups {
        body.insert(name, json!({"hosts": hosts}));
    }
    body.insert("_meta".into(), json!({"hostvars": hostvars}));
    Ok(HttpResponse::Ok().json(Value::Object(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_are_what_ansible_accepts() {
        assert_eq!(
            group_name("label", "app.kubernetes.io/name_web-1"),
            "label_app_kubernetes_io_name_web_1"
        );
        assert_eq!(group_name("project", "Kube-System"), "project_kube_system");
    }
}
