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

    /// The current time of this machine, truncated to milliseconds.
    pub fn now() -> Version {
        Version(Utc::now().timestamp_millis())
    }

    /// Reads a timestamp with `Z`, a numeric offset (converted to UTC), or none (read as UTC).
    pub fn parse(text: &str) -> Result<Version, ParseError> {
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
        write!(f, "{}", self.to_datetime().format("%Y-%m-%dT%H:%M:%S%.3fZ"))
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
        fn order_is_the_order_of_instants(a in any_version(), b in any_version()) {
            prop_assert_eq!(a.cmp(&b), a.to_datetime().cmp(&b.to_datetime()));
            prop_assert_eq!(a.cmp(&b), a.to_string().cmp(&b.to_string()));
        }
    }
}
