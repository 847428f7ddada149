//! How much inventory a provider has (live rows per table), for `provider show`.

use std::collections::BTreeMap;

use diesel::dsl::count_star;
use diesel::prelude::*;

use crate::db::schema::{
    container_groups, container_image_registries, container_images, container_nodes,
    container_projects, container_replicators, container_services, containers,
};
use crate::db::{DbConnection, DbError};

/// Live (not deleted) rows per collection of `provider`.
pub fn inventory_counts(
    conn: &mut DbConnection,
    provider: i64,
) -> Result<BTreeMap<&'static str, i64>, DbError> {
    macro_rules! count {
        ($t:ident) => {
            $t::table
                .filter($t::provider_id.eq(provider))
                .filter($t::deleted_on.is_null())
                .select(count_star())
                .first::<i64>(conn)?
        };
    }
    Ok(BTreeMap::from([
        ("container_projects", count!(container_projects)),
        ("container_nodes", count!(container_nodes)),
        ("container_groups", count!(container_groups)),
        ("containers", count!(containers)),
        ("container_services", count!(container_services)),
        ("container_replicators", count!(container_replicators)),
        ("container_images", count!(container_images)),
        (
            "container_image_registries",
            count!(container_image_registries),
        ),
    ]))
}
