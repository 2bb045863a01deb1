//! Partial sync in a session: `subscribe` and `unsubscribe` (`docs/partial-sync.md`).
//!
//! A subscribe is checked at once (the stream exists, the role suffices, the keys fit the
//! partition column and their number the limit); a refusal is a `subscription_error` for
//! that subscription alone. An accepted one holds its buckets in the hub first, so no
//! change committed from then on is missed, and then catches up by index scans of each
//! bucket: pages of puts, leaves and tombstones after the client's cursor, or a
//! `bucket_snapshot` per bucket when the client has no usable cursor. A `checkpoint` naming
//! the subscription ends its catch-up.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::engine::access::allowed_keys;
use crate::entity::stream::{Keys, StreamSpec};
use crate::hub::Holder;
use crate::protocol::{
    BucketRemoved, BucketSnapshot, Checkpoint, RemovedReason, Reply, ServerMessage, StreamChange,
    StreamPage, Subscribed, SubscriptionError, SubscriptionErrorCode,
};
use crate::store::{Store, catch_up};
use crate::tenant::TenantId;

/// The default most buckets one subscription may hold.
pub const DEFAULT_MAX_BUCKETS: usize = 1_000;
/// The default most subscriptions one session may hold.
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 64;
/// The most changes of one `stream_page`.
const PAGE: usize = 500;

/// One accepted subscription of a session.
pub(super) struct Held {
    pub(super) spec: StreamSpec,
    pub(super) keys: Vec<String>,
    /// The keys the client asked for (for keys intersected with the principal's).
    parameters: Vec<String>,
    /// The frames of the subscription (`bucket_removed`, `bucket_snapshot`, `stream_page`)
    /// sent since its `subscribed`: each checkpoint naming it carries the count, so a
    /// client missing one, even with a checkpoint between, can tell.
    frames: u64,
}

/// A subscribe accepted, waiting for its catch-up read.
pub(super) struct CatchUp {
    pub(super) id: String,
    pub(super) spec: StreamSpec,
    /// The entity's stream index, for the filter.
    pub(super) index: usize,
    /// The keys: the client's parameters, until the principal's resolve them.
    pub(super) keys: Vec<String>,
    /// The client's cursor, if it is usable under this definition.
    pub(super) cursor: Option<u64>,
    /// The buckets the client says it holds.
    client_buckets: Vec<String>,
    same_definition: bool,
    context: Context,
}

/// What a catch-up needs of its session.
#[derive(Clone)]
pub(super) struct Context {
    pub(super) subscriptions: Arc<Mutex<Subscriptions>>,
    pub(super) holder: Holder,
    pub(super) subject: String,
    pub(super) limits: StreamLimits,
}

/// What the session keeps of its subscriptions, shared with their catch-ups.
#[derive(Default)]
pub(super) struct Subscriptions {
    pub(super) by_id: BTreeMap<String, Held>,
}

impl Subscriptions {
    /// The entities this session takes through streams.
    pub(super) fn entities(&self) -> Vec<&'static str> {
        let mut entities: Vec<&'static str> =
            self.by_id.values().map(|held| held.spec.entity).collect();
        entities.sort_unstable();
        entities.dedup();
        entities
    }
}

/// Locks the session's subscriptions; every update leaves them consistent.
pub(super) fn lock(shared: &Mutex<Subscriptions>) -> MutexGuard<'_, Subscriptions> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The buckets a finished catch-up covered, and up to which cursor: a live page of one of
/// them at or below it, queued while the catch-up was read, is a duplicate.
#[derive(Default)]
pub(super) struct Covered {
    through: HashMap<(String, String), u64>,
    /// The highest cursor of `through`: once a live message passes it, no later one can be
    /// at or below it (the hub delivers in sequence order), and `through` is forgotten.
    highest: u64,
}

impl Covered {
    /// Notes what a catch-up's replies covered.
    pub(super) fn add(&mut self, replies: &[Reply]) {
        let mut buckets = Vec::new();
        let mut cursor = None;
        for reply in replies {
            match reply {
                Reply::Message(ServerMessage::BucketSnapshot(snapshot)) => {
                    buckets.push((snapshot.stream.clone(), snapshot.bucket.clone()));
                }
                Reply::Message(ServerMessage::StreamPage(page)) => buckets.extend(
                    page.changes
                        .iter()
                        .map(|change| (change.stream.clone(), change.bucket.clone())),
                ),
                Reply::Message(ServerMessage::Subscribed(subscribed)) => buckets.extend(
                    subscribed
                        .buckets
                        .iter()
                        .map(|bucket| (subscribed.stream.clone(), bucket.clone())),
                ),
                Reply::Message(ServerMessage::Checkpoint(checkpoint)) => {
                    cursor = Some(checkpoint.cursor);
                }
                _ => {}
            }
        }
        let Some(cursor) = cursor else { return };
        self.highest = self.highest.max(cursor);
        for bucket in buckets {
            let through = self.through.entry(bucket).or_default();
            *through = (*through).max(cursor);
        }
    }

    /// Whether `message`, a hub delivery, is a live page the catch-up already covered.
    /// Costs a parse only while a catch-up's coverage is remembered, and only of live
    /// pages and checkpoints.
    pub(super) fn stale(&mut self, message: &str) -> bool {
        if self.through.is_empty() {
            return false;
        }
        if message.starts_with(r#"{"type":"checkpoint""#) {
            if let Ok(ServerMessage::Checkpoint(checkpoint)) = ServerMessage::decode(message)
                && checkpoint.cursor > self.highest
            {
                self.through.clear();
            }
            return false;
        }
        if !message.starts_with(r#"{"type":"stream_page""#) {
            return false;
        }
        let Ok(ServerMessage::StreamPage(page)) = ServerMessage::decode(message) else {
            return false;
        };
        page.changes.iter().all(|change| {
            self.through
                .get(&(change.stream.clone(), change.bucket.clone()))
                .is_some_and(|through| change.seq <= *through)
        })
    }
}

/// The limits of partial sync for a session.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// The most buckets (keys) one subscription may hold, counting only the keys the
    /// principal may see. Default 1,000.
    pub max_buckets: usize,
    /// The most subscriptions one session may hold. Default 64.
    pub max_subscriptions: usize,
}

impl Default for StreamLimits {
    fn default() -> StreamLimits {
        StreamLimits {
            max_buckets: DEFAULT_MAX_BUCKETS,
            max_subscriptions: DEFAULT_MAX_SUBSCRIPTIONS,
        }
    }
}

/// The arguments of one `subscribe`.
pub(super) struct Request {
    pub(super) id: String,
    pub(super) stream: String,
    pub(super) parameters: Vec<String>,
    pub(super) definition: Option<String>,
    pub(super) cursor: Option<u64>,
    pub(super) buckets: Vec<String>,
}

/// Checks a subscribe. A stream of client-chosen keys holds its buckets in the hub at once;
/// one keyed by the principal holds them once its catch-up has resolved them.
pub(super) fn accept(
    registry: &crate::entity::Registry,
    role: Option<&str>,
    context: Context,
    request: Request,
) -> Result<CatchUp, SubscriptionError> {
    let refuse = |code, message: String| SubscriptionError {
        id: request.id.clone(),
        stream: request.stream.clone(),
        code,
        message,
    };
    if request.id.is_empty() || request.id.len() > 128 {
        return Err(refuse(
            SubscriptionErrorCode::InvalidParameters,
            "a subscription id is 1 to 128 bytes".to_owned(),
        ));
    }
    let Some((handler, index)) = registry.stream(&request.stream) else {
        return Err(refuse(
            SubscriptionErrorCode::UnknownStream,
            format!("no stream named {:?} is declared", request.stream),
        ));
    };
    let spec = handler.streams()[index].as_seen_by(role);
    if let Some(least) = spec.role
        && !role_reaches(role, least)
    {
        return Err(refuse(
            SubscriptionErrorCode::Forbidden,
            format!(
                "the stream {} needs the role {least} or above; this session has {}",
                spec.name,
                role.unwrap_or("none")
            ),
        ));
    }
    let limits = context.limits;
    let mut held = lock(&context.subscriptions);
    let replacing = held.by_id.contains_key(&request.id);
    if !replacing && held.by_id.len() >= limits.max_subscriptions {
        return Err(refuse(
            SubscriptionErrorCode::TooManySubscriptions,
            format!(
                "a session holds at most {} subscriptions",
                limits.max_subscriptions
            ),
        ));
    }
    let mut keys = request.parameters.clone();
    keys.sort();
    keys.dedup();
    // Keys of the principal are counted once resolved: only those it may see.
    if !spec.keys.restricts() && keys.len() > limits.max_buckets {
        return Err(too_many(&request.id, &spec, keys.len(), limits.max_buckets));
    }
    if let Some(bad) = keys.iter().find(|key| !spec.accepts_key(key)) {
        return Err(refuse(
            SubscriptionErrorCode::InvalidParameters,
            format!(
                "the key {bad:?} is not a value of the column {} ({})",
                spec.by,
                spec.key_type.name()
            ),
        ));
    }
    let same_definition = request.definition.as_deref() == Some(spec.definition.as_str());
    // A replaced subscription's buckets that no other subscription of the stream holds.
    if let Some(previous) = held.by_id.remove(&request.id) {
        let kept = if spec.keys.restricts() {
            &[][..]
        } else {
            &keys[..]
        };
        release_unheld(&held, &context.holder, &previous, kept);
    }
    let stream: &'static str = handler.streams()[index].name;
    if spec.keys.restricts() {
        // Until its keys are resolved the entity reaches this session through nothing.
        context.holder.restrict(handler.entity());
    } else {
        context.holder.hold(handler.entity(), stream, &keys);
    }
    held.by_id.insert(
        request.id.clone(),
        Held {
            spec: spec.clone(),
            keys: if spec.keys.restricts() {
                Vec::new()
            } else {
                keys.clone()
            },
            parameters: keys.clone(),
            frames: 0,
        },
    );
    drop(held);
    Ok(CatchUp {
        id: request.id,
        spec,
        index,
        keys,
        cursor: request.cursor.filter(|_| same_definition),
        client_buckets: request.buckets,
        same_definition,
        context,
    })
}

/// The answer to a refused subscribe: when the role is too low for a stream the client
/// held buckets of (its role changed), a `bucket_removed` (reason `role`) for each, then
/// the `subscription_error`.
pub(super) fn refused(refusal: SubscriptionError, held: Vec<String>) -> Vec<Reply> {
    let mut replies: Vec<Reply> = Vec::new();
    if refusal.code == SubscriptionErrorCode::Forbidden {
        for bucket in held {
            replies.push(
                ServerMessage::BucketRemoved(BucketRemoved {
                    subscription: refusal.id.clone(),
                    stream: refusal.stream.clone(),
                    bucket,
                    reason: RemovedReason::Role,
                    ttl_secs: None,
                })
                .into(),
            );
        }
    }
    replies.push(ServerMessage::SubscriptionError(refusal).into());
    replies
}

fn too_many(id: &str, spec: &StreamSpec, count: usize, max: usize) -> SubscriptionError {
    SubscriptionError {
        id: id.to_owned(),
        stream: spec.name.to_owned(),
        code: SubscriptionErrorCode::TooManyBuckets,
        message: format!(
            "the subscription asks for {count} buckets of {}; at most {max} are allowed",
            spec.name
        ),
    }
}

/// Ends a subscription: its buckets that no other subscription holds leave the hub, and
/// the client is told, with the TTL it may keep the rows for.
pub(super) fn unsubscribe(
    shared: &Mutex<Subscriptions>,
    holder: &Holder,
    id: &str,
    ttl_secs: Option<u64>,
) -> Vec<Reply> {
    let mut held = lock(shared);
    let Some(previous) = held.by_id.remove(id) else {
        return vec![
            ServerMessage::Error(crate::protocol::Error {
                message: format!("unknown subscription {id:?}"),
                original_type: Some("unsubscribe".to_owned()),
            })
            .into(),
        ];
    };
    release_unheld(&held, holder, &previous, &[]);
    previous
        .keys
        .iter()
        .map(|key| {
            ServerMessage::BucketRemoved(BucketRemoved {
                subscription: id.to_owned(),
                stream: previous.spec.name.to_owned(),
                bucket: key.clone(),
                reason: RemovedReason::Unsubscribed,
                ttl_secs,
            })
            .into()
        })
        .collect()
}

/// Releases the buckets of `previous` that neither `kept` nor another subscription of its
/// stream holds.
fn release_unheld(held: &Subscriptions, holder: &Holder, previous: &Held, kept: &[String]) {
    let released: Vec<String> = previous
        .keys
        .iter()
        .filter(|key| !kept.contains(key))
        .filter(|key| {
            !held
                .by_id
                .values()
                .any(|other| other.spec.name == previous.spec.name && other.keys.contains(key))
        })
        .cloned()
        .collect();
    holder.release(previous.spec.name, &released);
}

/// The keys a subscription of `spec` holds for `subject`, given the client's `parameters`
/// and the principal's `allowed` keys.
fn resolve(spec: &StreamSpec, parameters: &[String], allowed: Vec<String>) -> Vec<String> {
    match spec.keys {
        Keys::Params => parameters.to_vec(),
        Keys::Principal => allowed,
        Keys::Both => allowed
            .into_iter()
            .filter(|key| parameters.binary_search(key).is_ok())
            .collect(),
    }
}

/// Resolves the keys of every principal-keyed subscription of the session again, after
/// its subject's memberships changed: a lost bucket is released and answered with
/// `bucket_removed` (reason `revoked`), a new one is held and sent as a `bucket_snapshot`,
/// and each changed subscription ends with its `checkpoint`.
pub(super) async fn resolve_again<S: Store>(
    store: &S,
    tenant: &TenantId,
    context: Context,
) -> crate::Result<Vec<Reply>> {
    let restricted: Vec<(String, StreamSpec, Vec<String>)> = lock(&context.subscriptions)
        .by_id
        .iter()
        .filter(|(_, held)| held.spec.keys.restricts())
        .map(|(id, held)| (id.clone(), held.spec.clone(), held.parameters.clone()))
        .collect();
    let mut replies = Vec::new();
    for (id, spec, parameters) in restricted {
        let allowed = allowed_keys(store, tenant, &spec, &context.subject).await?;
        let wanted = resolve(&spec, &parameters, allowed);
        let Some((handler, index)) = store.registry().stream(spec.name) else {
            continue;
        };
        let (lost, gained, frames) = {
            let mut held = lock(&context.subscriptions);
            let Some(entry) = held.by_id.get(&id) else {
                continue;
            };
            let lost: Vec<String> = entry
                .keys
                .iter()
                .filter(|key| wanted.binary_search(key).is_err())
                .cloned()
                .collect();
            let gained: Vec<String> = wanted
                .iter()
                .filter(|key| entry.keys.binary_search(key).is_err())
                .cloned()
                .collect();
            if lost.is_empty() && gained.is_empty() {
                continue;
            }
            if wanted.len() > context.limits.max_buckets {
                // Over the limit now: the subscription ends, as a refused subscribe would.
                let previous = held.by_id.remove(&id).expect("looked up above");
                release_unheld(&held, &context.holder, &previous, &[]);
                replies.push(
                    ServerMessage::SubscriptionError(too_many(
                        &id,
                        &spec,
                        wanted.len(),
                        context.limits.max_buckets,
                    ))
                    .into(),
                );
                continue;
            }
            let previous = Held {
                spec: spec.clone(),
                keys: lost.clone(),
                parameters: Vec::new(),
                frames: 0,
            };
            let mut frames = 0;
            if let Some(entry) = held.by_id.get_mut(&id) {
                entry.keys = wanted.clone();
                entry.frames += (lost.len() + gained.len()) as u64;
                frames = entry.frames;
            }
            release_unheld(&held, &context.holder, &previous, &[]);
            context
                .holder
                .hold(handler.entity(), handler.streams()[index].name, &gained);
            (lost, gained, frames)
        };
        for bucket in lost {
            replies.push(
                ServerMessage::BucketRemoved(BucketRemoved {
                    subscription: id.clone(),
                    stream: spec.name.to_owned(),
                    bucket,
                    reason: RemovedReason::Revoked,
                    ttl_secs: None,
                })
                .into(),
            );
        }
        let plan = CatchUp {
            id: id.clone(),
            spec: spec.clone(),
            index,
            keys: gained.clone(),
            cursor: None,
            client_buckets: Vec::new(),
            same_definition: true,
            context: context.clone(),
        };
        let mut checkpoint = u64::MAX;
        for key in &gained {
            let (rows, read_at) = catch_up::bucket_rows(store, tenant, plan.spec.name, key).await?;
            checkpoint = checkpoint.min(read_at);
            replies.push(
                ServerMessage::BucketSnapshot(BucketSnapshot {
                    subscription: id.clone(),
                    stream: spec.name.to_owned(),
                    bucket: key.clone(),
                    entity_type: spec.entity.to_owned(),
                    cursor: read_at,
                    rows,
                })
                .into(),
            );
        }
        if checkpoint == u64::MAX {
            checkpoint = store.cursor(tenant).await?;
        }
        replies.push(
            ServerMessage::Checkpoint(Checkpoint {
                cursor: checkpoint,
                subscription: Some(id),
                pages: Some(frames),
            })
            .into(),
        );
    }
    Ok(replies)
}

/// Roles in increasing order of power; an unknown role reaches only itself.
const ROLES: [&str; 4] = ["viewer", "member", "editor", "owner"];

/// Whether `role` is `least` or above: viewer < member < editor < owner; a role outside
/// that list reaches only itself.
pub fn role_reaches(role: Option<&str>, least: &str) -> bool {
    let Some(role) = role else { return false };
    match (
        ROLES.iter().position(|known| *known == role),
        ROLES.iter().position(|known| *known == least),
    ) {
        (Some(have), Some(need)) => have >= need,
        _ => role == least,
    }
}

/// The catch-up of one accepted subscription: `subscribed`, any `bucket_removed`, then
/// pages after the cursor or a snapshot per bucket, then its `checkpoint`.
pub(super) async fn catch_up<S: Store>(
    store: &S,
    tenant: &TenantId,
    plan: CatchUp,
) -> crate::Result<Vec<Reply>> {
    let handler = store
        .registry()
        .get(plan.spec.entity)
        .expect("the stream's entity is registered");
    let mut plan = plan;
    let mut allowed = None;
    if plan.spec.keys.restricts() {
        let keys = allowed_keys(store, tenant, &plan.spec, &plan.context.subject).await?;
        let resolved = resolve(&plan.spec, &plan.keys, keys.clone());
        let max = plan.context.limits.max_buckets;
        let mut held = lock(&plan.context.subscriptions);
        // A newer subscribe of this id replaced this one meanwhile: it answers instead.
        if held.by_id.get(&plan.id).is_none_or(|entry| {
            entry.spec.definition != plan.spec.definition || !entry.keys.is_empty()
        }) {
            return Ok(Vec::new());
        }
        if resolved.len() > max {
            held.by_id.remove(&plan.id);
            return Ok(vec![
                ServerMessage::SubscriptionError(too_many(
                    &plan.id,
                    &plan.spec,
                    resolved.len(),
                    max,
                ))
                .into(),
            ]);
        }
        let stream = handler.streams()[plan.index].name;
        plan.context
            .holder
            .hold(handler.entity(), stream, &resolved);
        if let Some(entry) = held.by_id.get_mut(&plan.id) {
            entry.keys = resolved.clone();
        }
        drop(held);
        plan.keys = resolved;
        allowed = Some(keys);
    }
    let removed_buckets: Vec<(String, RemovedReason)> = plan
        .client_buckets
        .iter()
        .filter(|bucket| !plan.same_definition || plan.keys.binary_search(bucket).is_err())
        .map(|bucket| {
            let reason = if !plan.same_definition {
                RemovedReason::Definition
            } else if allowed
                .as_ref()
                .is_some_and(|allowed| allowed.binary_search(bucket).is_err())
            {
                RemovedReason::Revoked
            } else {
                RemovedReason::Unsubscribed
            };
            (bucket.clone(), reason)
        })
        .collect();
    let mut replies: Vec<Reply> = Vec::new();
    let mut removed: Vec<Reply> = removed_buckets
        .iter()
        .map(|(bucket, reason)| {
            ServerMessage::BucketRemoved(BucketRemoved {
                subscription: plan.id.clone(),
                stream: plan.spec.name.to_owned(),
                bucket: bucket.clone(),
                reason: *reason,
                ttl_secs: None,
            })
            .into()
        })
        .collect();

    // Incremental from the cursor, unless a bucket's cursor is past the purge horizon:
    // then the whole subscription reloads (and the client sweeps what it no longer gets).
    let mut changes: Vec<StreamChange> = Vec::new();
    let mut checkpoint = u64::MAX;
    let mut reset = plan.cursor.is_none();
    // A resumed subscription catches up the buckets the client holds; a bucket it does not
    // hold yet (asked for since, or granted while it was offline) has rows older than the
    // cursor too, so it comes whole.
    let (known, fresh): (Vec<&String>, Vec<&String>) = plan
        .keys
        .iter()
        .partition(|key| plan.client_buckets.contains(key));
    if let Some(cursor) = plan.cursor {
        for key in &known {
            let read = catch_up::bucket_changes(store, tenant, plan.spec.name, key, cursor).await?;
            if read.reset {
                reset = true;
                changes.clear();
                break;
            }
            checkpoint = checkpoint.min(read.cursor);
            changes.extend(read.changes);
        }
    }
    let mut pages: Vec<Reply> = Vec::new();
    let whole: Vec<&String> = if reset {
        checkpoint = u64::MAX;
        plan.keys.iter().collect()
    } else {
        changes.sort_by_key(|change| change.seq);
        let count = changes.len().div_ceil(PAGE).max(1);
        let mut chunks = changes.chunks(PAGE);
        for page in 0..count {
            let chunk = chunks.next().unwrap_or_default();
            pages.push(
                ServerMessage::StreamPage(StreamPage {
                    subscription: Some(plan.id.clone()),
                    changes: chunk.to_vec(),
                    has_more: page + 1 < count,
                })
                .into(),
            );
        }
        fresh
    };
    for key in whole {
        let (rows, read_at) = catch_up::bucket_rows(store, tenant, plan.spec.name, key).await?;
        checkpoint = checkpoint.min(read_at);
        pages.push(
            ServerMessage::BucketSnapshot(BucketSnapshot {
                subscription: plan.id.clone(),
                stream: plan.spec.name.to_owned(),
                bucket: key.clone(),
                entity_type: plan.spec.entity.to_owned(),
                cursor: read_at,
                rows,
            })
            .into(),
        );
    }
    if checkpoint == u64::MAX {
        checkpoint = store.cursor(tenant).await?;
    }
    replies.push(
        ServerMessage::Subscribed(Subscribed {
            id: plan.id.clone(),
            stream: plan.spec.name.to_owned(),
            definition: plan.spec.definition.clone(),
            buckets: plan.keys.clone(),
            cursor: if reset { 0 } else { plan.cursor.unwrap_or(0) },
        })
        .into(),
    );
    // The checkpoint counts the frames between `subscribed` and itself, so that a client
    // missing one of them catches up again instead of moving its cursor; re-resolutions
    // count on from there.
    let frames = (removed.len() + pages.len()) as u64;
    if let Some(entry) = lock(&plan.context.subscriptions).by_id.get_mut(&plan.id) {
        entry.frames = frames;
    }
    replies.append(&mut removed);
    replies.append(&mut pages);
    replies.push(
        ServerMessage::Checkpoint(Checkpoint {
            cursor: checkpoint,
            subscription: Some(plan.id),
            pages: Some(frames),
        })
        .into(),
    );
    Ok(replies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_rank_viewer_member_editor_owner() {
        assert!(role_reaches(Some("owner"), "viewer"));
        assert!(role_reaches(Some("editor"), "editor"));
        assert!(!role_reaches(Some("viewer"), "editor"));
        assert!(!role_reaches(None, "viewer"));
        assert!(role_reaches(Some("auditor"), "auditor"));
        assert!(!role_reaches(Some("auditor"), "viewer"));
    }
}
