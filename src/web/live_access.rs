//! Who may listen to the live feed, and on what terms — shared by its two doors, `GET
//! /ws` on the web port (`routes::live`) and the live feed's own listener
//! (`web::websocket`): the caller's rights (topics by feature, the providers and
//! inventory objects it may see), worked out at the handshake and again every
//! `websocket.recheck_interval`, and the conversation's settings.

use std::collections::HashSet;
use std::sync::Arc;

use secrecy::SecretString;

use super::routes::visibility;
use super::{ApiError, AppState};
use crate::api_query::{collection, exec, params, sql};
use crate::auth::Identity;
use crate::live::hub::{Audience, Visible};
use crate::live::socket::{Recheck, Rights, SocketConfig};

/// The conversation's settings (`websocket.*`).
pub(crate) fn socket_config(state: &AppState) -> SocketConfig {
    let settings = &state.settings.websocket;
    SocketConfig {
        ping_interval: settings.ping_interval,
        recheck_interval: settings.recheck_interval,
        client_buffer: settings.client_buffer,
    }
}

/// Asks, when called, whether the caller may still listen and with what rights: by
/// the token it came with (header or session cookie; revoked or expired ends the
/// connection), else by its user.
///
/// The state is shared (an `Arc`), not copied: this closure lives as long as the
/// connection, in every connection's task.
pub(crate) fn recheck_of(
    state: Arc<AppState>,
    token: Option<SecretString>,
    identity: Identity,
) -> impl Fn() -> Recheck + use<> {
    move || {
        let (state, token, identity) = (state.clone(), token.clone(), identity.clone());
        Box::pin(async move {
            let now = super::authn::recheck(&state, token.as_ref(), &identity)
                .await
                .map_err(|e| e.to_string())?;
            rights_of(&state, &now).await.map_err(|e| e.to_string())
        }) as Recheck
    }
}

/// The caller's features, the providers it may see — by the same SQL that limits its
/// lists (tenant, provider and tag filters) — and the restriction its inventory
/// objects are read with.
pub(crate) async fn rights_of(state: &AppState, identity: &Identity) -> Result<Rights, ApiError> {
    let v = visibility(identity);
    let visible = if v.is_unrestricted() {
        Visible::All
    } else {
        let c = collection("providers")
            .ok_or_else(|| ApiError::Internal("no providers collection".into()))?;
        let (mut query, _) = params::parse("", c, 1000).map_err(|e| ApiError::BadRequest(e.0))?;
        query.attributes = Some(Vec::new());
        query.limit = 100_000;
        let built =
            sql::build(state.db.backend(), c, &query, &v).map_err(|e| ApiError::BadRequest(e.0))?;
        let page = state
            .db
            .run(move |conn| exec::run(conn, &built, None))
            .await?;
        let ids: HashSet<i64> = page
            .rows
            .iter()
            .filter_map(|r| match &r["id"] {
                serde_json::Value::String(s) => s.parse().ok(),
                other => other.as_i64(),
            })
            .collect();
        Visible::Providers(ids)
    };
    // Inventory objects: by the same restriction, applied per batch of changes
    // (`live::inventory`).
    let audience = if v.is_unrestricted() {
        Audience::All
    } else {
        Audience::Restricted(Arc::new(v))
    };
    Ok(Rights {
        features: identity.features.clone(),
        visible,
        audience,
    })
}
