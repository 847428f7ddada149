//! `steward settings check`: the effective settings as YAML, secrets masked.

use serde_json::{Map, Value, json};

use super::format_duration;
use super::format_size;
use super::load::Settings;

/// The effective settings as a JSON tree, with every secret masked.
pub fn masked_tree(s: &Settings) -> Value {
    let workers: Map<String, Value> = s
        .workers
        .iter()
        .map(|(kind, w)| {
            (
                kind.clone(),
                json!({
                    "count": w.count,
                    "memory_threshold": format_size(w.memory_threshold),
                    "heartbeat_timeout": format_duration(w.heartbeat_timeout),
                    "restart_interval": format_duration(w.restart_interval),
                }),
            )
        })
        .collect();
    let mut notifier = serde_json::to_value(&s.notifier).unwrap_or(Value::Null);
    let password = secrecy::ExposeSecret::expose_secret(&s.notifier.smtp_password);
    notifier["smtp_password"] = json!(if password.is_empty() { "" } else { "********" });
    json!({
        "server": s.server,
        "database": {
            "url": s.database.url.masked(),
            "pool_size": s.database.pool_size,
            "connect_timeout": format_duration(s.database.connect_timeout),
        },
        "roles": s.roles,
        "queue": s.queue,
        "ems_refresh": s.ems_refresh,
        "providers": s.providers,
        "metrics": s.metrics,
        "supervision": s.supervision,
        "workers": workers,
        "web": s.web,
        "api": s.api,
        "websocket": s.websocket,
        "events": s.events,
        "alerts": s.alerts,
        "notifier": notifier,
        "log": s.log,
    })
}

/// Renders the effective settings as YAML text.
pub fn render_masked(s: &Settings) -> String {
    let mut out = String::new();
    out.push_str("# effective settings, from: ");
    out.push_str(&s.layers.join(" → "));
    out.push('\n');
    write_yaml(&masked_tree(s), 0, &mut out);
    out
}

fn write_yaml(value: &Value, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match child {
                    Value::Object(m) if !m.is_empty() => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        write_yaml(child, indent + 1, out);
                    }
                    Value::Array(items) if !items.is_empty() => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        for item in items {
                            out.push_str(&format!("{pad}  - {}\n", scalar(item)));
                        }
                    }
                    Value::Array(_) => out.push_str(&format!("{pad}{key}: []\n")),
                    other => out.push_str(&format!("{pad}{key}: {}\n", scalar(other))),
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) if s.is_empty() => "\"\"".into(),
        Value::String(s)
            if s.contains(": ") || s.starts_with(['*', '&', '!', '[', '{', '#', '"']) =>
        {
            Value::String(s.clone()).to_string()
        }
        Value::String(s) => s.clone(),
        Value::Null => "~".into(),
        other => other.to_string(),
    }
}
