//! What a catcher hands the handler: one occurrence of a Kubernetes Event (or a storm
//! of them folded together), and the Steward event type it maps to.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest message kept (a kubelet's probe output can be long); the rest is cut.
pub const MAX_MESSAGE: usize = 4 * 1024;
/// Longest name, reason, uid or kind kept.
pub const MAX_FIELD: usize = 256;

/// One occurrence of a Kubernetes Event as caught: the Event's uid and count identify
/// it, so the handler recognises an occurrence it has stored already.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Caught {
    /// The Event's uid (`ems_ref`).
    pub uid: String,
    /// The Event's count when seen (a repeated Event keeps its uid and counts up).
    pub count: i64,
    pub event_type: String,
    /// The Event's `type`: `Normal` or `Warning`.
    pub severity: String,
    pub reason: String,
    pub message: String,
    /// The involved object.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub target_uid: String,
    /// The container a pod event concerns (`spec.containers{name}`), if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container: String,
    pub component: String,
    pub host: String,
    pub first: Option<DateTime<Utc>>,
    pub last: DateTime<Utc>,
    /// Set when this stands for a storm's folded occurrences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storm: Option<Storm>,
}

/// The occurrences a storm folded since its last report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storm {
    /// The storm's id, the same for all its reports: its row's `chain_id`.
    pub chain_id: String,
    /// Occurrences folded into this report.
    pub folded: i64,
}

impl Caught {
    /// What makes two occurrences "identical" for storm folding: the same object,
    /// reason and message.
    pub fn storm_key(&self) -> (String, String, String) {
        let object = if self.target_uid.is_empty() {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        } else {
            self.target_uid.clone()
        };
        (object, self.reason.clone(), self.message.clone())
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary.
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// The container named by a pod event's `fieldPath` (`spec.containers{name}`,
/// `spec.initContainers{name}`).
pub fn container_of(field_path: &str) -> Option<&str> {
    let rest = field_path
        .strip_prefix("spec.containers{")
        .or_else(|| field_path.strip_prefix("spec.initContainers{"))?;
    let name = rest.strip_suffix('}')?;
    (!name.is_empty()).then_some(name)
}

/// The event type prefix of an involved object's kind (ManageIQ's naming:
/// replication controllers and replica sets are replicators).
fn kind_prefix(kind: &str) -> String {
    match kind {
        "ReplicationController" | "ReplicaSet" => "REPLICATOR".into(),
        "Pod" => "POD".into(),
        "Node" => "NODE".into(),
        "" => "UNKNOWN".into(),
        other => upper_token(other),
    }
}

/// `text` upper-cased with anything but letters and digits turned into `_`.
fn upper_token(text: &str) -> String {
    let token: String = text
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if token.is_empty() {
        "UNKNOWN".into()
    } else {
        token
    }
}

/// The Steward event type of an Event about a `kind` object for `reason`: ManageIQ's
/// `<KIND>_<REASON>` (`POD_KILLING`, `REPLICATOR_SUCCESSFULCREATE`,
/// `NODE_NODENOTSCHEDULABLE`), with the few names ManageIQ's handlers and the issue
/// spell otherwise (`NODE_READY`, `NODE_NOTREADY`, `POD_OOMKILLED`). A reason nobody
/// listed keeps the same generic form: it is never dropped.
pub fn event_type(kind: &str, reason: &str) -> String {
    let prefix = kind_prefix(kind);
    let special = match (prefix.as_str(), reason) {
        ("NODE", "NodeReady") => Some("READY"),
        ("NODE", "NodeNotReady") => Some("NOTREADY"),
        ("POD", "OOMKilling" | "OOMKilled") => Some("OOMKILLED"),
        _ => None,
    };
    let suffix = special.map_or_else(|| upper_token(reason), str::to_string);
    format!("{prefix}_{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_manageiq_naming() {
        assert_eq!(event_type("Pod", "Scheduled"), "POD_SCHEDULED");
        assert_eq!(
            event_type("Pod", "FailedScheduling"),
            "POD_FAILEDSCHEDULING"
        );
        assert_eq!(event_type("Pod", "Killing"), "POD_KILLING");
        assert_eq!(event_type("Pod", "BackOff"), "POD_BACKOFF");
        assert_eq!(event_type("Pod", "OOMKilled"), "POD_OOMKILLED");
        assert_eq!(event_type("Node", "NodeNotReady"), "NODE_NOTREADY");
        assert_eq!(event_type("Node", "NodeReady"), "NODE_READY");
        assert_eq!(
            event_type("Node", "NodeNotSchedulable"),
            "NODE_NODENOTSCHEDULABLE"
        );
        assert_eq!(event_type("Node", "Rebooted"), "NODE_REBOOTED");
        assert_eq!(
            event_type("ReplicationController", "SuccessfulCreate"),
            "REPLICATOR_SUCCESSFULCREATE"
        );
        assert_eq!(
            event_type("ReplicaSet", "FailedCreate"),
            "REPLICATOR_FAILEDCREATE"
        );
    }

    #[test]
    fn unknown_reasons_and_kinds_keep_a_generic_type() {
        assert_eq!(event_type("Pod", "Some-New reason"), "POD_SOME_NEW_REASON");
        assert_eq!(
            event_type("Deployment", "ScalingReplicaSet"),
            "DEPLOYMENT_SCALINGREPLICASET"
        );
        assert_eq!(event_type("", ""), "UNKNOWN_UNKNOWN");
        assert!(event_type("Pod", &"x".repeat(10_000)).len() <= 4 + 64);
    }

    #[test]
    fn containers_come_from_the_field_path() {
        assert_eq!(container_of("spec.containers{web}"), Some("web"));
        assert_eq!(container_of("spec.initContainers{init}"), Some("init"));
        assert_eq!(container_of("spec.containers{}"), None);
        assert_eq!(container_of(""), None);
    }

    #[test]
    fn bounded_cuts_on_a_character_boundary() {
        assert_eq!(bounded("héllo", 2), "h");
        assert_eq!(bounded("héllo", 3), "hé");
        assert_eq!(bounded("abc", 10), "abc");
    }
}
