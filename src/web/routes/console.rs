//! The console: a page and a few ES modules, embedded in the binary (`assets/console/`,
//! plus uPlot vendored from npm under `assets/vendor/`), so a node needs no build step and
//! fetches nothing at run time. Every answer carries a strict Content-Security-Policy (only
//! this origin's scripts, styles and connections, and the live feed's listener; no
//! inline code, no frames) and an `ETag`;
//! `Cache-Control: no-cache` makes browsers revalidate, which costs a 304 and keeps an
//! upgraded node's page and scripts in step. The pages are public (they hold no data);
//! everything they show comes from the API with the user's session.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

use crate::web::{ApiError, AppState};

/// The server role whose nodes serve the console.
const ROLE: &str = "user_interface";

/// The console's policy: nothing but this origin — and the live feed's listener, at
/// the origin the page is given for it — no inline script or style.
fn content_security_policy(live_feed_origin: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self' {live_feed_origin}; font-src 'self'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $file:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $file)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Everything the console serves under `/console/assets/`, by name.
const ASSETS: &[Asset] = &[
    asset!("console.css", "console/console.css", CSS),
    asset!("app.js", "console/app.js", JS),
    asset!("api.js", "console/api.js", JS),
    asset!("live.js", "console/live.js", JS),
    asset!("ui.js", "console/ui.js", JS),
    asset!("table.js", "console/table.js", JS),
    asset!("charts.js", "console/charts.js", JS),
    asset!("overview.js", "console/overview.js", JS),
    asset!("queue.js", "console/queue.js", JS),
    asset!("providers.js", "console/providers.js", JS),
    asset!("inventory.js", "console/inventory.js", JS),
    asset!("admin.js", "console/admin.js", JS),
    asset!("events.js", "console/events.js", JS),
    asset!("alerts.js", "console/alerts.js", JS),
    asset!("favicon.svg", "console/favicon.svg", "image/svg+xml"),
    asset!("uPlot.iife.min.js", "vendor/uplot/uPlot.iife.min.js", JS),
    asset!("uPlot.min.css", "vendor/uplot/uPlot.min.css", CSS),
];

const INDEX: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/console/index.html"
));

/// Each asset's entity tag: a digest of its bytes, computed once.
fn etags() -> &'static HashMap<&'static str, String> {
    static TAGS: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        let tag = |bytes: &[u8]| {
            let digest = Sha256::digest(bytes);
            let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            format!("\"{hex}\"")
        };
        let mut tags: HashMap<&'static str, String> =
            ASSETS.iter().map(|a| (a.name, tag(a.body))).collect();
        tags.insert("", tag(INDEX));
        tags
    })
}

/// `GET /`: the console.
pub(super) async fn root(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.require_role(ROLE)?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/"))
        .finish())
}

/// `GET /console/`: the page. Views are addressed after `#` (`/console/#/pods?…`), so
/// every deep link loads this one page.
pub(super) async fn index(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.require_role(ROLE)?;
    Ok(serve(&req, &state, "", "text/html; charset=utf-8", INDEX))
}

/// `GET /console/assets/{file}`.
pub(super) async fn asset(
    req: HttpRequest,
    file: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.require_role(ROLE)?;
    let file = file.into_inner();
    let found = ASSETS.iter().find(|a| a.name == file).ok_or_else(|| {
        ApiError::NotFound(format!(
            "the console has no asset `{}`",
            crate::text::truncate(&file, 64)
        ))
    })?;
    Ok(serve(
        &req,
        &state,
        found.name,
        found.content_type,
        found.body,
    ))
}

fn serve(
    req: &HttpRequest,
    state: &AppState,
    name: &str,
    content_type: &str,
    body: &'static [u8],
) -> HttpResponse {
    // Computed per request: the live feed is offered at the host the page came from.
    let host = req.connection_info().host().to_string();
    let policy = content_security_policy(&state.live_feed.origin_for(Some(&host)));
    let etag = etags().get(name).cloned().unwrap_or_default();
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CONTENT_SECURITY_POLICY, policy))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"));
    if fresh {
        return response.finish();
    }
    response
        .insert_header((header::CONTENT_TYPE, content_type))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_the_page_names_is_served() {
        let page = String::from_utf8_lossy(INDEX);
        for name in page
            .split("/console/assets/")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
        {
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "index.html names {name}, which is not embedded"
            );
        }
        // Modules import each other by relative name.
        for a in ASSETS.iter().filter(|a| a.content_type == JS) {
            let text = String::from_utf8_lossy(a.body);
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let Some(name) = line.split("\"./").nth(1).and_then(|r| r.split('"').next()) else {
                    continue;
                };
                assert!(
                    ASSETS.iter().any(|x| x.name == name),
                    "{} imports {name}, which is not embedded",
                    a.name
                );
            }
        }
    }
}
