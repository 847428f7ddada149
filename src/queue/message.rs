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

/// Why a message cannot be put: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {reason}")]
pub struct InvalidMessage {
    /// The field as the API names it (`zone`, `task_id`, `args`, …).
    pub field: &'static str,
    pub reason: String,
}

impl InvalidMessage {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// Longest class or method name, zone, queue name.
const MAX_NAME: usize = 64;
/// Longest task id.
const MAX_TASK_ID: usize = 255;

/// Checks one routing field: length, then characters (a NUL byte is named as such,
/// since it is the classic way to break a database or a log line).
fn check_chars(
    field: &'static str,
    value: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
    described: &str,
) -> Result<(), InvalidMessage> {
    if value.contains('\0') {
        return Err(InvalidMessage::new(field, "contains a NUL byte"));
    }
    let len = value.chars().count();
    if len > max {
        return Err(InvalidMessage::new(
            field,
            format!("is {len} characters long; at most {max} are allowed"),
        ));
    }
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(InvalidMessage::new(
            field,
            format!("contains {bad:?}; it may only contain {described}"),
        ));
    }
    Ok(())
}

fn identifier(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Zone names: letters, digits, `_`, `.` and `-`, at most 64 (settings, messages and
/// providers share the rule).
pub fn check_zone_name(field: &'static str, zone: &str) -> Result<(), InvalidMessage> {
    check_chars(
        field,
        zone,
        MAX_NAME,
        |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'),
        "letters, digits, '_', '.' and '-'",
    )
}

impl NewMessage {
    /// A message for `Class.method`, with the defaults of the seed: priority NORMAL,
    /// queue `generic`, any zone/role/server, timeout 600 s, args `[]`.
    pub fn new(command: &str) -> Result<Self, InvalidMessage> {
        let (class_name, method_name) = command
            .split_once('.')
            .filter(|(c, m)| !c.is_empty() && !m.is_empty() && !m.contains('.'))
            .ok_or_else(|| InvalidMessage::new("command", "must be `Class.method`"))?;
        check_chars(
            "command",
            command,
            2 * MAX_NAME + 1,
            |c| identifier(c) || c == ':' || c == '.',
            "letters, digits, '_' and ':' around one '.'",
        )?;
        Ok(Self::internal_owned(class_name, method_name))
    }

    fn internal_owned(class_name: &str, method_name: &str) -> Self {
        Self {
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
            created_on: crate::clock::now(),
        }
    }

    /// Checks every routing field, so that no message the database or a claim would
    /// choke on is ever put: length limits, character sets, no NUL bytes, a known
    /// role, a guid for the server, JSON args at most `max_args_bytes` long. The put
    /// functions call it; the API and CLI call it to answer early.
    pub fn validate(&self, max_args_bytes: usize) -> Result<(), InvalidMessage> {
        check_chars(
            "command",
            &self.class_name,
            MAX_NAME,
            |c| identifier(c) || c == ':',
            "letters, digits, '_' and ':'",
        )?;
        check_chars(
            "command",
            &self.method_name,
            MAX_NAME,
            identifier,
            "letters, digits and '_'",
        )?;
        check_zone_name("zone", &self.zone)?;
        if !self.role.is_empty() && !crate::roles::is_known(&self.role) {
            check_chars(
                "role",
                &self.role,
                MAX_NAME,
                identifier,
                "letters, digits and '_'",
            )?;
            return Err(InvalidMessage::new(
                "role",
                format!("`{}` is not a server role", self.role),
            ));
        }
        if self.queue_name.is_empty() {
            return Err(InvalidMessage::new("queue_name", "must not be empty"));
        }
        check_chars(
            "queue_name",
            &self.queue_name,
            MAX_NAME,
            |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'),
            "letters, digits, '_', '.', ':' and '-'",
        )?;
        check_chars(
            "server_guid",
            &self.server_guid,
            36,
            |c| c.is_ascii_hexdigit() || c == '-',
            "a guid's hex digits and '-'",
        )?;
        if !self.server_guid.is_empty() && uuid::Uuid::parse_str(&self.server_guid).is_err() {
            return Err(InvalidMessage::new("server_guid", "is not a server guid"));
        }
        check_chars(
            "task_id",
            &self.task_id,
            MAX_TASK_ID,
            |c| c.is_ascii_graphic(),
            "printable ASCII without spaces",
        )?;
        for (field, id) in [
            ("instance_id", self.instance_id),
            ("target_id", self.target_id),
        ] {
            if id.is_some_and(|i| i < 0) {
                return Err(InvalidMessage::new(field, "must not be negative"));
            }
        }
        if !(priority::MAX..=priority::MIN).contains(&self.priority) {
            return Err(InvalidMessage::new(
                "priority",
                format!("{} is out of range 0-200", self.priority),
            ));
        }
        if !(1..=86_400).contains(&self.msg_timeout) {
            return Err(InvalidMessage::new(
                "msg_timeout",
                format!("{} must be between 1 and 86400 seconds", self.msg_timeout),
            ));
        }
        if self.args.len() > max_args_bytes {
            return Err(InvalidMessage::new(
                "args",
                format!(
                    "is {} bytes of JSON; at most {max_args_bytes} are allowed (queue.max_args_bytes)",
                    self.args.len()
                ),
            ));
        }
        Ok(())
    }

    /// A message for a command Steward itself defines (`class`.`method` are constants
    /// of the code; the put still validates the whole message).
    pub fn internal(class: &'static str, method: &'static str) -> Self {
        Self::internal_owned(class, method)
    }

    /// The timeout, clamped to what a message may have (1 s to 1 day).
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.msg_timeout = timeout.as_secs().clamp(1, 86_400) as i32;
        self
    }

    pub fn with_args(mut self, args: &serde_json::Value) -> Result<Self, InvalidMessage> {
        if !(args.is_array() || args.is_object()) {
            return Err(InvalidMessage::new(
                "args",
                "must be a JSON array or object",
            ));
        }
        self.args = args.to_string();
        Ok(self)
    }

    pub fn with_priority(mut self, priority: i32) -> Result<Self, InvalidMessage> {
        if !(priority::MAX..=priority::MIN).contains(&priority) {
            return Err(InvalidMessage::new(
                "priority",
                format!("{priority} is out of range 0-200"),
            ));
        }
        self.priority = priority;
        Ok(self)
    }

    pub fn with_timeout_s(mut self, seconds: i32) -> Result<Self, InvalidMessage> {
        if !(1..=86_400).contains(&seconds) {
            return Err(InvalidMessage::new(
                "msg_timeout",
                format!("{seconds} must be between 1 and 86400 seconds"),
            ));
        }
        self.msg_timeout = seconds;
        Ok(self)
    }

    pub fn with_role(mut self, role: &str) -> Result<Self, InvalidMessage> {
        if !role.is_empty() && !crate::roles::is_known(role) {
            return Err(InvalidMessage::new(
                "role",
                format!("`{}` is not a server role", crate::text::elide(role, 64)),
            ));
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
            m.clone().with_priority(201).err().map(|e| e.field),
            Some("priority")
        );
        assert!(m.clone().with_args(&serde_json::json!(5)).is_err());
        assert!(m.clone().with_role("teleport").is_err());
        assert!(m.with_timeout_s(0).is_err());
    }

    fn field_of(m: NewMessage) -> Option<&'static str> {
        m.validate(1024).err().map(|e| e.field)
    }

    #[test]
    fn routing_fields_are_bounded_and_named_when_wrong() {
        let m = || NewMessage::new("A.b").expect("valid");
        assert_eq!(field_of(m()), None);
        assert_eq!(field_of(m().with_task(&"x".repeat(4096))), Some("task_id"));
        assert_eq!(field_of(m().with_task("a b")), Some("task_id"));
        assert_eq!(field_of(m().with_zone("east\0")), Some("zone"));
        assert_eq!(field_of(m().with_queue("q\0")), Some("queue_name"));
        assert_eq!(field_of(m().with_queue("")), Some("queue_name"));
        assert_eq!(field_of(m().with_server("not-a-guid")), Some("server_guid"));
        assert_eq!(field_of(m().with_instance(-1)), Some("instance_id"));
        let big = serde_json::json!({"x": "y".repeat(2000)});
        assert_eq!(field_of(m().with_args(&big).expect("object")), Some("args"));
        let guid = uuid::Uuid::new_v4().to_string();
        assert_eq!(
            field_of(m().with_server(&guid).with_task("refresh-provider-7")),
            None
        );
        let nul = m().with_task("t\0").validate(1024).expect_err("NUL");
        assert!(nul.to_string().contains("NUL byte"), "{nul}");
        assert!(NewMessage::new("A.b\0").is_err());
        assert!(NewMessage::new(&format!("A.{}", "b".repeat(200))).is_err());
    }
}
