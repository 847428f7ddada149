//! `GET /ping`: liveness of the web listener. Never touches the database.

use actix_web::HttpResponse;

pub(super) async fn ping() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("pong")
}
