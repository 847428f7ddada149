//! Whether a policy applies to an event.

use std::collections::{BTreeMap, BTreeSet};

use super::Policy;

/// What a policy's conditions look at: the event and the objects it concerns.
#[derive(Debug, Clone, Default)]
pub struct EventFacts {
    pub event_type: String,
    pub provider: String,
    pub project: String,
    pub node: String,
    /// Labels of the pod or node concerned.
    pub labels: BTreeMap<String, String>,
    /// `category/name` tags of the provider and of the object concerned.
    pub tags: BTreeSet<String>,
    pub severity: String,
    pub message: String,
}

fn event_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

pub(super) fn matches(p: &Policy, message: Option<&regex::Regex>, f: &EventFacts) -> bool {
    let c = &p.conditions;
    let same = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    p.events.iter().any(|e| event_matches(e, &f.event_type))
        && same(&c.provider, &f.provider)
        && same(&c.project, &f.project)
        && same(&c.node, &f.node)
        && same(&c.severity, &f.severity)
        && c.labels.iter().all(|(k, v)| f.labels.get(k) == Some(v))
        && c.tags.iter().all(|t| f.tags.contains(t))
        && message.is_none_or(|re| re.is_match(&f.message))
}

#[cfg(test)]
mod tests {
    use super::super::parse_policies;
    use super::*;

    fn facts() -> EventFacts {
        EventFacts {
            event_type: "POD_OOMKILLED".into(),
            provider: "prod".into(),
            project: "payments".into(),
            node: "node-1".into(),
            labels: [("app".to_string(), "web".to_string())].into(),
            tags: ["environment/prod".to_string()].into(),
            severity: "Warning".into(),
            message: "container web was OOM killed".into(),
        }
    }

    fn policy(conditions: &str) -> Policy {
        let text = format!(
            "policies:\n  - name: p\n    events: [POD_*]\n    conditions: {conditions}\n    actions: [{{refresh: target}}]\n"
        );
        parse_policies(&text, "t.yaml").expect("parsed").remove(0)
    }

    #[test]
    fn conditions_all_hold() {
        assert!(policy("{}").matches(&facts()));
        assert!(policy("{provider: prod, project: payments, node: node-1, labels: {app: web}, tags: [environment/prod], severity: Warning, message: 'OOM'}").matches(&facts()));
        for c in [
            "{provider: test}",
            "{project: other}",
            "{node: node-2}",
            "{labels: {app: db}}",
            "{tags: [environment/test]}",
            "{severity: Normal}",
            "{message: '^nothing'}",
        ] {
            assert!(!policy(c).matches(&facts()), "{c}");
        }
    }

    #[test]
    fn event_patterns() {
        assert!(event_matches("POD_*", "POD_KILLING"));
        assert!(event_matches("*", "NODE_READY"));
        assert!(event_matches("POD_KILLING", "POD_KILLING"));
        assert!(!event_matches("POD_KILLING", "POD_KILLINGS"));
        assert!(!event_matches("NODE_*", "POD_KILLING"));
        let mut f = facts();
        f.event_type = "NODE_READY".into();
        assert!(!policy("{}").matches(&f));
    }
}
