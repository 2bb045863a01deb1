//! The entity tables of a SQLite database without the server's rules: for a client's local
//! replica, which has the same tables as the server but decides what to write itself.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use sqlx::{Connection, SqliteConnection};
//! use sync_core::store::sqlite::Tables;
//! use sync_core::Registry;
//!
//! let mut connection = SqliteConnection::connect("sqlite::memory:").await.unwrap();
//! let tables = Tables::new(Registry::default());
//! tables.create(&mut connection).await.unwrap();
//! # });
//! ```

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value as Json;
use sqlx::SqliteConnection;

use super::sql::TableSql;
use crate::change::{Change, Operation};
use crate::entity::{Arrival, Handler, Registry, Role, Syncable, Value, Write};
use crate::error::Result;
use crate::outcome::{Effect, Reason, Rejection};
use crate::store::query::{self, Query};
use crate::version::Version;

/// Reads and writes the registered entities' tables on any SQLite connection.
pub struct Tables {
    registry: Registry,
    sql: HashMap<&'static str, TableSql>,
}

impl Tables {
    /// The tables of `registry`'s entities.
    pub fn new(registry: Registry) -> Tables {
        let sql = registry
            .iter()
            .map(|handler| (handler.table(), TableSql::new(handler)))
            .collect();
        Tables { registry, sql }
    }

    /// The entities.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Creates or evolves the tables, as the server's store does at open.
    pub async fn create(&self, connection: &mut SqliteConnection) -> Result<()> {
        super::schema::prepare(connection, &self.registry).await
    }

    /// Validates `data` as the JSON of an `entity_type` and stores it as a live row whose
    /// version is its `updated_at`; returns the stored state.
    pub async fn put_json(
        &self,
        connection: &mut SqliteConnection,
        entity_type: &str,
        entity_id: &str,
        data: &Json,
        seq: u64,
    ) -> Result<Result<Effect, Rejection>> {
        let Some(handler) = self.registry.get(entity_type) else {
            return Ok(Err(Rejection::new(
                crate::outcome::Reason::UnknownEntity,
                format!("{entity_type} is not registered"),
            )));
        };
        let change = Change {
            id: String::new(),
            entity_type: entity_type.to_owned(),
            entity_id: entity_id.to_owned(),
            operation: Operation::Update,
            payload: Some(data.clone()),
        };
        // Stored versions are taken as they are: a replica never clamps the server's.
        let arrival = Arrival {
            now: Version::now(),
            max_clock_skew: Duration::from_secs(u64::from(u32::MAX)),
        };
        let prepared = match handler.prepare(&change, arrival) {
            Ok(prepared) => prepared,
            Err(rejection) => return Ok(Err(rejection)),
        };
        let Write::Upsert { row, data } = prepared.write else {
            unreachable!("an update prepares an upsert")
        };
        self.sql_of(handler).upsert(connection, &row, seq).await?;
        Ok(Ok(Effect {
            entity_type: handler.entity(),
            collection: handler.collection(),
            entity_id: entity_id.to_owned(),
            deleted: false,
            version: prepared.version,
            seq,
            data,
        }))
    }

    /// Stores `entity` as a live row at `version` and `seq`, without a detour through JSON:
    /// the row is encoded from the value, and the entity's JSON (with `version` as its
    /// `updated_at`) is serialised once, for the returned state. A field-merged entity's
    /// fields keep their versions, except those whose value differs from the stored live
    /// row's, which get `version` (see [`merge`](crate::merge)). Returns the entity as
    /// stored and its state; a rejection when its id is not one the wire accepts.
    pub async fn put<T: Syncable>(
        &self,
        connection: &mut SqliteConnection,
        entity: &T,
        version: Version,
        seq: u64,
    ) -> Result<Result<(T, Effect), Rejection>> {
        let Some(handler) = self.registry.get(T::ENTITY) else {
            return Ok(Err(Rejection::new(
                crate::outcome::Reason::UnknownEntity,
                format!("{} is not registered", T::ENTITY),
            )));
        };
        let entity_id = entity.id();
        if let Err(rejection) = crate::entity::check_entity_id(&entity_id) {
            return Ok(Err(rejection));
        }
        let mut data = match serde_json::to_value(entity) {
            Ok(data) => data,
            Err(error) => return Ok(Err(invalid(error.to_string()))),
        };
        let Some(object) = data.as_object_mut() else {
            return Ok(Err(invalid(
                "the entity does not serialise to a JSON object".to_owned(),
            )));
        };
        object.insert(
            T::UPDATED_AT_KEY.to_owned(),
            Json::String(version.to_string()),
        );
        let mut row = entity.to_row();
        row[handler.position(Role::UpdatedAt)] = Value::Timestamp(version.to_datetime());
        if let Some(fields) = T::MERGE.fields() {
            // Each field keeps its version unless this edit changed its value.
            let previous = self
                .sql_of(handler)
                .load(handler, connection, &entity_id)
                .await?;
            let versions =
                crate::merge::local_versions::<T>(fields, previous.as_ref(), &row, version);
            object.insert(
                crate::merge::FIELD_VERSIONS_KEY.to_owned(),
                versions.clone(),
            );
            row.push(Value::Json(versions));
        }
        self.sql_of(handler).upsert(connection, &row, seq).await?;
        if T::MERGE.fields().is_some() {
            row.pop();
        }
        let stored = match T::from_row(row) {
            Ok(stored) => stored,
            Err(error) => return Ok(Err(invalid(error.to_string()))),
        };
        Ok(Ok((
            stored,
            Effect {
                entity_type: handler.entity(),
                collection: handler.collection(),
                entity_id,
                deleted: false,
                version,
                seq,
                data,
            },
        )))
    }

    /// The live rows of `query`'s entity that it selects, in its order. Fails with the
    /// query's mistake (see [`Query::check`]) before touching the database.
    pub async fn query(
        &self,
        connection: &mut SqliteConnection,
        query: &Query,
    ) -> Result<Result<Vec<Effect>, query::Error>> {
        if let Err(error) = query.check() {
            return Ok(Err(error));
        }
        let Some(handler) = self.registry.get(query.entity()) else {
            return Ok(Ok(Vec::new()));
        };
        self.sql_of(handler)
            .query(handler, connection, query)
            .await
            .map(Ok)
    }

    /// Marks `entity_id` deleted at `version`, keeping a tombstone.
    pub async fn delete(
        &self,
        connection: &mut SqliteConnection,
        entity_type: &str,
        entity_id: &str,
        version: Version,
        seq: u64,
    ) -> Result<bool> {
        let Some(handler) = self.registry.get(entity_type) else {
            return Ok(false);
        };
        self.sql_of(handler)
            .mark_deleted(connection, entity_id, version, seq)
            .await?;
        Ok(true)
    }

    /// The stored state of one entity, live or tombstone.
    pub async fn get(
        &self,
        connection: &mut SqliteConnection,
        entity_type: &str,
        entity_id: &str,
    ) -> Result<Option<Effect>> {
        let Some(handler) = self.registry.get(entity_type) else {
            return Ok(None);
        };
        self.sql_of(handler)
            .load(handler, connection, entity_id)
            .await
    }

    /// Every live row of `entity_type`, ordered by id.
    pub async fn list(
        &self,
        connection: &mut SqliteConnection,
        entity_type: &str,
    ) -> Result<Vec<Effect>> {
        let Some(handler) = self.registry.get(entity_type) else {
            return Ok(Vec::new());
        };
        self.sql_of(handler).live(handler, connection).await
    }

    /// Removes every row of every entity table (a full reload starts from nothing).
    pub async fn clear(&self, connection: &mut SqliteConnection) -> Result<()> {
        for handler in self.registry.iter() {
            sqlx::query(&format!("DELETE FROM \"{}\"", handler.table()))
                .execute(&mut *connection)
                .await?;
        }
        Ok(())
    }

    pub(super) fn sql_of(&self, handler: &dyn Handler) -> &TableSql {
        &self.sql[handler.table()]
    }
}

fn invalid(detail: String) -> Rejection {
    Rejection::new(Reason::ValidationError, detail)
}
