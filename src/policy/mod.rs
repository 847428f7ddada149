//! Event policies (the seed's event switchboard and control policies): an event type
//! and optional conditions → actions. Read at start from the built-in defaults
//! (`settings/policies.yaml`) and the node's policy folder (`events.policy_dir`); a
//! malformed file stops the start with one line naming the file and the line, and
//! `steward settings check` validates them too.

mod matcher;
mod yaml;

pub use matcher::EventFacts;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The built-in policies.
pub const DEFAULT_POLICIES: &str = include_str!("../../settings/policies.yaml");
/// Where the built-in policies are said to come from.
pub const DEFAULTS_ORIGIN: &str = "built-in settings/policies.yaml";

/// Largest policy file read.
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most policies a node holds.
const MAX_POLICIES: usize = 1_000;
/// Longest message pattern, and the compiled size it may reach.
const MAX_PATTERN: usize = 1_024;
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// What happens when a policy matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// A targeted refresh of the object the event concerns (`target`).
    Refresh(RefreshScope),
    Alert(AlertAction),
    Webhook(WebhookAction),
    Email(EmailAction),
    Automate(AutomateAction),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshScope {
    /// The object the event concerns.
    Target,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertAction {
    /// `error`, `warning` or `info`.
    #[serde(default = "warning")]
    pub severity: String,
    /// Shown with the alert; `{event_type}`, `{provider}`, `{project}`, `{pod}`,
    /// `{node}`, `{container}` and `{message}` are filled in.
    #[serde(default)]
    pub description: String,
    /// A page describing what to do about it.
    #[serde(default)]
    pub url: String,
}

fn warning() -> String {
    "warning".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookAction {
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailAction {
    pub to: Vec<String>,
    #[serde(default)]
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomateAction {
    pub name: String,
    #[serde(default)]
    pub args: BTreeMap<String, String>,
}

/// Conditions; every one given must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// A regular expression the message must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One policy as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "yes")]
    enabled: bool,
    events: Vec<String>,
    #[serde(default)]
    conditions: Conditions,
    actions: Vec<Action>,
}

fn yes() -> bool {
    true
}

/// A policy, checked.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub events: Vec<String>,
    pub conditions: Conditions,
    pub actions: Vec<Action>,
    /// `file:line` it was read from.
    pub source: String,
    #[serde(skip)]
    message: Option<regex::Regex>,
}

/// Why a policy file is refused: its file, line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct PolicyError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// The policies a node runs with.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PolicySet {
    pub policies: Vec<Policy>,
    /// The files they were read from.
    pub files: Vec<String>,
}

fn check_event_pattern(p: &str) -> Result<(), String> {
    let body = p.strip_suffix('*').unwrap_or(p);
    let ok = p.len() <= 64
        && (p == "*" || !body.is_empty())
        && body
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "event `{}` must be an event type in capitals (POD_KILLING), optionally ending in * (POD_*)",
            crate::text::elide(p, 64)
        ))
    }
}

fn check_action(a: &Action) -> Result<(), String> {
    match a {
        Action::Refresh(_) => Ok(()),
        Action::Alert(alert) => {
            if !["error", "warning", "info"].contains(&alert.severity.as_str()) {
                return Err(format!(
                    "alert severity `{}` must be error, warning or info",
                    crate::text::elide(&alert.severity, 32)
                ));
            }
            if alert.description.len() > 1024 || alert.url.len() > 2048 {
                return Err("alert description (1 KiB) or url (2 KiB) too long".into());
            }
            Ok(())
        }
        Action::Webhook(w) => {
            let url = url::Url::parse(&w.url).map_err(|e| format!("webhook url: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err("webhook url must be http(s)://host/…".into());
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err("webhook url must not carry credentials".into());
            }
            Ok(())
        }
        Action::Email(e) => {
            if e.to.is_empty() || e.to.len() > 50 {
                return Err("email needs 1 to 50 recipients in `to`".into());
            }
            for to in &e.to {
                to.parse::<lettre::Address>().map_err(|err| {
                    format!("email recipient `{}`: {err}", crate::text::elide(to, 64))
                })?;
            }
            if e.subject.len() > 256 {
                return Err("email subject longer than 256 bytes".into());
            }
            Ok(())
        }
        Action::Automate(a) => {
            if a.name.is_empty() || a.name.len() > 128 || a.args.len() > 32 {
                return Err("automate needs a name (up to 128 bytes) and at most 32 args".into());
            }
            Ok(())
        }
    }
}

fn check(raw: RawPolicy, source: String) -> Result<Policy, String> {
    let name_ok = !raw.name.is_empty()
        && raw.name.len() <= 64
        && raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(format!(
            "policy name `{}` must be 1-64 letters, digits, - or _",
            crate::text::elide(&raw.name, 64)
        ));
    }
    if raw.events.is_empty() || raw.events.len() > 100 {
        return Err(format!("policy `{}` needs 1 to 100 events", raw.name));
    }
    raw.events.iter().try_for_each(|e| check_event_pattern(e))?;
    if raw.actions.is_empty() || raw.actions.len() > 20 {
        return Err(format!("policy `{}` needs 1 to 20 actions", raw.name));
    }
    raw.actions.iter().try_for_each(check_action)?;
    if raw.description.len() > 1024 {
        return Err("description longer than 1 KiB".into());
    }
    let c = &raw.conditions;
    if c.labels.len() > 32 || c.tags.len() > 32 {
        return Err("at most 32 labels and 32 tags in conditions".into());
    }
    for tag in &c.tags {
        if tag
            .split_once('/')
            .is_none_or(|(a, b)| a.is_empty() || b.is_empty())
        {
            return Err(format!(
                "tag `{}` must be category/name",
                crate::text::elide(tag, 64)
            ));
        }
    }
    let message = match &c.message {
        None => None,
        Some(p) if p.len() > MAX_PATTERN => {
            return Err(format!("message pattern longer than {MAX_PATTERN} bytes"));
        }
        Some(p) => Some(
            regex::RegexBuilder::new(p)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| format!("message pattern: {e}"))?,
        ),
    };
    Ok(Policy {
        name: raw.name,
        description: raw.description,
        enabled: raw.enabled,
        events: raw.events,
        conditions: raw.conditions,
        actions: raw.actions,
        source,
        message,
    })
}

/// The policies of one file's `text`.
pub fn parse_policies(text: &str, file: &str) -> Result<Vec<Policy>, PolicyError> {
    let error = |line: usize, reason: String| PolicyError {
        file: file.to_string(),
        line,
        reason,
    };
    let marked = yaml::parse(text).map_err(|(line, why)| error(line, why))?;
    let serde_json::Value::Object(top) = &marked.value else {
        return Err(error(1, "expected a mapping with `policies:`".into()));
    };
    if let Some(key) = top.keys().find(|k| *k != "policies") {
        return Err(error(
            1,
            format!("unknown key `{key}` (expected `policies`)"),
        ));
    }
    let items = match top.get("policies") {
        Some(serde_json::Value::Array(items)) => items,
        Some(serde_json::Value::Null) | None => return Ok(Vec::new()),
        Some(_) => return Err(error(1, "`policies` must be a list".into())),
    };
    let lines = marked
        .item_lines
        .get("policies")
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let line = lines.get(i).copied().unwrap_or(1);
        let raw: RawPolicy = serde_json::from_value(item.clone())
            .map_err(|e| error(line, format!("policy {}: {e}", i + 1)))?;
        out.push(check(raw, format!("{file}:{line}")).map_err(|why| error(line, why))?);
    }
    Ok(out)
}

impl PolicySet {
    /// The built-in policies (when `defaults`) and every `*.yaml`/`*.yml` file of
    /// `dir` (when it exists), in file name order; names must be unique.
    pub fn load(defaults: bool, dir: Option<&Path>) -> Result<Self, PolicyError> {
        let mut set = PolicySet::default();
        if defaults {
            set.policies
                .extend(parse_policies(DEFAULT_POLICIES, DEFAULTS_ORIGIN)?);
            set.files.push(DEFAULTS_ORIGIN.into());
        }
        if let Some(dir) = dir.filter(|d| d.is_dir()) {
            let unreadable = |reason: String| PolicyError {
                file: dir.display().to_string(),
                line: 0,
                reason,
            };
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| unreadable(e.to_string()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            files.sort();
            for path in files {
                let name = path.display().to_string();
                let refuse = |reason: String| PolicyError {
                    file: name.clone(),
                    line: 0,
                    reason,
                };
                let size = std::fs::metadata(&path)
                    .map_err(|e| refuse(e.to_string()))?
                    .len();
                if size > MAX_FILE_BYTES {
                    return Err(refuse(format!("larger than {MAX_FILE_BYTES} bytes")));
                }
                let text = std::fs::read_to_string(&path).map_err(|e| refuse(e.to_string()))?;
                set.policies.extend(parse_policies(&text, &name)?);
                set.files.push(name);
            }
        }
        if set.policies.len() > MAX_POLICIES {
            return Err(PolicyError {
                file: set.files.last().cloned().unwrap_or_default(),
                line: 0,
                reason: format!("more than {MAX_POLICIES} policies"),
            });
        }
        let mut names = BTreeSet::new();
        for p in &set.policies {
            if !names.insert(p.name.clone()) {
                let (file, line) = p.source.rsplit_once(':').unwrap_or((&p.source, "0"));
                return Err(PolicyError {
                    file: file.to_string(),
                    line: line.parse().unwrap_or(0),
                    reason: format!("a policy named `{}` exists already", p.name),
                });
            }
        }
        Ok(set)
    }

    /// The enabled policies that match `facts`.
    pub fn matching<'a>(&'a self, facts: &'a EventFacts) -> impl Iterator<Item = &'a Policy> + 'a {
        self.policies
            .iter()
            .filter(move |p| p.enabled && p.matches(facts))
    }
}

impl Policy {
    /// Whether this policy applies to the event `facts` describe.
    pub fn matches(&self, facts: &EventFacts) -> bool {
        matcher::matches(self, self.message.as_ref(), facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_parse() {
        let set = PolicySet::load(true, None).expect("defaults");
        assert_eq!(set.policies.len(), 3);
        assert!(set.policies[0].source.starts_with(DEFAULTS_ORIGIN));
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let text = "policies:\n  - name: ok\n    events: [POD_KILLING]\n    actions: [{refresh: target}]\n  - name: bad\n    events: [POD_KILLING]\n    actions: [{explode: now}]\n";
        let e = parse_policies(text, "p.yaml").expect_err("bad action");
        assert_eq!((e.file.as_str(), e.line), ("p.yaml", 5), "{e}");
        assert!(e.reason.contains("explode"), "{e}");
        let e = parse_policies(
            "policies:\n  - name: x\n    events: [pod_killing]\n    actions: [{refresh: target}]\n",
            "q.yaml",
        )
        .expect_err("lower case");
        assert_eq!(e.line, 2);
        let e = parse_policies("policies: [\n", "r.yaml").expect_err("syntax");
        assert!(e.line >= 1 && e.file == "r.yaml");
        let e = parse_policies("policies:\n  - name: w\n    events: [NODE_*]\n    actions:\n      - webhook: {url: 'ftp://x'}\n", "s.yaml").expect_err("url");
        assert!(e.reason.contains("http"), "{e}");
        let e = parse_policies("policies:\n  - name: m\n    events: [NODE_*]\n    conditions: {message: '('}\n    actions: [{refresh: target}]\n", "t.yaml").expect_err("regex");
        assert!(e.reason.contains("message pattern"), "{e}");
    }

    #[test]
    fn every_action_form_reads() {
        let text = r#"policies:
  - name: all
    events: ["*"]
    conditions:
      provider: prod
      labels: {app: web}
      tags: [environment/prod]
      message: "OOM|memory"
    actions:
      - refresh: target
      - alert: {severity: error, description: "d", url: "https://sop"}
      - webhook: {url: "https://hooks.example.com/x"}
      - email: {to: [ops@example.com], subject: s}
      - automate: {name: restart, args: {a: b}}
"#;
        let p = &parse_policies(text, "a.yaml").expect("parsed")[0];
        assert_eq!(p.actions.len(), 5);
        assert_eq!(p.conditions.labels["app"], "web");
    }

    #[test]
    fn duplicate_names_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join("a.yaml"),
            "policies:\n  - name: refresh-on-pod-events\n    events: [POD_*]\n    actions: [{refresh: target}]\n",
        )
        .expect("write");
        let e = PolicySet::load(true, Some(dir.path())).expect_err("twice");
        assert!(e.reason.contains("exists already"), "{e}");
        assert!(e.file.ends_with("a.yaml"), "{e}");
    }
}
