//! Typed reads from the merged settings tree. Each read knows its key, so every
//! error says which key is wrong and which file (or environment variable) set it.

use std::time::Duration;

use config::{Map, Value, ValueKind};

use super::error::SettingsError;
use super::human::{parse_duration, parse_size};

/// Where the built-in defaults come from, for error messages.
pub const DEFAULTS_ORIGIN: &str = "settings/default.yaml (built in)";

/// Names the source of a value: a file path, an environment variable, or the defaults.
/// `file` is the settings file as the user named it: config records files relative to
/// the working directory, which is not what the user typed.
pub fn describe_origin(key: &str, value: &Value, file: Option<&str>) -> String {
    match value.origin() {
        None => DEFAULTS_ORIGIN.to_string(),
        Some("the environment") => {
            format!("environment variable {}", env_var_for(key))
        }
        Some(origin) => file.unwrap_or(origin).to_string(),
    }
}

/// The environment variable that overrides `key` (`web.port` → `STEWARD__WEB__PORT`).
pub fn env_var_for(key: &str) -> String {
    format!("STEWARD__{}", key.replace('.', "__").to_ascii_uppercase())
}

/// Reads typed values out of the merged settings tree (which keeps, per value, the
/// file or variable it came from).
pub struct Reader<'a> {
    tree: &'a Map<String, Value>,
    file: Option<String>,
}

impl<'a> Reader<'a> {
    pub fn new(tree: &'a Map<String, Value>, file: Option<String>) -> Self {
        Self { tree, file }
    }

    fn value(&self, key: &str) -> Result<Value, SettingsError> {
        let mut parts = key.split('.');
        let first = parts.next().unwrap_or_default();
        let mut current = self.tree.get(first);
        for part in parts {
            current = match current.map(|v| &v.kind) {
                Some(ValueKind::Table(t)) => t.get(part),
                _ => None,
            };
        }
        current.cloned().ok_or_else(|| SettingsError::Invalid {
            key: key.to_string(),
            reason: "is missing".into(),
            origin: DEFAULTS_ORIGIN.into(),
        })
    }

    fn invalid(&self, key: &str, value: &Value, reason: impl Into<String>) -> SettingsError {
        SettingsError::Invalid {
            key: key.to_string(),
            reason: reason.into(),
            origin: describe_origin(key, value, self.file.as_deref()),
        }
    }

    /// Runs `check` on the parsed value and reports its error against `key`.
    pub fn check<T>(
        &self,
        key: &str,
        parsed: T,
        check: impl FnOnce(&T) -> Result<(), String>,
    ) -> Result<T, SettingsError> {
        match check(&parsed) {
            Ok(()) => Ok(parsed),
            Err(reason) => Err(self.invalid(key, &self.value(key)?, reason)),
        }
    }

    /// A scalar rendered as text (numbers and booleans are accepted as their text).
    pub fn string(&self, key: &str) -> Result<String, SettingsError> {
        let value = self.value(key)?;
        match &value.kind {
            ValueKind::String(s) => Ok(s.clone()),
            ValueKind::I64(_)
            | ValueKind::I128(_)
            | ValueKind::U64(_)
            | ValueKind::U128(_)
            | ValueKind::Float(_)
            | ValueKind::Boolean(_) => Ok(value.to_string()),
            ValueKind::Nil => Ok(String::new()),
            other => Err(self.invalid(
                key,
                &value,
                format!("expected text, found {}", kind_name(other)),
            )),
        }
    }

    /// An integer within `min..=max`.
    pub fn int_in(&self, key: &str, min: i64, max: i64) -> Result<i64, SettingsError> {
        let value = self.value(key)?;
        let n = match &value.kind {
            ValueKind::I64(n) => *n,
            ValueKind::U64(n) => i64::try_from(*n).unwrap_or(i64::MAX),
            ValueKind::String(s) => s.trim().parse::<i64>().map_err(|_| {
                self.invalid(key, &value, format!("expected an integer, found `{s}`"))
            })?,
            other => {
                return Err(self.invalid(
                    key,
                    &value,
                    format!("expected an integer, found {}", kind_name(other)),
                ));
            }
        };
        if n < min || n > max {
            return Err(self.invalid(key, &value, format!("{n} is out of range {min}-{max}")));
        }
        Ok(n)
    }

    /// A human duration (`10s`, `5m`), at least `min`.
    pub fn duration(&self, key: &str, min: Duration) -> Result<Duration, SettingsError> {
        let value = self.value(key)?;
        let text = match &value.kind {
            ValueKind::String(s) => s.clone(),
            ValueKind::I64(_) | ValueKind::U64(_) => value.to_string(),
            other => {
                return Err(self.invalid(
                    key,
                    &value,
                    format!(
                        "expected a duration such as `10s`, found {}",
                        kind_name(other)
                    ),
                ));
            }
        };
        let d = parse_duration(&text).map_err(|e| self.invalid(key, &value, e))?;
        if d < min {
            return Err(self.invalid(
                key,
                &value,
                format!(
                    "`{text}` is shorter than the minimum {}",
                    super::format_duration(min)
                ),
            ));
        }
        Ok(d)
    }

    /// A boolean (`true`/`false`, also `yes`/`no`, `on`/`off`, `1`/`0`).
    pub fn boolean(&self, key: &str) -> Result<bool, SettingsError> {
        let value = self.value(key)?;
        match &value.kind {
            ValueKind::Boolean(b) => Ok(*b),
            ValueKind::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok(true),
                "false" | "no" | "off" | "0" => Ok(false),
                _ => Err(self.invalid(key, &value, format!("expected true or false, found `{s}`"))),
            },
            ValueKind::I64(0) => Ok(false),
            ValueKind::I64(1) => Ok(true),
            other => Err(self.invalid(
                key,
                &value,
                format!("expected true or false, found {}", kind_name(other)),
            )),
        }
    }

    /// A human size in bytes (`512MiB`).
    pub fn size(&self, key: &str) -> Result<u64, SettingsError> {
        let text = self.string(key)?;
        parse_size(&text).map_err(|e| self.invalid(key, &self.value_or_nil(key), e))
    }

    /// One of a fixed set of words.
    pub fn one_of(&self, key: &str, allowed: &[&str]) -> Result<String, SettingsError> {
        let text = self.string(key)?.trim().to_ascii_lowercase();
        if allowed.contains(&text.as_str()) {
            Ok(text)
        } else {
            Err(self.invalid(
                key,
                &self.value_or_nil(key),
                format!("`{text}` is not one of: {}", allowed.join(", ")),
            ))
        }
    }

    /// A list of words (a YAML list, or a comma-separated string from the environment).
    pub fn string_list(&self, key: &str) -> Result<Vec<String>, SettingsError> {
        let value = self.value(key)?;
        match &value.kind {
            ValueKind::Array(items) => items
                .iter()
                .map(|item| match &item.kind {
                    ValueKind::String(s) => Ok(s.trim().to_string()),
                    other => Err(self.invalid(
                        key,
                        &value,
                        format!("expected a list of names, found {} in it", kind_name(other)),
                    )),
                })
                .collect(),
            ValueKind::String(s) => Ok(s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()),
            ValueKind::Nil => Ok(Vec::new()),
            other => Err(self.invalid(
                key,
                &value,
                format!("expected a list, found {}", kind_name(other)),
            )),
        }
    }

    /// Fails with `reason` for `key`, naming where its value came from.
    pub fn reject(&self, key: &str, reason: impl Into<String>) -> SettingsError {
        self.invalid(key, &self.value_or_nil(key), reason)
    }

    fn value_or_nil(&self, key: &str) -> Value {
        self.value(key)
            .unwrap_or_else(|_| Value::new(None, ValueKind::Nil))
    }
}

/// A word for the kind of a value, for "expected X, found Y" messages.
pub fn kind_name(kind: &ValueKind) -> &'static str {
    match kind {
        ValueKind::Nil => "nothing",
        ValueKind::Boolean(_) => "a boolean",
        ValueKind::I64(_) | ValueKind::I128(_) | ValueKind::U64(_) | ValueKind::U128(_) => {
            "a number"
        }
        ValueKind::Float(_) => "a number",
        ValueKind::String(_) => "text",
        ValueKind::Table(_) => "a table",
        ValueKind::Array(_) => "a list",
    }
}
