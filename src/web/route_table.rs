//! The route table: every route is declared with the access it needs — public, any
//! logged-in user, or a product feature — in one list that both registers the
//! handlers and can be read back (`route_table()`), so the authentication layer and
//! the test that walks every route see exactly what is served. A route cannot be
//! added without saying who may call it. `GET` routes answer `HEAD` too.

use std::sync::OnceLock;

use actix_web::dev::ResourceDef;
use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, guard, web};

use super::body_doc::{BodyDoc, DescribeBody};
use crate::auth::Feature;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials.
    Public,
    /// Any authenticated user.
    LoggedIn,
    /// A user whose role has this feature.
    Feature(Feature),
}

/// One route: method, path pattern (`{id}` for parameters) and access.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: String,
    pub access: Access,
    /// The JSON body the handler reads, if any (from its extractors).
    pub body: Option<BodyDoc>,
}

/// Registers routes on an actix `ServiceConfig` (when given) and records them.
pub struct Routes<'a> {
    cfg: Option<&'a mut web::ServiceConfig>,
    specs: Vec<RouteSpec>,
}

impl<'a> Routes<'a> {
    pub fn new(cfg: Option<&'a mut web::ServiceConfig>) -> Self {
        Self {
            cfg,
            specs: Vec::new(),
        }
    }

    /// Adds `method path` served by `handler`, callable with `access`.
    pub fn add<F, Args>(&mut self, method: Method, path: &str, access: Access, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + DescribeBody + 'static,
        F::Output: Responder + 'static,
    {
        if let Some(cfg) = self.cfg.as_deref_mut() {
            let route = if method == Method::GET {
                web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
            } else {
                web::route().method(method.clone())
            };
            cfg.route(path, route.to(handler));
        }
        self.specs.push(RouteSpec {
            method,
            path: path.to_string(),
            access,
            body: Args::body(),
        });
    }

    pub fn get<F, Args>(&mut self, path: &str, access: Access, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + DescribeBody + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::GET, path, access, handler);
    }

    pub fn post<F, Args>(&mut self, path: &str, access: Access, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + DescribeBody + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::POST, path, access, handler);
    }

    pub fn delete<F, Args>(&mut self, path: &str, access: Access, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + DescribeBody + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::DELETE, path, access, handler);
    }

    pub fn into_specs(self) -> Vec<RouteSpec> {
        self.specs
    }
}

/// Every route the API serves, in registration order.
pub fn route_table() -> Vec<RouteSpec> {
    let mut routes = Routes::new(None);
    super::routes::register(&mut routes);
    routes.into_specs()
}

/// The table compiled for matching requests.
pub(super) struct Matcher {
    entries: Vec<(ResourceDef, RouteSpec)>,
}

/// What a request matched.
pub(super) enum Match<'a> {
    /// A route of this method and path.
    Route(&'a RouteSpec),
    /// The path exists, for other methods (405); the methods allowed.
    OtherMethods(Vec<Method>),
    /// No route has this path.
    None,
}

impl Matcher {
    pub(super) fn get() -> &'static Matcher {
        static MATCHER: OnceLock<Matcher> = OnceLock::new();
        MATCHER.get_or_init(|| Matcher {
            entries: route_table()
                .into_iter()
                .map(|spec| (ResourceDef::new(spec.path.as_str()), spec))
                .collect(),
        })
    }

    pub(super) fn find(&self, method: &Method, path: &str) -> Match<'_> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        let mut others = Vec::new();
        for (def, spec) in &self.entries {
            if def.is_match(path) {
                if spec.method == *method {
                    return Match::Route(spec);
                }
                if !others.contains(&spec.method) {
                    others.push(spec.method.clone());
                }
            }
        }
        if others.is_empty() {
            Match::None
        } else {
            if others.contains(&Method::GET) {
                others.push(Method::HEAD);
            }
            Match::OtherMethods(others)
        }
    }
}
