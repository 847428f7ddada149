//! The command → handler table.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::context::{HandlerContext, HandlerError, Outcome};

type BoxedHandler = Arc<
    dyn Fn(
            HandlerContext,
            serde_json::Value,
        ) -> LocalBoxFuture<'static, Result<Outcome, HandlerError>>
        + Send
        + Sync,
>;

/// Maps `Class.method` to a typed handler.
#[derive(Default, Clone)]
pub struct HandlerRegistry {
    handlers: HashMap<String, BoxedHandler>,
}

impl HandlerRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` for `command`; its args are parsed from the message's JSON
    /// into `A` (a struct for a JSON object, a tuple for an array).
    pub fn register<A, F, Fut>(&mut self, command: &str, handler: F)
    where
        A: DeserializeOwned + 'static,
        F: Fn(HandlerContext, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Outcome, HandlerError>> + 'static,
    {
        let command_name = command.to_string();
        let handler = Arc::new(handler);
        self.handlers.insert(
            command.to_string(),
            Arc::new(move |ctx, raw| {
                let parsed = serde_json::from_value::<A>(raw);
                let command_name = command_name.clone();
                let handler = handler.clone();
                Box::pin(async move {
                    let args = parsed.map_err(|e| {
                        HandlerError::Failed(format!("bad args for {command_name}: {e}"))
                    })?;
                    handler(ctx, args).await
                })
            }),
        );
    }

    /// Runs the handler for the context's message.
    pub fn dispatch(
        &self,
        ctx: HandlerContext,
    ) -> LocalBoxFuture<'static, Result<Outcome, HandlerError>> {
        let command = ctx.message.command();
        let Some(handler) = self.handlers.get(&command).cloned() else {
            return Box::pin(async move {
                Err(HandlerError::Failed(format!("unknown command {command}")))
            });
        };
        let raw = match serde_json::from_str::<serde_json::Value>(&ctx.message.args) {
            Ok(v) => v,
            Err(e) => {
                return Box::pin(async move {
                    Err(HandlerError::Failed(format!(
                        "args of {command} are not JSON: {e}"
                    )))
                });
            }
        };
        handler(ctx, raw)
    }

    /// Whether `command` has a handler.
    pub fn knows(&self, command: &str) -> bool {
        self.handlers.contains_key(command)
    }

    /// Registered commands, sorted.
    pub fn commands(&self) -> Vec<String> {
        let mut names: Vec<String> = self.handlers.keys().cloned().collect();
        names.sort();
        names
    }
}
