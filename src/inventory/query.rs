//! Reading the inventory back, page by page: the same two queries (a filtered page
//! with its total, and one row by id) for every collection.

use diesel::prelude::*;
use serde::Serialize;

use super::views::{
    ContainerView, ImageView, NodeView, PodView, ProjectView, RegistryView, ReplicatorView,
    ServiceView,
};
use crate::db::{DbConnection, DbError};

/// Which rows of a collection.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub provider_id: Option<i64>,
    pub include_deleted: bool,
    pub limit: i64,
    pub offset: i64,
}

/// A collection of the inventory.
pub trait InventoryTable: 'static {
    /// Its name in the API (`container_groups`…).
    const NAME: &'static str;
    type View: Serialize + Send + 'static;
    /// The total matching `filter`, and the page it asks for (by id).
    fn list(
        conn: &mut DbConnection,
        filter: &ListFilter,
    ) -> Result<(i64, Vec<Self::View>), DbError>;
    /// One row.
    fn show(conn: &mut DbConnection, id: i64) -> Result<Option<Self::View>, DbError>;
}

macro_rules! inventory_table {
    ($marker:ident, $name:literal, $table:ident, $view:ty) => {
        /// The `
        #[doc = $name]
        /// ` collection.
        pub struct $marker;

        impl InventoryTable for $marker {
            const NAME: &'static str = $name;
            type View = $view;

            fn list(conn: &mut DbConnection, f: &ListFilter) -> Result<(i64, Vec<$view>), DbError> {
                use crate::db::schema::$table as t;
                let filtered = || {
                    let mut q = t::table.into_boxed();
                    if let Some(p) = f.provider_id {
                        q = q.filter(t::provider_id.eq(p));
                    }
                    if !f.include_deleted {
                        q = q.filter(t::deleted_on.is_null());
                    }
                    q
                };
                let count: i64 = filtered().count().get_result(conn)?;
                let rows = filtered()
                    .order(t::id.asc())
                    .limit(f.limit)
                    .offset(f.offset)
                    .load::<$view>(conn)?;
                Ok((count, rows))
            }

            fn show(conn: &mut DbConnection, id: i64) -> Result<Option<$view>, DbError> {
                use crate::db::schema::$table as t;
                Ok(t::table.find(id).first::<$view>(conn).optional()?)
            }
        }
    };
}

inventory_table!(
    Projects,
    "container_projects",
    container_projects,
    ProjectView
);
inventory_table!(Nodes, "container_nodes", container_nodes, NodeView);
inventory_table!(Pods, "container_groups", container_groups, PodView);
inventory_table!(Containers, "containers", containers, ContainerView);
inventory_table!(
    Services,
    "container_services",
    container_services,
    ServiceView
);
inventory_table!(
    Replicators,
    "container_replicators",
    container_replicators,
    ReplicatorView
);
inventory_table!(Images, "container_images", container_images, ImageView);
inventory_table!(
    Registries,
    "container_image_registries",
    container_image_registries,
    RegistryView
);
