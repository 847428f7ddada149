//! A watch response as a sequence of events: newline-delimited JSON
//! `{"type":…,"object":…}` read from a chunked body. A stream silent for longer than
//! its idle timeout (bookmarks arrive well within it) is treated as lost.

use std::marker::PhantomData;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::KubeError;
use super::types::Status;

/// One change.
#[derive(Debug, Clone)]
pub enum WatchEvent<T> {
    Added(T),
    Modified(T),
    Deleted(T),
    /// Progress without a change: the new resourceVersion.
    Bookmark(String),
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    object: serde_json::Value,
}

/// The events of one watch request.
pub struct WatchStream<T> {
    url: String,
    body: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: Vec<u8>,
    idle: Duration,
    ended: bool,
    _item: PhantomData<T>,
}

impl<T: DeserializeOwned> WatchStream<T> {
    pub(super) fn new(url: String, response: reqwest::Response, idle: Duration) -> Self {
        Self {
            url,
            body: response.bytes_stream().boxed(),
            buffer: Vec::new(),
            idle,
            ended: false,
            _item: PhantomData,
        }
    }

    /// The next event; `None` when the server ended the watch (resume from the last
    /// resourceVersion). An in-stream `ERROR` with code 410 is `Err(Gone)`.
    pub async fn next(&mut self) -> Option<Result<WatchEvent<T>, KubeError>> {
        loop {
            if let Some(pos) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=pos).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(self.parse(&line));
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout(self.idle, self.body.next()).await {
                Err(_) => {
                    self.ended = true;
                    return Some(Err(KubeError::Timeout {
                        url: self.url.clone(),
                        after: self.idle,
                    }));
                }
                Ok(None) => {
                    self.ended = true;
                    if self.buffer.iter().all(u8::is_ascii_whitespace) {
                        return None;
                    }
                    self.buffer.push(b'\n');
                }
                Ok(Some(Ok(chunk))) => self.buffer.extend_from_slice(&chunk),
                Ok(Some(Err(e))) => {
                    self.ended = true;
                    return Some(Err(KubeError::Unreachable {
                        url: self.url.clone(),
                        reason: format!("watch stream broken: {e}"),
                    }));
                }
            }
        }
    }

    fn parse(&self, line: &[u8]) -> Result<WatchEvent<T>, KubeError> {
        let decode_error = |e: serde_json::Error| KubeError::Decode {
            url: self.url.clone(),
            reason: e.to_string(),
        };
        let raw: RawEvent = serde_json::from_slice(line).map_err(decode_error)?;
        match raw.kind.as_str() {
            "ADDED" => Ok(WatchEvent::Added(
                serde_json::from_value(raw.object).map_err(decode_error)?,
            )),
            "MODIFIED" => Ok(WatchEvent::Modified(
                serde_json::from_value(raw.object).map_err(decode_error)?,
            )),
            "DELETED" => Ok(WatchEvent::Deleted(
                serde_json::from_value(raw.object).map_err(decode_error)?,
            )),
            "BOOKMARK" => {
                let version = raw
                    .object
                    .pointer("/metadata/resourceVersion")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string();
                Ok(WatchEvent::Bookmark(version))
            }
            "ERROR" => {
                let status: Status = serde_json::from_value(raw.object).unwrap_or_default();
                if status.code == 410 {
                    Err(KubeError::Gone {
                        message: status.message,
                    })
                } else {
                    Err(KubeError::Http {
                        url: self.url.clone(),
                        status: status.code,
                        message: status.message,
                    })
                }
            }
            other => Err(KubeError::Decode {
                url: self.url.clone(),
                reason: format!("unknown watch event type `{other}`"),
            }),
        }
    }
}
