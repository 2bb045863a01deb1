//! Typed queries on the replica by indexed columns, and live queries that re-emit their
//! result.
//!
//! [`Client::query`] starts a [`Query`] of one entity type: filters
//! by equality ([`eq`](Query::eq)) and range ([`range`](Query::range)) on the fields
//! marked `#[sync(index)]` (and the id), an order ([`order_by`](Query::order_by)), a
//! [`limit`](Query::limit). A filter or an order on a field without an index is a clear
//! error, [`Error::Query`], when the query runs: the replica never
//! scans a table for it. [`fetch`](Query::fetch) reads the result once;
//! [`watch`](Query::watch) returns a [`LiveQuery`] that yields it
//! now and again whenever a change (local or remote) touches it, including one that moves
//! a row out of it. The example is in the [crate docs](crate).

use std::marker::PhantomData;
use std::ops::RangeBounds;

use sync_core::Syncable;
use sync_core::entity::Value;
use sync_core::outcome::Effect;
use sync_core::store::query::Query as Spec;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::watch::LiveQuery;

/// A query of the live entities of type `T` in the replica (see the [module](self)).
#[derive(Debug, Clone)]
#[must_use = "a query does nothing until it is fetched or watched"]
pub struct Query<T> {
    client: Client,
    spec: Spec,
    entity: PhantomData<fn() -> T>,
}

impl<T: Syncable> Query<T> {
    pub(crate) fn new(client: Client) -> Query<T> {
        Query {
            client,
            spec: Spec::new(T::ENTITY, T::COLUMNS),
            entity: PhantomData,
        }
    }

    /// Keeps entities whose `field` (the Rust field or its column name) equals `value`.
    pub fn eq(mut self, field: &str, value: impl Into<Value>) -> Query<T> {
        self.spec = self.spec.eq(field, value);
        self
    }

    /// Keeps entities whose `field` lies in `range`: `a..b`, `a..=b`, `a..` or `..b`.
    pub fn range<V: Into<Value> + Clone>(
        mut self,
        field: &str,
        range: impl RangeBounds<V>,
    ) -> Query<T> {
        self.spec = self.spec.range(field, range);
        self
    }

    /// Orders by `field`, ascending, then by id. Without an order, by id.
    pub fn order_by(mut self, field: &str) -> Query<T> {
        self.spec = self.spec.order_by(field, false);
        self
    }

    /// Orders by `field`, descending, then by id descending.
    pub fn order_by_desc(mut self, field: &str) -> Query<T> {
        self.spec = self.spec.order_by(field, true);
        self
    }

    /// Returns at most `limit` entities.
    pub fn limit(mut self, limit: usize) -> Query<T> {
        self.spec = self.spec.limit(limit);
        self
    }

    /// The entities the query selects now, in its order.
    pub async fn fetch(&self) -> Result<Vec<T>> {
        let effects = self.effects().await?;
        effects
            .into_iter()
            .map(|effect| crate::client::decode(effect.data, &effect.entity_id))
            .collect()
    }

    /// A live query: its result now, then again whenever a change touches it. Fails at
    /// once when the query names a field it cannot use.
    pub fn watch(self) -> Result<LiveQuery<T>> {
        self.check()?;
        Ok(LiveQuery::new(self))
    }

    pub(crate) fn check(&self) -> Result<()> {
        self.spec
            .check()
            .map_err(|error| Error::Query(error.to_string()))
    }

    /// Whether an entity's state could be in the result: `None` when the replica has to
    /// decide (a value that does not compare in memory).
    pub(crate) fn matches(&self, entity: &T) -> Option<bool> {
        self.spec.matches(&entity.to_row())
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The selected states, as the replica holds them.
    pub(crate) async fn effects(&self) -> Result<Vec<Effect>> {
        self.check()?;
        self.client.query_effects(&self.spec).await
    }
}
