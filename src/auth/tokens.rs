//! API tokens (`GET /api/auth`): stored as their SHA-256, valid for a TTL measured
//! on the database's clock and renewed on every use, revoked by `DELETE /api/auth`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
use secrecy::SecretString;

use super::secret::{new_token, token_hash};
use crate::db::schema::auth_tokens;
use crate::db::{DbConnection, DbError, db_now};

/// A token just issued; the clear value is shown once, to its owner.
pub struct IssuedToken {
    pub token: SecretString,
    pub ttl_seconds: i32,
    pub expires_on: NaiveDateTime,
}

/// Issues a token for `user_id` acting in `group_id`, and drops expired ones.
pub fn issue(
    conn: &mut DbConnection,
    user_id: i64,
    group_id: i64,
    ttl: std::time::Duration,
) -> Result<IssuedToken, DbError> {
    let token = new_token().map_err(DbError::Task)?;
    let ttl_seconds = ttl.as_secs().clamp(1, i32::MAX as u64) as i32;
    let now = db_now(conn)?;
    let expires_on = now + chrono::Duration::seconds(i64::from(ttl_seconds));
    diesel::delete(auth_tokens::table.filter(auth_tokens::expires_on.le(now))).execute(conn)?;
    diesel::insert_into(auth_tokens::table)
        .values((
            auth_tokens::token_hash.eq(token_hash(secrecy::ExposeSecret::expose_secret(&token))),
            auth_tokens::user_id.eq(user_id),
            auth_tokens::group_id.eq(Some(group_id)),
            auth_tokens::ttl_seconds.eq(ttl_seconds),
            auth_tokens::expires_on.eq(expires_on),
            auth_tokens::created_on.eq(now),
        ))
        .execute(conn)?;
    Ok(IssuedToken {
        token,
        ttl_seconds,
        expires_on,
    })
}

#[derive(QueryableByName)]
struct Holder {
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    group_id: Option<i64>,
    #[diesel(sql_type = Integer)]
    #[allow(dead_code)]
    ttl_seconds: i32,
    #[diesel(sql_type = Timestamp)]
    #[allow(dead_code)]
    expires_on: NaiveDateTime,
}

/// The (user, group) of a live token, renewing it for its TTL — one statement.
pub fn use_token(
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<(i64, Option<i64>)>, DbError> {
    let hash = token_hash(token);
    let holder: Option<Holder> = match conn {
        DbConnection::Postgresql(pg) => diesel::sql_query(
            "UPDATE auth_tokens SET expires_on = (clock_timestamp() AT TIME ZONE 'UTC') \
             + ttl_seconds * INTERVAL '1 second' \
             WHERE token_hash = $1 AND expires_on > (clock_timestamp() AT TIME ZONE 'UTC') \
             RETURNING user_id, group_id, ttl_seconds, expires_on",
        )
        .bind::<Text, _>(&hash)
        .get_result(pg)
        .optional()?,
        DbConnection::Sqlite(lite) => diesel::sql_query(
            "UPDATE auth_tokens SET expires_on = strftime('%Y-%m-%d %H:%M:%f', 'now', \
             '+' || ttl_seconds || ' seconds') \
             WHERE token_hash = ? AND expires_on > strftime('%Y-%m-%d %H:%M:%f', 'now') \
             RETURNING user_id, group_id, ttl_seconds, expires_on",
        )
        .bind::<Text, _>(&hash)
        .get_result(lite)
        .optional()?,
    };
    Ok(holder.map(|h| (h.user_id, h.group_id)))
}

/// Revokes a token; whether it existed.
pub fn revoke(conn: &mut DbConnection, token: &str) -> Result<bool, DbError> {
    let n =
        diesel::delete(auth_tokens::table.filter(auth_tokens::token_hash.eq(token_hash(token))))
            .execute(conn)?;
    Ok(n > 0)
}
