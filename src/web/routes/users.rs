//! `/api/users`: list, show, create (`{userid, password, name?, email?, groups}`) and
//! delete users. Passwords are hashed with argon2id off the reactor and never shown.

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;

use super::collection::{api_base, collection, parse_id, with_href};
use crate::auth::directory::{self, NewUser};
use crate::auth::secret::{check_password, hash_password};
use crate::web::{ApiError, AppState, Checked};

pub(super) async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let users = state.db.run(directory::list_users).await?;
    let base = api_base(&req);
    let resources = users
        .iter()
        .map(|u| with_href(&base, "users", u.id, u))
        .collect();
    Ok(HttpResponse::Ok().json(collection(&req, "users", resources)?))
}

pub(super) async fn show(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "user")?;
    let user = state
        .db
        .run(move |conn| directory::find_user_by_id(conn, id))
        .await?;
    Ok(HttpResponse::Ok().json(with_href(&api_base(&req), "users", user.id, &user)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewUserBody {
    userid: String,
    password: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    groups: Vec<String>,
}

pub(super) async fn create(
    req: HttpRequest,
    body: Checked<NewUserBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    directory::check_userid(&body.userid)?;
    if body.groups.len() > 100 {
        return Err(ApiError::BadRequest("at most 100 groups".into()));
    }
    let password = SecretString::from(body.password);
    check_password(&password).map_err(ApiError::BadRequest)?;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::Internal)?;
    let user = state
        .db
        .run(move |conn| {
            directory::create_user(
                conn,
                &NewUser {
                    userid: &body.userid,
                    name: &body.name,
                    email: &body.email,
                    groups: &body.groups,
                    password_hash: &hash,
                },
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(with_href(&api_base(&req), "users", user.id, &user)))
}

pub(super) async fn remove(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "user")?;
    state
        .db
        .run(move |conn| {
            let user = directory::find_user_by_id(conn, id)?;
            directory::remove_user(conn, &user.userid)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
