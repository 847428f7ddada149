//! `Checked<T>`: the JSON body extractor every write route uses. On top of actix's
//! size limit it refuses, with a 400 naming the place, what no field of Steward's
//! may hold: a NUL byte anywhere (PostgreSQL cannot store one in text, and it is the
//! classic way to cut a log line or a C string short), nesting deeper than
//! [`crate::json::MAX_INPUT_DEPTH`], and — as serde would — unknown or ill-typed fields.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ApiError;

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
            crate::json::check_input(&value).map_err(ApiError::BadRequest)?;
            serde_json::from_value::<T>(value)
                .map(Checked)
                .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")).into())
        })
    }
}
