//! Exponential backoff with jitter, for reconnects and retryable NACKs.
//!
//! Attempt `n` (from 0) waits a random time between half and all of
//! `min(initial × 2ⁿ, max)`: the delay doubles up to the cap, and clients that lost the
//! server together do not come back together.
//!
//! ```
//! use std::time::Duration;
//! use sync_client::backoff::Backoff;
//!
//! let backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(30));
//! assert_eq!(backoff.ceiling(0), Duration::from_millis(250));
//! assert_eq!(backoff.ceiling(3), Duration::from_secs(2));
//! assert_eq!(backoff.ceiling(20), Duration::from_secs(30));
//! let delay = backoff.delay(3);
//! assert!(delay >= Duration::from_secs(1) && delay <= Duration::from_secs(2));
//! ```

use std::time::Duration;

use rand::Rng;

/// An exponential backoff policy: `initial` doubling up to `max`, with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `initial` and doubles up to `max` (at least `initial`).
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
        }
    }

    /// The longest wait of attempt `attempt` (counted from 0): `min(initial × 2ⁿ, max)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .map_or(self.max, |delay| delay.min(self.max))
    }

    /// The wait before attempt `attempt`: uniformly random in `[ceiling / 2, ceiling]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, &mut rand::rng())
    }

    /// [`delay`](Self::delay) with the caller's random source.
    pub fn delay_with<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_micros()).unwrap_or(u64::MAX);
        half + Duration::from_micros(rng.random_range(0..=spread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    #[test]
    fn the_default_reconnect_policy_doubles_from_250_ms_to_30_s() {
        let backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(30));
        let ceilings: Vec<u64> = (0..10)
            .map(|n| backoff.ceiling(n).as_millis() as u64)
            .collect();
        assert_eq!(
            ceilings,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn jitter_spreads_clients_apart() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let delays: std::collections::BTreeSet<Duration> =
            (0..20).map(|_| backoff.delay_with(4, &mut rng)).collect();
        assert!(
            delays.len() > 15,
            "twenty clients should not wait the same time: {delays:?}"
        );
    }

    proptest! {
        #[test]
        fn a_delay_lies_between_half_the_ceiling_and_the_ceiling(
            initial_ms in 1u64..5_000,
            max_ms in 1u64..600_000,
            attempt in 0u32..100,
            seed in any::<u64>(),
        ) {
            let backoff = Backoff::new(Duration::from_millis(initial_ms), Duration::from_millis(max_ms));
            let ceiling = backoff.ceiling(attempt);
            prop_assert!(ceiling <= Duration::from_millis(max_ms.max(initial_ms)));
            prop_assert!(ceiling >= Duration::from_millis(initial_ms));
            prop_assert!(backoff.ceiling(attempt + 1) >= ceiling, "ceilings never shrink");
            let delay = backoff.delay_with(attempt, &mut rand::rngs::StdRng::seed_from_u64(seed));
            prop_assert!(delay >= ceiling / 2 && delay <= ceiling);
        }
    }
}
