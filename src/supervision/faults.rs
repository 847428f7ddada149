//! Fault injection for tests and smoke checks: `Diagnostics.inject_fault` (enabled by
//! `queue.diagnostic_commands`) makes a named component of this node panic, so tests
//! can see it rebuilt. The node owns one [`FaultHooks`]; nothing else can trigger it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// One trigger per supervised component of a node.
#[derive(Clone, Default)]
pub struct FaultHooks {
    hooks: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
}

impl FaultHooks {
    /// The trigger of `component` (created on first use): the supervisor waits on it.
    pub(super) fn hook(&self, component: &str) -> Arc<Notify> {
        let mut hooks = self.hooks.lock().unwrap_or_else(|p| p.into_inner());
        hooks
            .entry(component.to_string())
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone()
    }

    /// Makes `component` panic once. Unknown names are refused with the known ones.
    pub fn inject(&self, component: &str) -> Result<(), String> {
        let hooks = self.hooks.lock().unwrap_or_else(|p| p.into_inner());
        match hooks.get(component) {
            Some(hook) => {
                hook.notify_one();
                Ok(())
            }
            None => {
                let mut known: Vec<&str> = hooks.keys().map(String::as_str).collect();
                known.sort_unstable();
                Err(format!(
                    "no component `{component}` on this node (known: {})",
                    known.join(", ")
                ))
            }
        }
    }
}
