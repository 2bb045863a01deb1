//! Who may see and write the rows of a stream keyed by the principal: the keys its
//! membership entity gives a subject, and the refusal of writes outside them.
//!
//! An entity with such a stream is *restricted*: a client receives it only through the
//! stream, and may write only rows whose partition key, before and after the change, is
//! one of its keys. The server's own code ([`Actor::server`]) is not bound by this, nor
//! are the roles the stream names in `whole` ([`StreamSpec::binds`]).

use std::collections::HashMap;

use crate::change::Change;
use crate::entity::Actor;
use crate::entity::stream::StreamSpec;
use crate::outcome::{Reason, Rejection};
use crate::store::Store;
use crate::tenant::TenantId;

/// The rows read per round of a membership lookup.
const ROUND: usize = 1_000;

/// The keys `subject` may see through `spec`'s membership hop, sorted: one bucket read of
/// the membership entity by its member column.
pub(crate) async fn allowed_keys<S: Store>(
    store: &S,
    tenant: &TenantId,
    spec: &StreamSpec,
    subject: &str,
) -> crate::Result<Vec<String>> {
    let mut keys: Vec<String> = memberships(store, tenant, spec, subject)
        .await?
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// `subject`'s live membership rows of `spec`'s hop, as (allowed key, membership row id).
async fn memberships<S: Store>(
    store: &S,
    tenant: &TenantId,
    spec: &StreamSpec,
    subject: &str,
) -> crate::Result<Vec<(String, String)>> {
    let Some(via) = spec.via else {
        return Ok(Vec::new());
    };
    let mut lookup = via.lookup();
    if let Some(column) = store.registry().get(via.entity).and_then(|handler| {
        handler
            .columns()
            .iter()
            .find(|column| column.name == via.member_column)
    }) {
        lookup.key_type = column.sql_type;
    }
    let mut found = Vec::new();
    if !lookup.accepts_key(subject) {
        return Ok(found);
    }
    let mut after = 0;
    loop {
        let feed = store
            .bucket_feed(tenant, &lookup, subject, after, ROUND)
            .await?;
        let done = feed.rows.len() < ROUND;
        for row in feed.rows {
            after = after.max(row.seq);
            if !row.deleted
                && (via.member)(&row.data).as_deref() == Some(subject)
                && let Some(key) = (via.key)(&row.data)
            {
                found.push((key, row.entity_id));
            }
        }
        if done {
            return Ok(found);
        }
    }
}

/// Why a principal has a row or not: the answer of [`explain`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Explanation {
    /// The entity's wire name.
    pub entity: &'static str,
    /// The row's id.
    pub id: String,
    /// Whether the row exists (live) on the server.
    pub exists: bool,
    /// Whether the entity reaches clients only through streams keyed by the principal.
    pub restricted: bool,
    /// One verdict per stream of the entity.
    pub streams: Vec<StreamVerdict>,
}

/// What one stream says about a row and a principal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StreamVerdict {
    /// The stream.
    pub stream: &'static str,
    /// The row's partition key, `None` when it is NULL (or the row does not exist).
    pub key: Option<String>,
    /// Whether the stream's filter keeps the row (true without a filter).
    pub filter_passes: bool,
    /// The filter's name, empty without one.
    pub filter: &'static str,
    /// For a stream keyed by the principal: the id of the membership row that grants the
    /// key, `None` when none does. Always `None` for client-chosen keys.
    pub granted_by: Option<String>,
    /// The stream's least role and whether the principal's role reaches it.
    pub role: Option<&'static str>,
    /// Whether the role gate lets the principal subscribe.
    pub role_passes: bool,
    /// Whether a subscription of the principal to this stream that asks for the key holds
    /// the row.
    pub visible: bool,
}

impl Explanation {
    /// Whether some stream (or, for an entity that is not restricted, the whole tenant)
    /// gives the principal the row.
    pub fn visible(&self) -> bool {
        self.exists && (!self.restricted || self.streams.iter().any(|verdict| verdict.visible))
    }
}

/// Why `actor` has, or has not, the row `entity_type`/`id` of `tenant`: per stream of its
/// entity, the row's key, the filter's verdict, the membership row that allowed the key,
/// and the role gate. `None` when no entity of that name is registered.
pub async fn explain<S: Store>(
    store: &S,
    actor: &Actor,
    tenant: &TenantId,
    entity_type: &str,
    id: &str,
) -> crate::Result<Option<Explanation>> {
    let Some(handler) = store.registry().get(entity_type) else {
        return Ok(None);
    };
    let state = store
        .get_state(tenant, handler.entity(), id)
        .await?
        .filter(|state| !state.deleted);
    let mut streams = Vec::new();
    for (index, declared) in handler.streams().iter().enumerate() {
        let spec = &declared.as_seen_by(actor.role());
        let key = state
            .as_ref()
            .and_then(|state| handler.partition_key(index, &state.data));
        let filter_passes = state
            .as_ref()
            .is_some_and(|state| key.is_some() && handler.bucket(index, &state.data) == key);
        let granted_by = match (&key, spec.keys.restricts()) {
            (Some(key), true) => memberships(store, tenant, spec, actor.subject())
                .await?
                .into_iter()
                .find(|(allowed, _)| allowed == key)
                .map(|(_, membership)| membership),
            _ => None,
        };
        let role_passes = spec
            .role
            .is_none_or(|least| crate::session::role_reaches(actor.role(), least));
        let visible =
            filter_passes && role_passes && (!spec.keys.restricts() || granted_by.is_some());
        streams.push(StreamVerdict {
            stream: spec.name,
            key,
            filter_passes,
            filter: spec.filter,
            granted_by,
            role: spec.role,
            role_passes,
            visible,
        });
    }
    Ok(Some(Explanation {
        entity: handler.entity(),
        id: id.to_owned(),
        exists: state.is_some(),
        restricted: handler
            .streams()
            .iter()
            .any(|spec| spec.binds(actor.role())),
        streams,
    }))
}

/// Whether `changes` by `actor` touch an entity with a stream keyed by the principal, so
/// the writer must check them with [`stream_refusals`].
pub(crate) fn needs_check(
    registry: &crate::entity::Registry,
    actor: &Actor,
    changes: &[Change],
) -> bool {
    !actor.is_server()
        && changes.iter().any(|change| {
            registry.get(&change.entity_type).is_some_and(|handler| {
                handler
                    .streams()
                    .iter()
                    .any(|stream| stream.binds(actor.role()))
            })
        })
}

/// The refusals, one per change (or none at all), of writes by `actor` to rows of
/// restricted entities outside the keys its memberships give: the row's partition key as
/// stored and as proposed must both be allowed. A store read per restricted entity id, and
/// one membership lookup per stream.
pub(crate) async fn stream_refusals<S: Store>(
    store: &S,
    actor: &Actor,
    tenant: &TenantId,
    changes: &[Change],
) -> crate::Result<Vec<Option<Rejection>>> {
    let registry = store.registry();
    if actor.is_server() {
        return Ok(Vec::new());
    }
    let mut allowed: HashMap<&'static str, Vec<String>> = HashMap::new();
    let mut refusals = Vec::with_capacity(changes.len());
    let mut any = false;
    for change in changes {
        let Some(handler) = registry.get(&change.entity_type) else {
            refusals.push(None);
            continue;
        };
        let mut refusal = None;
        for (index, spec) in handler.streams().iter().enumerate() {
            if !spec.binds(actor.role()) {
                continue;
            }
            if !allowed.contains_key(spec.name) {
                let keys = allowed_keys(store, tenant, spec, actor.subject()).await?;
                allowed.insert(spec.name, keys);
            }
            let keys = &allowed[spec.name];
            let stored = store
                .get_state(tenant, handler.entity(), &change.entity_id)
                .await?
                .filter(|state| !state.deleted)
                .and_then(|state| handler.partition_key(index, &state.data));
            let proposed = change
                .payload
                .as_ref()
                .filter(|_| change.operation != crate::change::Operation::Delete)
                .and_then(|payload| handler.partition_key(index, payload));
            if let Some(key) = [stored, proposed]
                .into_iter()
                .flatten()
                .find(|key| keys.binary_search(key).is_err())
            {
                refusal = Some(Rejection::new(
                    Reason::Forbidden,
                    format!(
                        "{} {}: the key {key:?} of the stream {} is not one of yours",
                        handler.entity(),
                        change.entity_id,
                        spec.name
                    ),
                ));
                break;
            }
        }
        any |= refusal.is_some();
        refusals.push(refusal);
    }
    Ok(if any { refusals } else { Vec::new() })
}
