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
        let method = req.method().to_string();
        let counts = req
            .app_data::<actix_web::web::Data<super::AppState>>()
            .map(|state| state.request_counts.clone());
        let response = next.call(req).await;
        let (status, route) = match &response {
            Ok(r) => (
                r.status().as_u16(),
                r.request()
                    .match_pattern()
                    .unwrap_or_else(|| "unmatched".into()),
            ),
            Err(e) => (
                e.as_response_error().status_code().as_u16(),
                "unmatched".to_string(),
            ),
        };
        if let Some(counts) = counts {
            counts.record(&method, &route, status);
        }
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
