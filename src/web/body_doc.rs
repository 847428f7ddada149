//! What a route accepts as its JSON body, read from its handler's own extractors: a
//! handler taking `Checked<T>` accepts `T`, whose OpenAPI schema `utoipa` derives from
//! the same struct serde parses — so `/api/openapi.json` cannot describe a body other
//! than the one the handler reads. Every extractor a handler may use implements
//! [`DescribeBody`]; those that are not the body describe nothing.

use actix_web::{HttpRequest, web};
use serde_json::Value;
use utoipa::ToSchema;

use super::authn::Caller;
use super::input::Checked;

/// A body's schema: its name, the schema, and the named schemas it refers to.
#[derive(Debug, Clone)]
pub struct BodyDoc {
    pub name: String,
    pub schema: Value,
    pub components: Vec<(String, Value)>,
}

/// An extractor that may be a route's JSON body.
pub trait DescribeBody {
    fn body() -> Option<BodyDoc> {
        None
    }
}

impl<T: ToSchema> DescribeBody for Checked<T> {
    fn body() -> Option<BodyDoc> {
        let mut named = Vec::new();
        T::schemas(&mut named);
        let json = |s: &utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>| {
            serde_json::to_value(s).unwrap_or(Value::Null)
        };
        Some(BodyDoc {
            name: T::name().to_string(),
            schema: json(&T::schema()),
            components: named.iter().map(|(n, s)| (n.clone(), json(s))).collect(),
        })
    }
}

impl DescribeBody for HttpRequest {}
impl DescribeBody for Caller {}
impl<T> DescribeBody for web::Path<T> {}
impl<T> DescribeBody for web::Query<T> {}
impl<T: ?Sized> DescribeBody for web::Data<T> {}
/// A websocket's frames (`GET /ws`), not a JSON body.
impl DescribeBody for web::Payload {}

impl DescribeBody for () {}

macro_rules! tuple {
    ($($t:ident),+) => {
        impl<$($t: DescribeBody),+> DescribeBody for ($($t,)+) {
            fn body() -> Option<BodyDoc> {
                None$(.or_else($t::body))+
            }
        }
    };
}
tuple!(A);
tuple!(A, B);
tuple!(A, B, C);
tuple!(A, B, C, D);
tuple!(A, B, C, D, E);
tuple!(A, B, C, D, E, F);
