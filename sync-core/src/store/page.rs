//! A page of the change feed, assembled the same way by both stores: the reset rule, and
//! each table's next rows merged by sequence number.

use super::ChangePage;
use crate::entity::Handler;
use crate::error::Result;
use crate::outcome::Effect;

/// The page for a request from `cursor`, when the tenant stands at `current` and tombstones
/// up to `purged` are forgotten: a reset if the cursor is ahead of the tenant or older than
/// the horizon, else `None` (read the rows).
pub(crate) fn reset_page(cursor: u64, current: u64, purged: u64) -> Option<ChangePage> {
    (cursor > current || (cursor > 0 && cursor < purged)).then(|| ChangePage {
        changes: Vec::new(),
        cursor: 0,
        has_more: false,
        reset: true,
    })
}

/// Merges each table's next `limit + 1` rows (`(seq, handler, row)`) into the page of the
/// first `limit` by sequence number, decoding only the rows it keeps.
pub(crate) fn merge_page<R>(
    mut rows: Vec<(i64, &dyn Handler, R)>,
    cursor: u64,
    limit: usize,
    decode: impl Fn(&dyn Handler, &R) -> Result<Effect>,
) -> Result<ChangePage> {
    rows.sort_unstable_by_key(|(seq, _, _)| *seq);
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let changes = rows
        .iter()
        .map(|(_, handler, row)| decode(*handler, row))
        .collect::<Result<Vec<_>>>()?;
    let cursor = changes.last().map_or(cursor, |change| change.seq);
    Ok(ChangePage {
        changes,
        cursor,
        has_more,
        reset: false,
    })
}
