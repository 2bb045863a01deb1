//! Last-write-wins: the one rule that decides between an incoming change and stored state.
//!
//! ```
//! use sync_core::lww::{decide, Decision};
//! use sync_core::version::Version;
//!
//! let older = Version::parse("2026-01-01T00:00:00Z").unwrap();
//! let newer = Version::parse("2026-01-02T00:00:00Z").unwrap();
//! assert_eq!(decide(newer, Some(older)), Decision::Apply);
//! assert_eq!(decide(older, Some(newer)), Decision::Supersede);
//! // Equal versions: the later arrival wins.
//! assert_eq!(decide(newer, Some(newer)), Decision::Apply);
//! assert_eq!(decide(older, None), Decision::Apply);
//! ```
//!
//! A tombstone is stored state like any other, with the delete's version: a change older
//! than it is superseded (no resurrection), a newer one brings the entity back. Retries are
//! recognised by change id before this rule is consulted, so "equal wins" never applies a
//! change twice.

use crate::version::Version;

/// What to do with an incoming change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The incoming change wins: write it.
    Apply,
    /// The stored state wins: keep it and tell the origin.
    Supersede,
}

/// Decides an incoming change at version `incoming` against the stored version, if any.
pub fn decide(incoming: Version, stored: Option<Version>) -> Decision {
    match stored {
        Some(stored) if incoming < stored => Decision::Supersede,
        _ => Decision::Apply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_newer_version_always_ends_stored(a in 0_i64..1_000_000, b in 0_i64..1_000_000) {
            let (a, b) = (Version::from_millis(a).unwrap(), Version::from_millis(b).unwrap());
            let after = |incoming, stored| match decide(incoming, Some(stored)) {
                Decision::Apply => incoming,
                Decision::Supersede => stored,
            };
            prop_assert_eq!(after(a, b), a.max(b));
            prop_assert_eq!(after(b, a), a.max(b));
        }
    }
}
