//! Paged lists: every object of a kind, `limit` at a time, following `continue`.

use std::fmt::Debug;

use kube::Api;
use kube::api::ListParams;
use serde::de::DeserializeOwned;

use super::error::{KubeError, from_kube};

/// Every item of `api`'s list, page by page, with the list's resourceVersion. A
/// continue token that expires midway (410) restarts the list once from the start.
pub async fn list_all<K>(
    api: &Api<K>,
    resource: &str,
    server: &str,
    page_size: u32,
) -> Result<(Vec<K>, String), KubeError>
where
    K: Clone + DeserializeOwned + Debug,
{
    let mut restarted = false;
    'list: loop {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        let mut version = String::new();
        loop {
            let mut params = ListParams::default().limit(page_size);
            if let Some(t) = &token {
                params = params.continue_token(t);
            }
            let page = match api.list(&params).await {
                Ok(page) => page,
                Err(e) => {
                    let e = from_kube(&e, "list", resource, server);
                    if e.is_gone() && !restarted {
                        restarted = true;
                        continue 'list;
                    }
                    return Err(e);
                }
            };
            if version.is_empty() {
                version = page.metadata.resource_version.clone().unwrap_or_default();
            }
            items.extend(page.items);
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok((items, version)),
            }
        }
    }
}
