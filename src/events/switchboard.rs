//! The event switchboard: each event the handler stored goes through the node's
//! policies (`crate::policy`); what matches acts — a targeted refresh of the object
//! (collected per batch, queued once), an alert (raised in the same transaction as the
//! event), a webhook or an e-mail (put in the notifier's outbox, same transaction), an
//! automation task (queued). A storm's row goes through once, when it is created.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;

use super::store::StoredEvent;
use crate::alerts::{NewAlert, SOURCE_POLICY, raise_in};
use crate::db::schema::providers as pv;
use crate::db::{DbConnection, DbError};
use crate::notify::{KIND_EMAIL, KIND_WEBHOOK, NewNotification, enqueue};
use crate::policy::{Action, EventFacts, Policy, PolicySet};
use crate::queue::NewMessage;
use crate::refresh::{REFRESHABLE, Target};
use crate::with_backend;

/// What the policies decided for a batch, beyond what is already written.
#[derive(Debug, Default)]
pub struct Effects {
    pub refresh: BTreeSet<Target>,
    pub automations: Vec<NewMessage>,
    pub alerts: usize,
    pub notifications: usize,
    /// Policy matches, by policy name.
    pub matched: BTreeMap<String, usize>,
}

/// The provider the events came from, as the conditions see it.
struct ProviderFacts {
    name: String,
    tags: BTreeSet<String>,
}

fn tag_paths(
    conn: &mut DbConnection,
    collection: &str,
    id: i64,
) -> Result<BTreeSet<String>, DbError> {
    Ok(crate::tags::store::tags_of(conn, collection, id)?
        .into_iter()
        .map(|t| format!("{}/{}", t.category, t.tag))
        .collect())
}

fn uses_tags(set: &PolicySet) -> bool {
    set.policies
        .iter()
        .any(|p| p.enabled && !p.conditions.tags.is_empty())
}

/// `{name}` placeholders of a policy's text, filled from the event.
fn fill(template: &str, e: &StoredEvent, provider: &str) -> String {
    template
        .replace("{event_type}", &e.event_type)
        .replace("{provider}", provider)
        .replace("{project}", &e.namespace)
        .replace("{pod}", &e.group_name)
        .replace("{node}", &e.node_name)
        .replace("{container}", &e.container)
        .replace("{message}", &e.message)
}

/// The seed's e-mail body for an event (§7.4.1.1).
fn email_text(e: &StoredEvent, provider: &str) -> String {
    let or_na = |s: &str| {
        if s.is_empty() {
            "N/A".to_string()
        } else {
            s.to_string()
        }
    };
    format!(
        "A {} event was received from cluster {provider}\n\nProject: {}\nPod: {}\nContainer: {}\nNode: {}\nMessage: {}\n",
        e.event_type,
        or_na(&e.namespace),
        or_na(&e.group_name),
        or_na(&e.container),
        or_na(&e.node_name),
        e.message
    )
}

fn webhook_body(e: &StoredEvent, provider_id: i64, provider: &str, policy: &Policy) -> String {
    serde_json::json!({
        "type": "event",
        "policy": policy.name,
        "event": {
            "id": e.id.to_string(),
            "event_type": e.event_type,
            "severity": e.severity,
            "reason": e.reason,
            "message": e.message,
            "provider_id": provider_id.to_string(),
            "provider": provider,
            "target_kind": e.target_kind,
            "target_name": e.target_name,
            "project": e.namespace,
            "pod": e.group_name,
            "container": e.container,
            "node": e.node_name,
        }
    })
    .to_string()
}

/// Runs `events` (stored from provider `provider_id` in `zone`) through `set`, in the
/// caller's transaction.
pub fn switch(
    conn: &mut DbConnection,
    provider_id: i64,
    zone: &str,
    events: &[StoredEvent],
    set: &PolicySet,
) -> Result<Effects, DbError> {
    let mut effects = Effects::default();
    if events.is_empty() || !set.policies.iter().any(|p| p.enabled) {
        return Ok(effects);
    }
    let tags_wanted = uses_tags(set);
    let name: String = with_backend!(conn, c => pv::table
        .find(provider_id)
        .select(pv::name)
        .first(c)
        .optional())?
    .unwrap_or_default();
    let provider = ProviderFacts {
        tags: if tags_wanted {
            tag_paths(conn, "providers", provider_id)?
        } else {
            BTreeSet::new()
        },
        name,
    };
    for e in events {
        let mut tags = provider.tags.clone();
        if tags_wanted {
            if let Some(g) = e.group_id {
                tags.extend(tag_paths(conn, "container_groups", g)?);
            } else if let Some(n) = e.node_id.filter(|_| e.target_kind == "Node") {
                tags.extend(tag_paths(conn, "container_nodes", n)?);
            }
        }
        let facts = EventFacts {
            event_type: e.event_type.clone(),
            provider: provider.name.clone(),
            project: e.namespace.clone(),
            node: e.node_name.clone(),
            labels: serde_json::from_str(&e.labels).unwrap_or_default(),
            tags,
            severity: e.severity.clone(),
            message: e.message.clone(),
        };
        for policy in set.matching(&facts) {
            *effects.matched.entry(policy.name.clone()).or_default() += 1;
            for action in &policy.actions {
                act(
                    conn,
                    &mut effects,
                    action,
                    policy,
                    e,
                    provider_id,
                    &provider.name,
                    zone,
                )?;
            }
        }
    }
    Ok(effects)
}

#[allow(clippy::too_many_arguments)]
fn act(
    conn: &mut DbConnection,
    effects: &mut Effects,
    action: &Action,
    policy: &Policy,
    e: &StoredEvent,
    provider_id: i64,
    provider: &str,
    zone: &str,
) -> Result<(), DbError> {
    match action {
        Action::Refresh(_) => {
            if REFRESHABLE.contains(&e.target_kind.as_str()) && !e.target_name.is_empty() {
                effects.refresh.insert(Target {
                    kind: e.target_kind.clone(),
                    namespace: if e.target_kind == "Node" || e.target_kind == "Namespace" {
                        String::new()
                    } else {
                        e.namespace.clone()
                    },
                    name: e.target_name.clone(),
                });
            }
        }
        Action::Alert(a) => {
            let (target_kind, target_name) = match e.target_kind.as_str() {
                "Pod" => ("container_group", e.group_name.clone()),
                "Node" => ("container_node", e.node_name.clone()),
                "" => ("provider", provider.to_string()),
                other => (other, e.target_name.clone()),
            };
            let description = if a.description.is_empty() {
                format!("{}: {}", e.event_type, e.message)
            } else {
                fill(&a.description, e, provider)
            };
            raise_in(
                conn,
                &NewAlert {
                    source: SOURCE_POLICY,
                    name: policy.name.clone(),
                    fingerprint: format!(
                        "{}:{provider_id}:{}:{}/{}",
                        policy.name, e.target_kind, e.namespace, e.target_name
                    ),
                    severity: a.severity.clone(),
                    description: crate::text::elide(&description, 2048),
                    url: a.url.clone(),
                    provider_id: Some(provider_id),
                    container_node_id: e.node_id,
                    container_group_id: e.group_id,
                    container_project_id: e.project_id,
                    target_kind: target_kind.to_string(),
                    target_name,
                    labels: e.labels.clone(),
                    event_stream_id: Some(e.id),
                    started_on: crate::clock::now(),
                },
            )?;
            effects.alerts += 1;
        }
        Action::Webhook(w) => {
            enqueue(
                conn,
                &NewNotification {
                    kind: KIND_WEBHOOK,
                    target: w.url.clone(),
                    subject: format!("{} event received from cluster {provider}", e.event_type),
                    body: webhook_body(e, provider_id, provider, policy),
                    policy_name: policy.name.clone(),
                    event_stream_id: Some(e.id),
                    alert_id: None,
                },
            )?;
            effects.notifications += 1;
        }
        Action::Email(m) => {
            let subject = if m.subject.is_empty() {
                format!("{} event received from cluster {provider}", e.event_type)
            } else {
                fill(&m.subject, e, provider)
            };
            enqueue(
                conn,
                &NewNotification {
                    kind: KIND_EMAIL,
                    target: m.to.join(","),
                    subject,
                    body: email_text(e, provider),
                    policy_name: policy.name.clone(),
                    event_stream_id: Some(e.id),
                    alert_id: None,
                },
            )?;
            effects.notifications += 1;
        }
        Action::Automate(a) => {
            let args = serde_json::json!({
                "name": a.name,
                "args": a.args,
                "policy": policy.name,
                "event_stream_id": e.id.to_string(),
                "event_type": e.event_type,
                "provider_id": provider_id.to_string(),
            });
            let message = NewMessage::internal("Automate", "run")
                .with_zone(zone)
                .with_task(&format!("automate-{}-{}", policy.name, e.id))
                .with_role("automate")
                .and_then(|m| m.with_args(&args));
            match message {
                Ok(m) => effects.automations.push(m),
                Err(error) => {
                    tracing::warn!(%error, policy = %policy.name, "cannot build the automation task")
                }
            }
        }
    }
    Ok(())
}
