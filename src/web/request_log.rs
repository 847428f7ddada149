//! A span per HTTP request, and one log line when it ends.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use tracing::Instrument;

pub(super) async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let span = tracing::info_span!("http", method = %req.method(), path = %req.path());
    let started = Instant::now();
    async move {
        let response = next.call(req).await;
        let status = match &response {
            Ok(r) => r.status().as_u16(),
            Err(e) => e.as_response_error().status_code().as_u16(),
        };
        tracing::debug!(
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request"
        );
        response
    }
    .instrument(span)
    .await
}
