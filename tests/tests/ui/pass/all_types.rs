use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;
use sync_core::entity::SqlType;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    Once,
    Monthly { day: u8 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
pub struct Everything {
    #[sync(id)]
    pub id: Uuid,
    pub text: String,
    pub flag: bool,
    pub small: i16,
    pub int: i32,
    pub big: i64,
    pub real: f32,
    pub double: f64,
    pub uuid: Uuid,
    pub at: DateTime<Utc>,
    pub date: NaiveDate,
    pub maybe_text: Option<String>,
    pub maybe_flag: Option<bool>,
    pub maybe_small: Option<i16>,
    pub maybe_int: Option<i32>,
    pub maybe_big: Option<i64>,
    pub maybe_real: Option<f32>,
    pub maybe_double: Option<f64>,
    pub maybe_uuid: Option<Uuid>,
    pub maybe_at: Option<DateTime<Utc>>,
    pub maybe_date: Option<NaiveDate>,
    #[sync(json)]
    pub tags: Vec<String>,
    #[sync(json)]
    pub schedule: Schedule,
    #[sync(json)]
    pub limits: BTreeMap<String, i64>,
    #[sync(json)]
    pub maybe_schedule: Option<Schedule>,
    #[sync(updated_at)]
    pub updated_at: DateTime<Utc>,
}

fn main() {
    let types: Vec<_> = Everything::COLUMNS
        .iter()
        .map(|c| (c.name, c.sql_type, c.nullable))
        .collect();
    assert_eq!(
        types,
        [
            ("id", SqlType::Uuid, false),
            ("text", SqlType::Text, false),
            ("flag", SqlType::Bool, false),
            ("small", SqlType::SmallInt, false),
            ("int", SqlType::Int, false),
            ("big", SqlType::BigInt, false),
            ("real", SqlType::Real, false),
            ("double", SqlType::Double, false),
            ("uuid", SqlType::Uuid, false),
            ("at", SqlType::Timestamp, false),
            ("date", SqlType::Date, false),
            ("maybe_text", SqlType::Text, true),
            ("maybe_flag", SqlType::Bool, true),
            ("maybe_small", SqlType::SmallInt, true),
            ("maybe_int", SqlType::Int, true),
            ("maybe_big", SqlType::BigInt, true),
            ("maybe_real", SqlType::Real, true),
            ("maybe_double", SqlType::Double, true),
            ("maybe_uuid", SqlType::Uuid, true),
            ("maybe_at", SqlType::Timestamp, true),
            ("maybe_date", SqlType::Date, true),
            ("tags", SqlType::Json, false),
            ("schedule", SqlType::Json, false),
            ("limits", SqlType::Json, false),
            ("maybe_schedule", SqlType::Json, false),
            ("updated_at", SqlType::Timestamp, false),
        ]
    );

    let at = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
    let date = NaiveDate::from_ymd_opt(2026, 2, 28).unwrap();
    let everything = Everything {
        id: Uuid::from_u128(1),
        text: "text".into(),
        flag: true,
        small: -7,
        int: 70_000,
        big: i64::MAX,
        real: 1.5,
        double: -2.25,
        uuid: Uuid::from_u128(2),
        at,
        date,
        maybe_text: Some("maybe".into()),
        maybe_flag: None,
        maybe_small: Some(3),
        maybe_int: None,
        maybe_big: Some(i64::MIN),
        maybe_real: None,
        maybe_double: Some(0.5),
        maybe_uuid: None,
        maybe_at: Some(at),
        maybe_date: None,
        tags: vec!["a".into(), "b".into()],
        schedule: Schedule::Monthly { day: 3 },
        limits: BTreeMap::from([("food".to_owned(), 300)]),
        maybe_schedule: None,
        updated_at: at,
    };
    let row = everything.to_row();
    assert_eq!(row.len(), Everything::COLUMNS.len());
    assert_eq!(Everything::from_row(row).unwrap(), everything);
    assert_eq!(everything.id(), "00000000-0000-0000-0000-000000000001");
    assert_eq!(everything.updated_at(), Some(at));
}
