//! What the engine, the sessions, the hub and the bus relay measure, through the
//! [`metrics`] facade: the names below, recorded wherever they happen, cost nothing until an
//! application installs a recorder (for example `sync_axum::metrics`, which renders them in
//! the Prometheus text format at `/metrics`).
//!
//! Every metric, its kind and its labels:
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `sync_sessions_open` | gauge | | sync sessions running on this node |
//! | `sync_changes_total` | counter | `outcome`: `applied`, `superseded`, `duplicate`, `rejected` | changes answered, by outcome |
//! | `sync_nacks_total` | counter | `reason`: a NACK reason (`validation_error`, `storage_error`, …) | changes NACKed, by reason |
//! | `sync_ack_latency_seconds` | histogram | | from a session handing a batch to its tenant's writer to the writer's answer (queueing and the commit) |
//! | `sync_group_commit_changes` | histogram | | changes in one group commit |
//! | `sync_store_commit_seconds` | histogram | `result`: `ok`, `error` | how long the store took to apply one group commit |
//! | `sync_hub_cutoffs_total` | counter | `reason`: `lagged` | sessions the hub cut off because their queue was full |
//! | `sync_bus_notices_total` | counter | `kind`: `committed`, `tenant_deleted`, `access_changed`, `resync` | what this node heard from the other nodes on the bus |
//! | `sync_bus_delivery_seconds` | histogram | | from a notice of another node's commit to its changes reaching this node's sessions (the bus lag on this side) |
//! | `sync_after_commit_dropped_total` | counter | | committed changes the after-commit rules did not hear of because their queue was full |
//!
//! ```
//! // Without a recorder, recording is a no-op.
//! sync_core::metrics::group_commit(12, std::time::Duration::from_millis(3), true);
//! assert_eq!(sync_core::metrics::SESSIONS_OPEN, "sync_sessions_open");
//! ```

use std::time::Duration;

use crate::outcome::{Outcome, Reason};

/// Gauge: sync sessions running on this node.
pub const SESSIONS_OPEN: &str = "sync_sessions_open";
/// Counter, label `outcome`: changes answered.
pub const CHANGES: &str = "sync_changes_total";
/// Counter, label `reason`: changes NACKed.
pub const NACKS: &str = "sync_nacks_total";
/// Histogram, seconds: a batch's wait for its writer's answer.
pub const ACK_LATENCY: &str = "sync_ack_latency_seconds";
/// Histogram: changes per group commit.
pub const GROUP_COMMIT: &str = "sync_group_commit_changes";
/// Histogram, seconds, label `result`: one group commit in the store.
pub const STORE_COMMIT: &str = "sync_store_commit_seconds";
/// Counter, label `reason`: sessions cut off by the hub.
pub const HUB_CUTOFFS: &str = "sync_hub_cutoffs_total";
/// Counter, label `kind`: notices heard on the bus.
pub const BUS_NOTICES: &str = "sync_bus_notices_total";
/// Histogram, seconds: from a remote notice to its changes' delivery to the hub.
pub const BUS_DELIVERY: &str = "sync_bus_delivery_seconds";

/// Counter: committed changes dropped from the after-commit rules' full queue.
pub const AFTER_COMMIT_DROPPED: &str = "sync_after_commit_dropped_total";

/// A session started (`true`) or ended (`false`).
pub fn session(started: bool) {
    let gauge = metrics::gauge!(SESSIONS_OPEN);
    if started {
        gauge.increment(1.0);
    } else {
        gauge.decrement(1.0);
    }
}

/// A change was answered with `outcome`.
pub fn outcome(outcome: &Outcome) {
    match outcome {
        Outcome::Applied { .. } => metrics::counter!(CHANGES, "outcome" => "applied").increment(1),
        Outcome::Superseded { .. } => {
            metrics::counter!(CHANGES, "outcome" => "superseded").increment(1);
        }
        Outcome::Duplicate { .. } => {
            metrics::counter!(CHANGES, "outcome" => "duplicate").increment(1);
        }
        Outcome::Rejected(rejection) => nack(rejection.reason),
    }
}

/// A change was NACKed for `reason`.
pub fn nack(reason: Reason) {
    metrics::counter!(CHANGES, "outcome" => "rejected").increment(1);
    metrics::counter!(NACKS, "reason" => reason.as_str()).increment(1);
}

/// A batch waited `elapsed` for its writer's answer.
pub fn ack_latency(elapsed: Duration) {
    metrics::histogram!(ACK_LATENCY).record(elapsed.as_secs_f64());
}

/// A group commit of `changes` took `elapsed` in the store and succeeded or not.
pub fn group_commit(changes: usize, elapsed: Duration, ok: bool) {
    metrics::histogram!(GROUP_COMMIT).record(changes as f64);
    let result = if ok { "ok" } else { "error" };
    metrics::histogram!(STORE_COMMIT, "result" => result).record(elapsed.as_secs_f64());
}

/// The hub cut a session off because its queue was full.
pub fn lagged() {
    metrics::counter!(HUB_CUTOFFS, "reason" => "lagged").increment(1);
}

/// A session was closed because its client took nothing for the send timeout.
pub fn stalled() {
    metrics::counter!(HUB_CUTOFFS, "reason" => "stalled").increment(1);
}

/// A notice of `kind` (`committed`, `tenant_deleted`, `access_changed`, `resync`) came over the bus.
pub fn bus_notice(kind: &'static str) {
    metrics::counter!(BUS_NOTICES, "kind" => kind).increment(1);
}

/// Another node's changes reached this node's sessions `elapsed` after their notice.
pub fn bus_delivery(elapsed: Duration) {
    metrics::histogram!(BUS_DELIVERY).record(elapsed.as_secs_f64());
}

/// A committed change did not reach the after-commit rules: their queue was full.
pub fn after_commit_dropped() {
    metrics::counter!(AFTER_COMMIT_DROPPED).increment(1);
}
