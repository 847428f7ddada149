//! `Checked<T>`: the JSON body extractor every write route uses. On top of actix's
//! size limit it refuses, with a 400 naming the place, what no field of Steward's
//! may hold: a NUL byte anywhere (PostgreSQL cannot store one in text, and it is the
//! classic way to cut a log line or a C string short), nesting deeper than
//! [`MAX_DEPTH`], and — as serde would — unknown or ill-typed fields.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ApiError;

/// Deepest nesting of arrays and objects a body may have.
pub const MAX_DEPTH: usize = 32;

/// A JSON body that passed the checks, parsed into `T`.
pub struct Checked<T>(pub T);

impl<T> Checked<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Checked<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Checked<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let value = json.await?.into_inner();
            check(&value, "", 0).map_err(ApiError::BadRequest)?;
            serde_json::from_value::<T>(value)
                .map(Checked)
                .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")).into())
        })
    }
}

/// Walks `value`; `path` names where it is (`name`, `args.items[3]`).
fn check(value: &Value, path: &str, depth: usize) -> Result<(), String> {
    let here = |p: &str| if p.is_empty() { "the body" } else { p }.to_string();
    if depth > MAX_DEPTH {
        return Err(format!(
            "{} is nested deeper than {MAX_DEPTH} levels",
            here(path)
        ));
    }
    match value {
        Value::String(s) if s.contains('\0') => {
            Err(format!("`{}` contains a NUL byte", here(path)))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check(v, &format!("{path}[{i}]"), depth + 1)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            let key_path = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if k.contains('\0') {
                return Err(format!("a key of {} contains a NUL byte", here(path)));
            }
            check(v, &key_path, depth + 1)
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_bytes_are_named_where_they_are() {
        assert_eq!(check(&json!({"name": "ok"}), "", 0), Ok(()));
        assert_eq!(
            check(&json!({"name": "a\u{0}b"}), "", 0),
            Err("`name` contains a NUL byte".into())
        );
        assert_eq!(
            check(&json!({"args": {"items": ["x", "\u{0}"]}}), "", 0),
            Err("`args.items[1]` contains a NUL byte".into())
        );
    }

    #[test]
    fn depth_is_bounded() {
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        assert!(check(&deep, "", 0).is_err_and(|e| e.contains("deeper than")));
    }
}
