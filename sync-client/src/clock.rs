//! The hybrid logical clock that stamps local edits.
//!
//! A new local edit gets the version
//!
//! ```text
//! max(wall clock + server offset, last version issued, entity's current updated_at + 1 ms)
//! ```
//!
//! so it is never older than the server's idea of now (as learned from `welcome`), never
//! older than any version this clock issued before (the clock does not go back when the
//! wall clock or the offset does), and always strictly newer than the version it edits:
//! an edit never loses to the state it was made on, under last-write-wins.
//!
//! ```
//! use sync_client::clock::Clock;
//! use sync_core::version::Version;
//!
//! let clock = Clock::new(0);
//! let future = Version::now().add_millis(60_000);
//! let stamped = clock.next(Some(future));
//! assert_eq!(stamped, future.add_millis(1), "an edit is newer than what it edits");
//! assert!(clock.next(None) >= stamped, "the clock never goes back");
//! ```
//!
//! The local wall clock is a seam, [`WallClock`]: the system clock by default, a skewed or
//! simulated one in tests ([`Builder::wall_clock`](crate::Builder::wall_clock)). Every
//! time the client reads (edit versions, retry backoff, the offset learned at connect)
//! comes from it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use sync_core::version::Version;

/// The local wall clock the client reads.
pub trait WallClock: Send + Sync + 'static {
    /// The local time now. It may be wrong by any amount (the server's offset corrects
    /// it) and may jump.
    fn now(&self) -> Version;
}

/// The system's clock: [`Version::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now(&self) -> Version {
        Version::now()
    }
}

/// A hybrid logical clock corrected by the server's time. Shared by every call of a client.
pub struct Clock {
    /// Server time minus local time, in milliseconds.
    offset: AtomicI64,
    /// The latest version issued, in milliseconds since the epoch.
    last: Mutex<i64>,
    wall: Arc<dyn WallClock>,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("offset", &self.offset())
            .finish_non_exhaustive()
    }
}

impl Clock {
    /// A clock of the system's time whose server offset is `offset_ms` (server time minus
    /// local time).
    pub fn new(offset_ms: i64) -> Clock {
        Clock::with_wall(offset_ms, Arc::new(SystemClock))
    }

    /// A clock of `wall`'s time whose server offset is `offset_ms`.
    pub fn with_wall(offset_ms: i64, wall: Arc<dyn WallClock>) -> Clock {
        Clock {
            offset: AtomicI64::new(offset_ms),
            last: Mutex::new(i64::MIN),
            wall,
        }
    }

    /// The local wall clock, uncorrected.
    pub fn local_now(&self) -> Version {
        self.wall.now()
    }

    /// The server offset in milliseconds: server time minus local time.
    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::Relaxed)
    }

    /// Sets the server offset, as learned at connect.
    pub fn set_offset(&self, offset_ms: i64) {
        self.offset.store(offset_ms, Ordering::Relaxed);
    }

    /// The local wall clock corrected by the server offset.
    pub fn server_now(&self) -> Version {
        self.local_now().add_millis(self.offset())
    }

    /// The version of a new edit of an entity whose current version is `current`.
    pub fn next(&self, current: Option<Version>) -> Version {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let version = next_version(self.server_now(), *last, current);
        *last = version.as_millis();
        version
    }
}

/// The clock's rule: at least the corrected wall clock and the last issued version, and
/// strictly newer than `current`.
pub(crate) fn next_version(server_now: Version, last: i64, current: Option<Version>) -> Version {
    let mut millis = server_now.as_millis().max(last);
    if let Some(current) = current {
        millis = millis.max(current.as_millis().saturating_add(1));
    }
    Version::from_millis(millis).unwrap_or(Version::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn version(millis: i64) -> Version {
        Version::from_millis(millis).unwrap()
    }

    #[test]
    fn a_behind_wall_clock_still_moves_past_what_it_edits() {
        let clock = Clock::new(-3_600_000);
        let current = Version::now();
        assert_eq!(clock.next(Some(current)), current.add_millis(1));
    }

    #[test]
    fn the_offset_corrects_the_wall_clock() {
        let clock = Clock::new(120_000);
        let stamped = clock.next(None);
        let local = Version::now();
        assert!(stamped >= local.add_millis(119_000), "{stamped} vs {local}");
    }

    #[test]
    fn lowering_the_offset_does_not_turn_the_clock_back() {
        let clock = Clock::new(60_000);
        let first = clock.next(None);
        clock.set_offset(-60_000);
        assert!(clock.next(None) >= first);
    }

    proptest! {
        #[test]
        fn an_edit_is_newer_than_its_base_and_not_older_than_now_or_before(
            now in 0i64..4_000_000_000_000,
            last in 0i64..4_000_000_000_000,
            current in proptest::option::of(0i64..4_000_000_000_000),
        ) {
            let next = next_version(version(now), last, current.map(version)).as_millis();
            prop_assert!(next >= now);
            prop_assert!(next >= last);
            if let Some(current) = current {
                prop_assert!(next > current);
            }
            // And it is the least such value: the clock does not run ahead needlessly.
            prop_assert!(next == now || next == last || Some(next - 1) == current);
        }

        #[test]
        fn successive_edits_of_one_entity_strictly_increase(
            offsets in proptest::collection::vec(-10_000i64..10_000, 1..50),
        ) {
            let clock = Clock::new(0);
            let mut current = None;
            for offset in offsets {
                clock.set_offset(offset);
                let next = clock.next(current);
                if let Some(current) = current {
                    prop_assert!(next > current);
                }
                current = Some(next);
            }
        }
    }
}
