//! What a queue message is: its row, its states and priorities, and the builder used
//! to put one. Routing fields use `""` for "any" (any zone, any role, any server,
//! no task).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::queue_messages;

/// Priorities: lower is more urgent (the seed's MiqQueue constants).
pub mod priority {
    pub const MAX: i32 = 0;
    pub const HIGH: i32 = 20;
    pub const MEDIUM: i32 = 50;
    pub const NORMAL: i32 = 100;
    pub const LOW: i32 = 150;
    pub const MIN: i32 = 200;
}

/// Default time a handler may run before its message times out.
pub const DEFAULT_MSG_TIMEOUT_S: i32 = 600;

/// A message's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageState {
    /// Waiting to be claimed.
    Ready,
    /// Claimed by a server; being worked.
    Dequeue,
    Ok,
    Error,
    Timeout,
}

impl MessageState {
    pub const ALL: [MessageState; 5] = [
        MessageState::Ready,
        MessageState::Dequeue,
        MessageState::Ok,
        MessageState::Error,
        MessageState::Timeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Ready => "ready",
            MessageState::Dequeue => "dequeue",
            MessageState::Ok => "ok",
            MessageState::Error => "error",
            MessageState::Timeout => "timeout",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the message is finished (kept for diagnosis, then purged).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            MessageState::Ok | MessageState::Error | MessageState::Timeout
        )
    }
}

/// A row of `queue_messages`.
#[derive(Debug, Clone, Queryable, Serialize)]
pub struct QueueMessage {
    #[serde(serialize_with = "crate::json::id")]
    pub id: i64,
    pub priority: i32,
    pub state: String,
    pub zone: String,
    pub role: String,
    pub queue_name: String,
    pub server_guid: String,
    pub class_name: String,
    pub method_name: String,
    pub args: String,
    #[serde(serialize_with = "crate::json::id_opt")]
    pub instance_id: Option<i64>,
    #[serde(serialize_with = "crate::json::id_opt")]
    pub target_id: Option<i64>,
    pub task_id: String,
    #[serde(serialize_with = "crate::json::utc_opt")]
    pub deliver_on: Option<NaiveDateTime>,
    pub msg_timeout: i32,
    #[serde(serialize_with = "crate::json::utc")]
    pub created_on: NaiveDateTime,
    #[serde(serialize_with = "crate::json::utc_opt")]
    pub dequeued_on: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::json::utc_opt")]
    pub finished_on: Option<NaiveDateTime>,
    pub handler_server: String,
    pub handler_worker: String,
    pub attempts: i32,
    pub last_error: String,
}

impl QueueMessage {
    /// `Class.method`.
    pub fn command(&self) -> String {
        format!("{}.{}", self.class_name, self.method_name)
    }
}

/// A message to put, built with [`NewMessage::new`] and the `with_…` methods.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = queue_messages, treat_none_as_default_value = false)]
pub struct NewMessage {
    pub priority: i32,
    pub zone: String,
    pub role: String,
    pub queue_name: String,
    pub server_guid: String,
    pub class_name: String,
    pub method_name: String,
    pub args: String,
    pub instance_id: Option<i64>,
    pub target_id: Option<i64>,
    pub task_id: String,
    pub deliver_on: Option<NaiveDateTime>,
    pub msg_timeout: i32,
    pub created_on: NaiveDateTime,
}

/// Why a message cannot be put.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMessage {
    #[error("command `{0}` must be `Class.method`")]
    Command(String),
    #[error("priority {0} is out of range 0-200")]
    Priority(i32),
    #[error("msg_timeout {0} must be between 1 and 86400 seconds")]
    Timeout(i32),
    #[error("args must be a JSON array or object")]
    Args,
    #[error("unknown role `{0}`")]
    Role(String),
}

impl NewMessage {
    /// A message for `Class.method`, with the defaults of the seed: priority NORMAL,
    /// queue `generic`, any zone/role/server, timeout 600 s, args `[]`.
    pub fn new(command: &str) -> Result<Self, InvalidMessage> {
        let (class_name, method_name) = command
            .split_once('.')
            .filter(|(c, m)| !c.is_empty() && !m.is_empty() && !m.contains('.'))
            .ok_or_else(|| InvalidMessage::Command(command.to_string()))?;
        Ok(Self {
            priority: priority::NORMAL,
            zone: String::new(),
            role: String::new(),
            queue_name: "generic".into(),
            server_guid: String::new(),
            class_name: class_name.to_string(),
            method_name: method_name.to_string(),
            args: "[]".into(),
            instance_id: None,
            target_id: None,
            task_id: String::new(),
            deliver_on: None,
            msg_timeout: DEFAULT_MSG_TIMEOUT_S,
            created_on: chrono::Utc::now().naive_utc(),
        })
    }

    /// A message for a command Steward itself defines (`class`.`method` are constants
    /// of the code, so there is nothing to validate).
    pub fn internal(class: &'static str, method: &'static str) -> Self {
        Self {
            priority: priority::NORMAL,
            zone: String::new(),
            role: String::new(),
            queue_name: "generic".into(),
            server_guid: String::new(),
            class_name: class.to_string(),
            method_name: method.to_string(),
            args: "[]".into(),
            instance_id: None,
            target_id: None,
            task_id: String::new(),
            deliver_on: None,
            msg_timeout: DEFAULT_MSG_TIMEOUT_S,
            created_on: chrono::Utc::now().naive_utc(),
        }
    }

    /// The timeout, clamped to what a message may have (1 s to 1 day).
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.msg_timeout = timeout.as_secs().clamp(1, 86_400) as i32;
        self
    }

    pub fn with_args(mut self, args: &serde_json::Value) -> Result<Self, InvalidMessage> {
        if !(args.is_array() || args.is_object()) {
            return Err(InvalidMessage::Args);
        }
        self.args = args.to_string();
        Ok(self)
    }

    pub fn with_priority(mut self, priority: i32) -> Result<Self, InvalidMessage> {
        if !(priority::MAX..=priority::MIN).contains(&priority) {
            return Err(InvalidMessage::Priority(priority));
        }
        self.priority = priority;
        Ok(self)
    }

    pub fn with_timeout_s(mut self, seconds: i32) -> Result<Self, InvalidMessage> {
        if !(1..=86_400).contains(&seconds) {
            return Err(InvalidMessage::Timeout(seconds));
        }
        self.msg_timeout = seconds;
        Ok(self)
    }

    pub fn with_role(mut self, role: &str) -> Result<Self, InvalidMessage> {
        if !role.is_empty() && !crate::roles::is_known(role) {
            return Err(InvalidMessage::Role(role.to_string()));
        }
        self.role = role.to_string();
        Ok(self)
    }

    pub fn with_zone(mut self, zone: &str) -> Self {
        self.zone = zone.to_string();
        self
    }

    pub fn with_queue(mut self, queue_name: &str) -> Self {
        self.queue_name = queue_name.to_string();
        self
    }

    pub fn with_server(mut self, guid: &str) -> Self {
        self.server_guid = guid.to_string();
        self
    }

    pub fn with_task(mut self, task_id: &str) -> Self {
        self.task_id = task_id.to_string();
        self
    }

    pub fn with_instance(mut self, instance_id: i64) -> Self {
        self.instance_id = Some(instance_id);
        self
    }

    pub fn with_target(mut self, target_id: i64) -> Self {
        self.target_id = Some(target_id);
        self
    }

    pub fn deliver_on(mut self, at: NaiveDateTime) -> Self {
        self.deliver_on = Some(at);
        self
    }

    /// `Class.method`.
    pub fn command(&self) -> String {
        format!("{}.{}", self.class_name, self.method_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_message_has_the_seeds_defaults() {
        let m = NewMessage::new("Provider.refresh").expect("valid");
        assert_eq!(
            (m.class_name.as_str(), m.method_name.as_str()),
            ("Provider", "refresh")
        );
        assert_eq!(m.priority, priority::NORMAL);
        assert_eq!(m.queue_name, "generic");
        assert_eq!(m.msg_timeout, 600);
        assert_eq!(m.args, "[]");
    }

    #[test]
    fn bad_fields_are_refused() {
        assert!(NewMessage::new("refresh").is_err());
        assert!(NewMessage::new("A.b.c").is_err());
        let m = NewMessage::new("A.b").expect("valid");
        assert_eq!(
            m.clone().with_priority(201).err(),
            Some(InvalidMessage::Priority(201))
        );
        assert!(m.clone().with_args(&serde_json::json!(5)).is_err());
        assert!(m.clone().with_role("teleport").is_err());
        assert!(m.with_timeout_s(0).is_err());
    }
}
