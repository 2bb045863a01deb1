//! Who may see and write the rows of a stream keyed by the principal: the keys its
//! membership entity gives a subject, and the refusal of writes outside them.
//!
//! An entity with such a stream is *restricted*: a client receives it only through the
//! stream, and may write only rows whose partition key, before and after the change, is
//! one of its keys. The server's own code ([`Actor::server`]) is not bound by this.

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
    let mut keys = Vec::new();
    if !lookup.accepts_key(subject) {
        return Ok(keys);
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
                keys.push(key);
            }
        }
        if done {
            break;
        }
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
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
    if actor.is_server() || registry.restricted().is_empty() {
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
            if !spec.keys.restricts() {
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
