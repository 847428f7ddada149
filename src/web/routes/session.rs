//! The console's session: `POST /api/session` (Basic credentials, or the current session
//! with `X-MIQ-Group` to switch group) issues a token like `GET /api/auth` but hands it to
//! the browser only as an `HttpOnly`, `SameSite=Strict` cookie, so page scripts never hold
//! it; `DELETE /api/session` revokes it and clears the cookie. How a cookie authenticates,
//! and the CSRF guard on its writes, is `authn`'s.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::auth::tokens;
use crate::web::authn::{SESSION_COOKIE, session_token};
use crate::web::{ApiError, AppState, Caller};

pub(super) async fn open(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Caller(identity) = caller;
    let ttl = state.settings.api.token_ttl;
    let (user_id, group_id) = (identity.user_id, identity.group_id);
    let previous = session_token(&req);
    let issued = state
        .db
        .run(move |conn| {
            // Switching group replaces the session: the old token stops working.
            if let Some(old) = previous {
                tokens::revoke(conn, &old)?;
            }
            tokens::issue(conn, user_id, group_id, ttl)
        })
        .await?;
    if let Some(old) = session_token(&req) {
        state
            .token_cache
            .evict(&crate::auth::secret::token_hash(&old));
    }
    let cookie = session_cookie(&req, issued.token.expose_secret().to_string());
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .cookie(cookie)
        .json(json!({
            "userid": identity.userid,
            "name": identity.name,
            "group": identity.group,
            "role": identity.role,
            "tenant": identity.tenant,
            "groups": identity.groups,
            "features": identity.features,
            "token_ttl": issued.ttl_seconds,
        })))
}

pub(super) async fn close(
    req: HttpRequest,
    _caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if let Some(token) = session_token(&req) {
        state
            .token_cache
            .evict(&crate::auth::secret::token_hash(&token));
        state
            .db
            .run(move |conn| tokens::revoke(conn, &token))
            .await?;
    }
    let mut gone = session_cookie(&req, String::new());
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}

/// The session cookie: not readable by scripts, never sent by another site, `Secure`
/// when the console is served over TLS; it lasts as long as the browser session, the
/// token behind it as long as it is used (`api.token_ttl`).
fn session_cookie(req: &HttpRequest, value: String) -> Cookie<'static> {
    let https = req.connection_info().scheme() == "https";
    Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(https)
        .finish()
}
