//! One websocket client of the live feed (`GET /ws`): the conversation after the
//! handshake. The client was authenticated before the upgrade; what it may subscribe
//! to follows its features.
//!
//! Messages are JSON text frames. The server starts with `hello` (its epoch, the last
//! sequence number, the topics this user may have); the client sends
//! `{"type": "subscribe", "topics": [...], "collections": [...]?, "since": {"epoch": E,
//! "seq": N}?}` (`collections`: inventory collections wanted on the `inventory` topic,
//! all when absent) and gets
//! `subscribed` (with `gap: true` when what it missed is no longer held), then the held
//! events after `since`, then `event`s as they happen. A client that falls more than
//! `websocket.client_buffer` events behind gets `dropped` and the connection closes. The
//! server pings every `websocket.ping_interval` and closes a connection that sent
//! nothing for three intervals.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::hub::{Audience, Hub, Position, Reach, Subscription, Topic, Visible};
use bytes::Bytes;

use super::transport::{CloseCode, CloseReason, Incoming, Transport, Utf8Bytes};
use crate::auth::Feature;

/// Largest message a client may send (they are small commands).
pub const MAX_CLIENT_MESSAGE: usize = 16 * 1024;

/// How a connection behaves.
#[derive(Debug, Clone, Copy)]
pub struct SocketConfig {
    pub ping_interval: Duration,
    /// How often the caller's rights are checked again (at the next ping after it).
    pub recheck_interval: Duration,
    pub client_buffer: usize,
}

/// What a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    Subscribe {
        topics: Vec<String>,
        /// Inventory collections wanted (`inventory` topic only; absent: all).
        #[serde(default)]
        collections: Option<Vec<String>>,
        #[serde(default)]
        since: Option<Position>,
    },
}

/// The collections the `inventory` topic speaks of (the API's collection names).
pub const INVENTORY_COLLECTIONS: [&str; 8] = [
    "container_projects",
    "container_nodes",
    "container_image_registries",
    "container_images",
    "container_replicators",
    "container_services",
    "container_groups",
    "containers",
];

/// What the caller may have now: its features, the providers it may see, and the
/// restriction on the inventory objects it may read.
pub struct Rights {
    pub features: BTreeSet<Feature>,
    pub visible: Visible,
    pub audience: Audience,
}

impl Rights {
    fn reach(&self) -> Reach {
        Reach {
            visible: self.visible.clone(),
            audience: self.audience.clone(),
        }
    }
}

/// The caller's rights now, or why the caller may no longer listen.
pub type Recheck = futures::future::LocalBoxFuture<'static, Result<Rights, String>>;

fn allowed_by(features: &BTreeSet<Feature>) -> Vec<Topic> {
    Topic::ALL
        .into_iter()
        .filter(|t| features.contains(&t.feature()))
        .collect()
}

/// What one turn of the conversation leads to, once its texts are sent.
enum Step {
    /// Wait for what comes next.
    Go,
    /// Answer the client's ping.
    Pong(Bytes),
    /// Ping the client.
    Ping,
    /// Check the caller's rights again, then ping.
    Recheck,
    /// Close the connection (with this reason).
    End(Option<CloseReason>),
}

/// Runs the conversation until either side ends it, or `stop` resolves (the server is
/// stopping: the client is told so with a close, 1001). `recheck` is asked at the first
/// ping after every `recheck_interval` whether the caller may still listen (its token
/// revoked, its user removed, a topic's feature taken away: the connection ends).
///
/// Each turn waits for one thing (the client, the hub, the ping timer, the stop), works
/// out what to send, then sends it at one place: an idle connection's task is this
/// future, and every await point of its own would make every connection's task larger.
pub async fn converse(
    mut socket: impl Transport,
    hub: Arc<Hub>,
    rights: Rights,
    config: SocketConfig,
    recheck: impl Fn() -> Recheck,
    stop: impl Future<Output = ()>,
) {
    let mut stop = std::pin::pin!(stop);
    let mut allowed = allowed_by(&rights.features);
    let mut reach = rights.reach();
    drop(rights);
    let mut listening: Vec<Topic> = Vec::new();
    let hello = json!({
        "type": "hello",
        "epoch": hub.epoch(),
        "topics": allowed.iter().map(|t| t.name()).collect::<Vec<_>>(),
        "ping_interval_s": config.ping_interval.as_secs_f64(),
    })
    .to_string();
    let mut out: Vec<Utf8Bytes> = vec![hello.into()];
    let mut subscription: Option<Subscription> = None;
    let mut last_heard = Instant::now();
    let mut last_checked = Instant::now();
    let mut ping =
        tokio::time::interval_at(Instant::now() + config.ping_interval, config.ping_interval);
    let mut step = Step::Go;
    let why: Option<CloseReason> = loop {
        for text in out.drain(..) {
            if socket.send_text(text).await.is_err() {
                return;
            }
        }
        match std::mem::replace(&mut step, Step::Go) {
            Step::Go | Step::Recheck => {}
            Step::End(why) => break why,
            Step::Pong(bytes) => {
                if socket.pong(bytes).await.is_err() {
                    return;
                }
            }
            Step::Ping => {
                if socket.ping(b"steward").await.is_err() {
                    return;
                }
            }
        }
        step = tokio::select! {
            incoming = socket.recv() => {
                last_heard = Instant::now();
                match incoming {
                    None | Some(Ok(Incoming::Close)) => Step::End(None),
                    Some(Err(error)) => {
                        Step::End(Some(close(CloseCode::Protocol, &format!("protocol error: {error}"))))
                    }
                    Some(Ok(Incoming::Ping(bytes))) => Step::Pong(bytes),
                    Some(Ok(Incoming::Pong)) => Step::Go,
                    Some(Ok(Incoming::Binary)) => {
                        out.push(error_text("binary messages are not understood; send JSON text"));
                        Step::Go
                    }
                    Some(Ok(Incoming::Text(text))) => {
                        match answer(text.as_str(), &hub, &allowed, &reach) {
                            Ok((mut sub, topics)) => {
                                let reply = json!({
                                    "type": "subscribed",
                                    "topics": topics.iter().map(|t| t.name()).collect::<Vec<_>>(),
                                    "epoch": sub.epoch,
                                    "seq": sub.seq,
                                    "gap": sub.gap,
                                });
                                out.push(reply.to_string().into());
                                out.extend(sub.backlog.drain(..).map(|e| e.text.clone()));
                                subscription = Some(sub);
                                listening = topics;
                            }
                            Err(message) => out.push(error_text(&message)),
                        }
                        Step::Go
                    }
                }
            }
            event = next_event(&mut subscription) => match event {
                Some(event) => {
                    out.push(event.text.clone());
                    Step::Go
                }
                None => {
                    let overflowed = subscription
                        .as_ref()
                        .is_some_and(|s| s.overflowed.load(Ordering::Acquire));
                    let reason = if overflowed {
                        format!(
                            "the client fell more than {} messages behind; reconnect and resume from the last sequence number received",
                            config.client_buffer
                        )
                    } else {
                        "the server is stopping".to_string()
                    };
                    out.push(json!({"type": "dropped", "reason": reason}).to_string().into());
                    Step::End(Some(close(CloseCode::Policy, "dropped")))
                }
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > config.ping_interval * 3 {
                    Step::End(Some(close(CloseCode::Away, "no answer to pings")))
                } else if last_checked.elapsed() < config.recheck_interval {
                    Step::Ping
                } else {
                    last_checked = Instant::now();
                    Step::Recheck
                }
            }
            () = &mut stop => Step::End(Some(close(CloseCode::Away, "the server is stopping"))),
        };
        if let Step::Recheck = step {
            step = match recheck().await {
                Ok(now) => {
                    allowed = allowed_by(&now.features);
                    reach = now.reach();
                    if let Some(sub) = &subscription {
                        sub.set_visible(reach.clone());
                    }
                    match listening.iter().find(|t| !allowed.contains(t)) {
                        Some(lost) => {
                            let why = format!(
                                "topic `{}` needs the feature `{}`",
                                lost.name(),
                                lost.feature().identifier()
                            );
                            out.push(error_text(&why));
                            Step::End(Some(close(CloseCode::Policy, &why)))
                        }
                        None => Step::Ping,
                    }
                }
                Err(why) => {
                    out.push(error_text(&why));
                    Step::End(Some(close(
                        CloseCode::Policy,
                        "the credentials are no longer valid",
                    )))
                }
            };
        }
    };
    drop(subscription);
    // Boxed: closing waits for the client's answer, and only the last moments of a
    // connection need room for that.
    Box::pin(socket.close(why)).await;
}

fn close(code: CloseCode, description: &str) -> CloseReason {
    CloseReason {
        code,
        description: crate::text::elide(description, 120),
    }
}

/// An `error` message for the client.
fn error_text(message: &str) -> Utf8Bytes {
    json!({"type": "error", "message": message})
        .to_string()
        .into()
}

/// The next event of the subscription; pending forever without one.
async fn next_event(subscription: &mut Option<Subscription>) -> Option<Arc<super::hub::Event>> {
    match subscription {
        Some(sub) => sub.rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The subscription a client's message asks for, or why not (in the client's words).
fn answer(
    text: &str,
    hub: &Arc<Hub>,
    allowed: &[Topic],
    reach: &Reach,
) -> Result<(Subscription, Vec<Topic>), String> {
    let message: ClientMessage = serde_json::from_str(text).map_err(|e| {
        format!(
            "not a message this server understands ({}): expected {{\"type\": \"subscribe\", \"topics\": [...], \"collections\": [...], \"since\": {{\"epoch\": E, \"seq\": N}}}}",
            category(&e)
        )
    })?;
    let ClientMessage::Subscribe {
        topics,
        collections,
        since,
    } = message;
    if topics.len() > Topic::ALL.len() * 4 {
        return Err("too many topics".into());
    }
    let mut wanted = Vec::new();
    for name in &topics {
        let topic = Topic::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| {
                format!(
                    "unknown topic `{}` (known: {})",
                    crate::text::elide(name, 60),
                    Topic::ALL.map(|t| t.name()).join(", ")
                )
            })?;
        if !allowed.contains(&topic) {
            return Err(format!(
                "topic `{}` needs the feature `{}`",
                topic.name(),
                topic.feature().identifier()
            ));
        }
        if !wanted.contains(&topic) {
            wanted.push(topic);
        }
    }
    let collections = match collections {
        None => None,
        Some(_) if !wanted.contains(&Topic::Inventory) => {
            return Err("`collections` applies to the `inventory` topic only".into());
        }
        Some(names) if names.len() > INVENTORY_COLLECTIONS.len() * 2 => {
            return Err("too many collections".into());
        }
        Some(names) => {
            let mut set = HashSet::new();
            for name in names {
                if !INVENTORY_COLLECTIONS.contains(&name.as_str()) {
                    return Err(format!(
                        "unknown collection `{}` (known: {})",
                        crate::text::elide(&name, 60),
                        INVENTORY_COLLECTIONS.join(", ")
                    ));
                }
                set.insert(name);
            }
            Some(set)
        }
    };
    let sub = hub.subscribe(
        wanted.iter().copied().collect(),
        reach.clone(),
        collections,
        since,
    );
    Ok((sub, wanted))
}

/// `serde_json`'s error category, without echoing the client's text.
fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "unknown type or fields",
        serde_json::error::Category::Eof => "truncated JSON",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_are_checked_against_topics_and_features() {
        let hub = Hub::new(4, 4);
        let all = [Topic::Queue];
        let v = Reach::from(Visible::All);
        let ok = answer(
            r#"{"type":"subscribe","topics":["queue","queue"]}"#,
            &hub,
            &all,
            &v,
        )
        .map(|(_, topics)| topics);
        assert_eq!(ok.ok(), Some(vec![Topic::Queue]));
        let refused = answer(r#"{"type":"subscribe","topics":["queue"]}"#, &hub, &[], &v);
        assert!(refused.is_err_and(|e| e.contains("ops_view")));
        let unknown = answer(r#"{"type":"subscribe","topics":["nope"]}"#, &hub, &all, &v);
        assert!(unknown.is_err_and(|e| e.contains("unknown topic `nope`")));
        let garbage = answer("{", &hub, &all, &v);
        assert!(garbage.is_err_and(|e| e.contains("truncated JSON")));
        let extra = answer(r#"{"type":"subscribe","topics":[],"x":1}"#, &hub, &all, &v);
        assert!(extra.is_err_and(|e| e.contains("unknown type or fields")));
        let inventory = [Topic::Inventory];
        let pods = answer(
            r#"{"type":"subscribe","topics":["inventory"],"collections":["container_groups"]}"#,
            &hub,
            &inventory,
            &v,
        );
        assert!(pods.is_ok());
        let unknown = answer(
            r#"{"type":"subscribe","topics":["inventory"],"collections":["pods"]}"#,
            &hub,
            &inventory,
            &v,
        );
        assert!(unknown.is_err_and(|e| e.contains("unknown collection `pods`")));
        let misplaced = answer(
            r#"{"type":"subscribe","topics":["queue"],"collections":["containers"]}"#,
            &hub,
            &all,
            &v,
        );
        assert!(misplaced.is_err_and(|e| e.contains("inventory")));
    }
}
