//! Authentication and authorization at the door. Every request is matched against
//! the route table: public routes pass; everything else needs Basic credentials or an
//! `X-Auth-Token`, then the route's feature (403 naming it when missing). Unknown
//! paths are 404 and known paths with another method 405 — both only after login,
//! so the route table is not disclosed to strangers. Writes are audited here, so no
//! handler can forget to.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use secrecy::SecretString;

use super::route_table::{Access, Match, Matcher};
use super::token_cache::Cached;
use super::{ApiError, AppState};
use crate::auth::audit::{AuditEntry, record};
use crate::auth::identity::{IdentityError, load_identity};
use crate::auth::login::{LockoutPolicy, LoginError, check_password};
use crate::auth::{Identity, tokens};

/// Longest credential header looked at.
const MAX_CREDENTIAL_BYTES: usize = 4096;

/// The console's session cookie (see `routes::session`).
pub(crate) const SESSION_COOKIE: &str = "steward_session";

/// Sent by the console's scripts with every call. Writes authenticated by the session
/// cookie need it: another site cannot add a header to a request without the browser
/// asking this origin first (CORS), which it never allows — the CSRF guard on top of
/// `SameSite=Strict`. It also keeps 401s free of `WWW-Authenticate`, so the browser
/// does not pop up its own password dialog over the console's.
pub(crate) const CONSOLE_HEADER: &str = "X-Steward-Console";

/// The token of the console's session cookie, if the request has a plausible one.
pub(crate) fn session_token(req: &HttpRequest) -> Option<String> {
    plausible_session(req.cookie(SESSION_COOKIE)?.value())
}

/// The session cookie's token among `Cookie` header values, read as actix-web reads
/// cookies (`;`-separated, each parsed and percent-decoded by the `cookie` crate).
pub(crate) fn session_token_in<'a>(
    cookie_headers: impl Iterator<Item = &'a [u8]>,
) -> Option<String> {
    cookie_headers
        .filter_map(|header| std::str::from_utf8(header).ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| actix_web::cookie::Cookie::parse_encoded(pair.trim()).ok())
        .find(|cookie| cookie.name() == SESSION_COOKIE)
        .and_then(|cookie| plausible_session(cookie.value()))
}

fn plausible_session(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty() && value.len() <= 256).then(|| value.to_string())
}

pub(super) async fn authenticate<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(ApiError::Internal("no application state".into()).into());
    };
    let admitted = match gate(&state, &req).await {
        Ok(admitted) => admitted,
        Err(refusal) if req.headers().contains_key(CONSOLE_HEADER) => {
            let mut response = refusal.error_response();
            response
                .headers_mut()
                .remove(actix_web::http::header::WWW_AUTHENTICATE);
            return Ok(req.into_response(response).map_into_right_body());
        }
        Err(refusal) => return Err(refusal.into()),
    };
    let Some(Admitted {
        identity,
        write,
        action,
        target,
        peer,
    }) = admitted
    else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let userid = identity.userid.clone();
    req.extensions_mut().insert(identity);
    let response = next.call(req).await;
    if write {
        let status = match &response {
            Ok(r) => r.status().as_u16(),
            Err(e) => e.as_response_error().status_code().as_u16(),
        };
        audit(
            &state,
            AuditEntry {
                userid,
                action,
                target,
                outcome: if status < 400 { "success" } else { "failure" },
                status,
                source: peer.to_string(),
                message: String::new(),
            },
        )
        .await;
    }
    response.map(ServiceResponse::map_into_left_body)
}

/// A caller let through to a route that needs a login, and what its audit entry says.
struct Admitted {
    identity: Identity,
    write: bool,
    action: String,
    target: String,
    peer: IpAddr,
}

/// Whether the request may reach its handler: `None` for a public route; the caller
/// otherwise; the refusal (401, 403, 404, 405) when not.
async fn gate(state: &AppState, req: &ServiceRequest) -> Result<Option<Admitted>, ApiError> {
    let found = Matcher::get().find(req.method(), req.path());
    if let Match::Route(spec) = &found
        && spec.access == Access::Public
    {
        return Ok(None);
    }
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let identity = identify_request(state, req.request(), peer).await?;
    let (pattern, access) = match found {
        Match::Route(spec) => (spec.path.clone(), spec.access),
        Match::OtherMethods(allowed) => {
            let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
            return Err(ApiError::MethodNotAllowed {
                message: format!(
                    "{} is not allowed on {}; allowed: {}",
                    req.method(),
                    req.path(),
                    allow.join(", ")
                ),
                allow: allow.join(", "),
            });
        }
        Match::None => {
            return Err(ApiError::NotFound(format!(
                "no route for {} {}",
                req.method(),
                req.path()
            )));
        }
    };
    let write = !matches!(*req.method(), Method::GET | Method::HEAD);
    let action = format!("{} {}", req.method(), pattern);
    let target = req.path().to_string();
    if let Err(refusal) = check_access(&identity, access) {
        if write {
            audit(
                state,
                AuditEntry {
                    userid: identity.userid.clone(),
                    action,
                    target,
                    outcome: "failure",
                    status: 403,
                    source: peer.to_string(),
                    message: refusal.to_string(),
                },
            )
            .await;
        }
        return Err(refusal);
    }
    Ok(Some(Admitted {
        identity,
        write,
        action,
        target,
        peer,
    }))
}

/// Whether `identity` may call a route of `access` (logged in already): a missing
/// feature is a 403 naming it.
pub(crate) fn check_access(identity: &Identity, access: Access) -> Result<(), ApiError> {
    match access {
        Access::Feature(feature) if !identity.may(feature) => Err(ApiError::Forbidden(format!(
            "this needs the `{}` feature, which role `{}` of group `{}` does not have",
            feature.identifier(),
            identity.role,
            identity.group
        ))),
        _ => Ok(()),
    }
}

/// Records an audit entry; a failure to record is logged, not hidden.
pub(super) async fn audit(state: &AppState, entry: AuditEntry) {
    if let Err(error) = state.db.run(move |conn| record(conn, &entry)).await {
        tracing::error!(%error, "could not record an audit event");
    }
}

/// The credentials a request presents, read from its headers (bounded), whichever
/// door it came through (the web server, or the live feed's own listener).
pub(crate) struct Credentials {
    /// `X-MIQ-Group`: the group to act in.
    pub group: Option<String>,
    pub presented: Presented,
}

/// What a request authenticates with, in order of precedence.
pub(crate) enum Presented {
    /// `X-Auth-Token`.
    Token(String),
    /// `Authorization` (Basic).
    Authorization(String),
    /// The console's session cookie.
    Session(String),
    Nothing,
}

impl Credentials {
    /// Reads `X-MIQ-Group`, `X-Auth-Token` and `Authorization` through `header` (a
    /// header's raw value by name); `session` is the session cookie's token, if any.
    pub(crate) fn read<'a>(
        header: impl Fn(&str) -> Option<&'a [u8]>,
        session: Option<String>,
    ) -> Result<Self, ApiError> {
        let group = header_text(header("X-MIQ-Group"), "X-MIQ-Group")?;
        if let Some(wanted) = &group
            && wanted.chars().count() > crate::auth::directory::MAX_NAME_CHARS
        {
            return Err(ApiError::BadRequest("X-MIQ-Group is too long".into()));
        }
        let presented = if let Some(token) = header_text(header("X-Auth-Token"), "X-Auth-Token")? {
            Presented::Token(token)
        } else if let Some(authorization) = header_text(header("Authorization"), "Authorization")? {
            Presented::Authorization(authorization)
        } else if let Some(token) = session {
            Presented::Session(token)
        } else {
            Presented::Nothing
        };
        Ok(Self { group, presented })
    }

    /// The token presented (header or session cookie), kept to check it again later.
    pub(crate) fn token(&self) -> Option<SecretString> {
        match &self.presented {
            Presented::Token(token) | Presented::Session(token) => {
                Some(SecretString::from(token.clone()))
            }
            Presented::Authorization(_) | Presented::Nothing => None,
        }
    }
}

/// Who is calling an actix request, from `X-Auth-Token`, Basic credentials or the
/// console's session cookie.
async fn identify_request(
    state: &AppState,
    req: &HttpRequest,
    peer: IpAddr,
) -> Result<Identity, ApiError> {
    let credentials = Credentials::read(
        |name| req.headers().get(name).map(|v| v.as_bytes()),
        session_token(req),
    )?;
    if let Presented::Session(_) = credentials.presented {
        check_session_request(req)?;
    }
    identify(state, credentials, peer, req.path()).await
}

/// Who is calling, by the credentials its request presents (a session cookie's origin
/// already checked by the door it came through); `path` names the target of a failed
/// login's audit entry.
pub(crate) async fn identify(
    state: &AppState,
    credentials: Credentials,
    peer: IpAddr,
    path: &str,
) -> Result<Identity, ApiError> {
    let Credentials { group, presented } = credentials;
    let authorization = match presented {
        Presented::Token(token) | Presented::Session(token) => {
            return identify_token(state, token, group).await;
        }
        Presented::Nothing => {
            return Err(ApiError::Unauthorized(
                "authentication required: Basic credentials or an X-Auth-Token".into(),
            ));
        }
        Presented::Authorization(authorization) => authorization,
    };
    let wanted_group = group;
    let (userid, password) = basic_credentials(&authorization)?;
    if let Some(wait) = state.login_throttle.check(peer) {
        return Err(ApiError::TooManyRequests {
            message: format!(
                "too many failed logins from {peer}; try again in {} s",
                wait.as_secs().max(1)
            ),
            retry_after_s: wait.as_secs().max(1),
        });
    }
    let policy = LockoutPolicy {
        max_failures: state.settings.api.max_failed_logins,
        lockout: state.settings.api.lockout,
    };
    match check_password(&state.db, &userid, password, policy).await {
        Ok(user_id) => identity_of(state, user_id, None, wanted_group).await,
        Err(LoginError::Db(e)) => Err(e.into()),
        Err(failure) => {
            state.login_throttle.failed(peer);
            let message = match failure {
                LoginError::Locked(until) => format!(
                    "account `{userid}` is locked after repeated failed logins until {}",
                    crate::json::format_utc(&until)
                ),
                _ => "wrong user id or password".to_string(),
            };
            audit(
                state,
                AuditEntry {
                    userid: userid.clone(),
                    action: "login".into(),
                    target: path.to_string(),
                    outcome: "failure",
                    status: 401,
                    source: peer.to_string(),
                    message: message.clone(),
                },
            )
            .await;
            Err(ApiError::Unauthorized(message))
        }
    }
}

/// A request carried by the session cookie must come from this origin: a write needs
/// the console's header, and a request that names its origin (every write, and every
/// websocket handshake) must name this host.
fn check_session_request(req: &HttpRequest) -> Result<(), ApiError> {
    let write = !matches!(*req.method(), Method::GET | Method::HEAD);
    if write && !req.headers().contains_key(CONSOLE_HEADER) {
        return Err(ApiError::Forbidden(format!(
            "a write with the session cookie needs the {CONSOLE_HEADER} header"
        )));
    }
    if let Some(origin) = req.headers().get("Origin") {
        let host = req.connection_info().host().to_string();
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| url::Url::parse(o).ok())
            .map(|u| match u.port() {
                Some(port) => format!("{}:{port}", u.host_str().unwrap_or_default()),
                None => u.host_str().unwrap_or_default().to_string(),
            });
        if origin_host.as_deref() != Some(host.as_str()) {
            return Err(ApiError::Forbidden(
                "the session cookie is only accepted from the console's own origin".into(),
            ));
        }
    }
    Ok(())
}

/// The holder of a token: from the cache when fresh; otherwise the token renewed and
/// the identity loaded in one checkout of a connection.
async fn identify_token(
    state: &AppState,
    token: String,
    wanted: Option<String>,
) -> Result<Identity, ApiError> {
    let hash = crate::auth::secret::token_hash(&token);
    let cached = state.token_cache.get(&hash, wanted.as_deref());
    let expired =
        || ApiError::Unauthorized("the token is invalid or has expired; log in again".into());
    match cached {
        Cached::Fresh(identity) => Ok(identity),
        Cached::Renew(identity) => {
            let live = state
                .db
                .run(move |conn| tokens::use_token(conn, &token))
                .await?;
            if live.is_none() {
                state.token_cache.evict(&hash);
                return Err(expired());
            }
            state
                .token_cache
                .put(&hash, wanted.as_deref(), identity.clone(), false);
            Ok(identity)
        }
        Cached::Miss => {
            let group = wanted.clone();
            let found = state
                .db
                .run(move |conn| {
                    Ok(tokens::use_token(conn, &token)?.map(|(user_id, group_id)| {
                        load_identity(conn, user_id, group_id, group.as_deref())
                    }))
                })
                .await?;
            let Some(identity) = found else {
                state.token_cache.evict(&hash);
                return Err(expired());
            };
            let identity = identity.map_err(identity_error)?;
            state
                .token_cache
                .put(&hash, wanted.as_deref(), identity.clone(), true);
            Ok(identity)
        }
    }
}

/// The caller of a long-lived connection (a websocket), checked again: by the token it
/// came with (revoked or expired: 401), else by its user (removed: 401), in the group it
/// connected with (left: 403).
pub async fn recheck(
    state: &AppState,
    token: Option<&SecretString>,
    caller: &Identity,
) -> Result<Identity, ApiError> {
    use secrecy::ExposeSecret;
    let group = Some(caller.group.clone());
    match token {
        Some(token) => identify_token(state, token.expose_secret().to_string(), group).await,
        None => identity_of(state, caller.user_id, None, group).await,
    }
}

async fn identity_of(
    state: &AppState,
    user_id: i64,
    group_id: Option<i64>,
    wanted: Option<String>,
) -> Result<Identity, ApiError> {
    let result = state
        .db
        .run(move |conn| Ok(load_identity(conn, user_id, group_id, wanted.as_deref())))
        .await?;
    result.map_err(identity_error)
}

fn identity_error(e: IdentityError) -> ApiError {
    match e {
        IdentityError::NoUser => ApiError::Unauthorized("the user no longer exists".into()),
        IdentityError::NoGroup(why) => ApiError::Forbidden(why),
        IdentityError::Db(e) => e.into(),
    }
}

/// A header's value as text, bounded; absent is `None`. Text is what HTTP calls
/// visible ASCII (and tabs), as `HeaderValue::to_str` reads it.
fn header_text(value: Option<&[u8]>, name: &str) -> Result<Option<String>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    if value.len() > MAX_CREDENTIAL_BYTES {
        return Err(ApiError::BadRequest(format!(
            "the {name} header is too long"
        )));
    }
    let not_text = || ApiError::BadRequest(format!("the {name} header is not text"));
    if !value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return Err(not_text());
    }
    let text = std::str::from_utf8(value).map_err(|_| not_text())?;
    Ok(Some(text.trim().to_string()))
}

/// `Basic base64(userid:password)`, parsed by actix-web-httpauth; a missing or empty
/// password is refused here (the crate reads `user:` as "no password").
fn basic_credentials(header: &str) -> Result<(String, SecretString), ApiError> {
    use actix_web_httpauth::headers::authorization::{Basic, Scheme};
    let scheme = header.split(' ').next().unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ApiError::Unauthorized(format!(
            "unsupported authorization scheme `{}`; use Basic or X-Auth-Token",
            crate::text::truncate(scheme, 20)
        )));
    }
    let bad = |why: String| ApiError::Unauthorized(format!("malformed Basic credentials: {why}"));
    // The crate expects the scheme spelled `Basic`; HTTP schemes are case-insensitive.
    let normalised = format!("Basic {}", header[scheme.len()..].trim());
    let value = actix_web::http::header::HeaderValue::from_str(&normalised)
        .map_err(|e| bad(e.to_string()))?;
    let basic = Basic::parse(&value).map_err(|e| bad(e.to_string()))?;
    let password = basic.password().ok_or_else(|| bad("no password".into()))?;
    Ok((
        basic.user_id().to_string(),
        SecretString::from(password.to_string()),
    ))
}

/// The caller, for handlers of routes that need a login.
pub struct Caller(pub Identity);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<Identity>()
                .cloned()
                .map(Caller)
                .ok_or_else(|| ApiError::Unauthorized("authentication required".into())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn basic_credentials_are_parsed_strictly() {
        let (u, p) = basic_credentials("Basic YWRtaW46c2VjcmV0OndpdGg6Y29sb25z").expect("parse");
        assert_eq!(u, "admin");
        assert_eq!(p.expose_secret(), "secret:with:colons");
        assert!(basic_credentials("Bearer abc").is_err());
        assert!(basic_credentials("Basic !!!").is_err());
        assert!(basic_credentials("Basic").is_err());
        // "nocolon" has no separator.
        assert!(basic_credentials("Basic bm9jb2xvbg==").is_err());
        // "admin:" has an empty password.
        assert!(basic_credentials("Basic YWRtaW46").is_err());
        let (u, _) = basic_credentials("basic YWRtaW46c2VjcmV0").expect("lower-case scheme");
        assert_eq!(u, "admin");
    }
}
