//! Versions: the `updated_at` timestamps that order the changes of one entity.
//!
//! A [`Version`] is a UTC instant with millisecond precision. Parsing accepts what clients
//! send in practice and normalises it; formatting always produces RFC 3339 with `Z`, so two
//! replicas that hold the same version print the same string.
//!
//! ```
//! use sync_core::version::Version;
//!
//! let berlin = Version::parse("2026-03-01T12:00:00.123456+02:00").unwrap();
//! let utc = Version::parse("2026-03-01T10:00:00.123Z").unwrap();
//! let naive = Version::parse("2026-03-01 10:00:00.123").unwrap();
//! assert_eq!(berlin, utc);
//! assert_eq!(naive, utc);
//! assert_eq!(utc.to_string(), "2026-03-01T10:00:00.123Z");
//! ```
//!
//! The order of two versions is [`Version`]'s `Ord`, defined in one place: by milliseconds
//! since the epoch. Last-write-wins builds on it in [`crate::lww`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A change's version: a UTC instant truncated to whole milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(i64);

/// Why a timestamp could not be read as a [`Version`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The text is not an RFC 3339 or naive ISO 8601 date-time.
    #[error("invalid timestamp {0:?}: expected RFC 3339, e.g. 2026-03-01T10:00:00.000Z")]
    Invalid(String),
    /// The instant is outside the years 1 to 9999, which RFC 3339 cannot print.
    #[error("timestamp {0:?} is outside the years 1 to 9999")]
    OutOfRange(String),
}

thread_local! {
    /// The simulated clock of this thread: its reading at a moment of tokio's clock.
    static SIMULATED: std::cell::Cell<Option<(i64, tokio::time::Instant)>> =
        const { std::cell::Cell::new(None) };
}

/// Test support, not part of the API: from now on, on the calling thread,
/// [`Version::now`] is `start_ms` plus the time tokio's clock has moved since this call,
/// instead of the system clock; `None` restores the system clock. On a current-thread
/// runtime with tokio's clock paused, every time the engine, the stores and the sessions
/// read is then a function of the simulated time, so a seeded simulation replays exactly.
#[doc(hidden)]
pub fn simulate_clock(start_ms: Option<i64>) {
    SIMULATED.set(start_ms.map(|start_ms| (start_ms, tokio::time::Instant::now())));
}

/// The naive forms read as UTC, most common first.
const NAIVE_FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

impl Version {
    /// The earliest representable version: 0001-01-01T00:00:00.000Z.
    pub const MIN: Version = Version(-62_135_596_800_000);
    /// The latest representable version: 9999-12-31T23:59:59.999Z.
    pub const MAX: Version = Version(253_402_300_799_999);

    /// The current time of this machine, truncated to milliseconds (or the simulated time,
    /// on a thread that called [`simulate_clock`]).
    pub fn now() -> Version {
        if let Some((start_ms, start)) = SIMULATED.get() {
            let elapsed = i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX);
            return Version(start_ms.saturating_add(elapsed));
        }
        Version(Utc::now().timestamp_millis())
    }

    /// Reads a timestamp with `Z`, a numeric offset (converted to UTC), or none (read as UTC).
    pub fn parse(text: &str) -> Result<Version, ParseError> {
        if let Some(version) = Version::parse_canonical(text) {
            return Ok(version);
        }
        let trimmed = text.trim();
        let instant = DateTime::parse_from_rfc3339(trimmed)
            .map(|at| at.with_timezone(&Utc))
            .or_else(|_| {
                NAIVE_FORMATS
                    .iter()
                    .find_map(|format| NaiveDateTime::parse_from_str(trimmed, format).ok())
                    .map(|naive| Utc.from_utc_datetime(&naive))
                    .ok_or_else(|| ParseError::Invalid(text.to_owned()))
            })?;
        Version::try_from_datetime(instant).map_err(|_| ParseError::OutOfRange(text.to_owned()))
    }

    /// Truncates `at` to milliseconds; refuses instants RFC 3339 cannot print.
    pub fn try_from_datetime(at: DateTime<Utc>) -> Result<Version, ParseError> {
        if (1..=9999).contains(&at.year()) {
            Ok(Version(at.timestamp_millis()))
        } else {
            Err(ParseError::OutOfRange(at.to_rfc3339()))
        }
    }

    /// The version at `millis` milliseconds after the Unix epoch, if printable.
    pub fn from_millis(millis: i64) -> Option<Version> {
        (Version::MIN.0..=Version::MAX.0)
            .contains(&millis)
            .then_some(Version(millis))
    }

    /// Milliseconds since the Unix epoch.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// The same instant as a chrono date-time.
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0).expect("a Version is always within chrono's range")
    }

    /// This version moved by `millis` milliseconds, saturating at the representable range.
    pub fn add_millis(self, millis: i64) -> Version {
        Version(
            self.0
                .saturating_add(millis)
                .clamp(Version::MIN.0, Version::MAX.0),
        )
    }
}

impl fmt::Display for Version {
    /// RFC 3339 in UTC with exactly three fractional digits and `Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.canonical().as_str())
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian), after H. Hinnant.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date (year, month, day) of days since 1970-01-01, after H. Hinnant.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted + 2) / 5 + 1;
    let month = if shifted < 10 {
        shifted + 3
    } else {
        shifted - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The canonical text of a version, formatted without allocating: the hot path of every
/// write, which chrono's general formatter made a tenth of a batch's time.
pub(crate) struct Canonical([u8; 24]);

impl Canonical {
    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII digits and separators")
    }
}

impl Version {
    /// The canonical RFC 3339 text, `YYYY-MM-DDTHH:MM:SS.mmmZ`, as [`fmt::Display`] prints it.
    pub(crate) fn canonical(self) -> Canonical {
        let days = self.0.div_euclid(86_400_000);
        let in_day = self.0.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        let mut text = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut number: i64| {
            for index in (at..at + width).rev() {
                text[index] = b'0' + u8::try_from(number % 10).unwrap_or(0);
                number /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, month);
        put(8, 2, day);
        put(11, 2, in_day / 3_600_000);
        put(14, 2, in_day / 60_000 % 60);
        put(17, 2, in_day / 1000 % 60);
        put(20, 3, in_day % 1000);
        Canonical(text)
    }

    /// Reads exactly the canonical form (`YYYY-MM-DDTHH:MM:SS.mmmZ`, as stored), or `None`
    /// for anything else, which the general parser then reads.
    fn parse_canonical(text: &str) -> Option<Version> {
        let bytes = text.as_bytes();
        if bytes.len() != 24 {
            return None;
        }
        for (index, expected) in [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
            (23, b'Z'),
        ] {
            if bytes[index] != expected {
                return None;
            }
        }
        let number = |from: usize, to: usize| -> Option<i64> {
            bytes[from..to].iter().try_fold(0_i64, |total, byte| {
                byte.is_ascii_digit()
                    .then(|| total * 10 + i64::from(byte - b'0'))
            })
        };
        let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
        let (hour, minute, second, millis) = (
            number(11, 13)?,
            number(14, 16)?,
            number(17, 19)?,
            number(20, 23)?,
        );
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
            2 => 28,
            _ => return None,
        };
        // Leap seconds (`:60`) and anything unusual go to the general parser.
        if year < 1 || day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        Some(Version(
            days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + millis,
        ))
    }
}

impl FromStr for Version {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Version::parse(text)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Version::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepted_forms_normalise_to_utc_milliseconds() {
        let expected = "2026-03-01T10:00:00.123Z";
        for input in [
            "2026-03-01T10:00:00.123Z",
            "2026-03-01T10:00:00.123456789Z",
            "2026-03-01t10:00:00.123z",
            "2026-03-01T12:00:00.123+02:00",
            "2026-03-01T05:30:00.123-04:30",
            "2026-03-01T10:00:00.123",
            "2026-03-01 10:00:00.123",
            " 2026-03-01T10:00:00.123Z ",
        ] {
            assert_eq!(
                Version::parse(input).unwrap().to_string(),
                expected,
                "{input}"
            );
        }
        assert_eq!(
            Version::parse("2026-03-01T10:00").unwrap().to_string(),
            "2026-03-01T10:00:00.000Z"
        );
    }

    #[test]
    fn rejects_what_is_not_a_timestamp() {
        for input in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-03-01",
            "1700000000",
        ] {
            assert!(
                matches!(Version::parse(input), Err(ParseError::Invalid(_))),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_years_rfc3339_cannot_print() {
        let far = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
        assert!(Version::try_from_datetime(far).is_err());
        assert_eq!(Version::from_millis(Version::MAX.as_millis() + 1), None);
        assert_eq!(Version::MAX.to_string(), "9999-12-31T23:59:59.999Z");
        assert_eq!(Version::MIN.to_string(), "0001-01-01T00:00:00.000Z");
    }

    #[test]
    fn serde_uses_the_canonical_string() {
        let version = Version::parse("2026-03-01T12:00:00.5+02:00").unwrap();
        let json = serde_json::to_string(&version).unwrap();
        assert_eq!(json, "\"2026-03-01T10:00:00.500Z\"");
        assert_eq!(serde_json::from_str::<Version>(&json).unwrap(), version);
    }

    fn any_version() -> impl Strategy<Value = Version> {
        (Version::MIN.as_millis()..=Version::MAX.as_millis()).prop_map(Version)
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(version in any_version()) {
            prop_assert_eq!(Version::parse(&version.to_string()).unwrap(), version);
        }

        #[test]
        fn offsets_are_converted_never_dropped(
            version in any_version(),
            offset_minutes in -(23 * 60 + 59)..=(23 * 60 + 59),
        ) {
            let offset = chrono::FixedOffset::east_opt(offset_minutes * 60).unwrap();
            let local = version.to_datetime().with_timezone(&offset);
            let text = local.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string();
            // Offsets can push the local year out of 1..=9999; RFC 3339 cannot print those.
            prop_assume!((1..=9999).contains(&local.year()));
            prop_assert_eq!(Version::parse(&text).unwrap(), version);
        }

        #[test]
        fn canonical_text_is_chronos(version in any_version()) {
            let chrono = version.to_datetime().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            prop_assert_eq!(version.to_string(), chrono.clone());
            prop_assert_eq!(Version::parse_canonical(&chrono), Some(version));
        }

        #[test]
        fn canonical_parse_agrees_with_chrono(
            text in "[0-9]{4}-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9]\\.[0-9]{3}Z",
        ) {
            let general = DateTime::parse_from_rfc3339(&text)
                .ok()
                .and_then(|at| Version::try_from_datetime(at.with_timezone(&Utc)).ok());
            if let Some(fast) = Version::parse_canonical(&text) {
                prop_assert_eq!(Some(fast), general);
            }
            prop_assert_eq!(Version::parse(&text).ok(), general);
        }

        #[test]
        fn order_is_the_order_of_instants(a in any_version(), b in any_version()) {
            prop_assert_eq!(a.cmp(&b), a.to_datetime().cmp(&b.to_datetime()));
            prop_assert_eq!(a.cmp(&b), a.to_string().cmp(&b.to_string()));
        }
    }
}
