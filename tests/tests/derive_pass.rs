//! What `#[derive(Syncable)]` generates, observed at run time: names and their defaults,
//! column metadata, the row round trip of every supported type, decode errors, and the JSON
//! key of `updated_at`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;
use sync_core::entity::{Column, Role, SqlType, Value};
use uuid::Uuid;

fn at(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).expect("a valid timestamp")
}

fn column<T: Syncable>(name: &str) -> &'static Column {
    T::COLUMNS
        .iter()
        .find(|column| column.name == name)
        .expect("the column exists")
}

fn round_trip<T: Syncable + PartialEq + std::fmt::Debug>(entity: &T) {
    let row = entity.to_row();
    assert_eq!(row.len(), T::COLUMNS.len(), "one value per column");
    assert_eq!(&T::from_row(row).expect("the row decodes"), entity);
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
struct AccountGroup {
    #[sync(id)]
    id: String,
    name: String,
    sort_order: i32,
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
struct Category {
    #[sync(id)]
    id: i64,
    #[sync(updated_at)]
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Schedule {
    Once,
    Monthly { day: u8 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
#[sync(entity = "Everything", collection = "everything")]
struct AllTypes {
    #[sync(id)]
    id: Uuid,
    #[sync(index)]
    text: String,
    flag: bool,
    small: i16,
    int: i32,
    big: i64,
    real: f32,
    double: f64,
    uuid: Uuid,
    instant: DateTime<Utc>,
    date: NaiveDate,
    maybe_text: Option<String>,
    maybe_flag: Option<bool>,
    maybe_small: Option<i16>,
    maybe_int: Option<i32>,
    maybe_big: Option<i64>,
    maybe_real: Option<f32>,
    maybe_double: Option<f64>,
    maybe_uuid: Option<Uuid>,
    maybe_instant: Option<DateTime<Utc>>,
    maybe_date: Option<NaiveDate>,
    #[sync(json)]
    tags: Vec<String>,
    #[sync(json)]
    schedule: Schedule,
    #[sync(json, column = "budget_limits")]
    limits: BTreeMap<String, f64>,
    #[sync(skip)]
    #[serde(skip)]
    cache: Option<String>,
    #[sync(default)]
    archived: bool,
    #[sync(json, default)]
    history: Vec<Schedule>,
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

impl AllTypes {
    fn sample() -> AllTypes {
        AllTypes {
            id: Uuid::from_u128(7),
            text: "text".into(),
            flag: true,
            small: i16::MIN,
            int: i32::MAX,
            big: i64::MIN,
            real: 0.25,
            double: -1.5e300,
            uuid: Uuid::from_u128(u128::MAX),
            instant: at(1_700_000_000_123),
            date: NaiveDate::from_ymd_opt(2024, 2, 29).expect("a leap day"),
            maybe_text: Some(String::new()),
            maybe_flag: Some(false),
            maybe_small: Some(-1),
            maybe_int: Some(0),
            maybe_big: Some(1),
            maybe_real: Some(-0.5),
            maybe_double: Some(f64::MAX),
            maybe_uuid: Some(Uuid::nil()),
            maybe_instant: Some(at(0)),
            maybe_date: Some(NaiveDate::MIN),
            tags: vec!["a".into(), "b".into()],
            schedule: Schedule::Monthly { day: 31 },
            limits: BTreeMap::from([("food".to_owned(), 250.0)]),
            cache: None,
            archived: true,
            history: vec![Schedule::Once],
            updated_at: Some(at(1_700_000_000_000)),
        }
    }
}

#[test]
fn names_default_to_the_struct_name() {
    assert_eq!(AccountGroup::ENTITY, "AccountGroup");
    assert_eq!(AccountGroup::TABLE, "account_groups");
    assert_eq!(AccountGroup::COLLECTION, "account_groups");
    assert_eq!(Category::ENTITY, "Category");
    assert_eq!(Category::TABLE, "categories");
    assert_eq!(Category::COLLECTION, "categories");
}

#[test]
fn a_given_collection_is_also_the_table() {
    assert_eq!(AllTypes::ENTITY, "Everything");
    assert_eq!(AllTypes::COLLECTION, "everything");
    assert_eq!(AllTypes::TABLE, "everything");
}

#[test]
fn columns_describe_the_stored_fields_in_order() {
    let columns: Vec<_> = AllTypes::COLUMNS
        .iter()
        .map(|column| (column.name, column.field, column.sql_type, column.nullable))
        .collect();
    assert_eq!(
        columns,
        [
            ("id", "id", SqlType::Uuid, false),
            ("text", "text", SqlType::Text, false),
            ("flag", "flag", SqlType::Bool, false),
            ("small", "small", SqlType::SmallInt, false),
            ("int", "int", SqlType::Int, false),
            ("big", "big", SqlType::BigInt, false),
            ("real", "real", SqlType::Real, false),
            ("double", "double", SqlType::Double, false),
            ("uuid", "uuid", SqlType::Uuid, false),
            ("instant", "instant", SqlType::Timestamp, false),
            ("date", "date", SqlType::Date, false),
            ("maybe_text", "maybe_text", SqlType::Text, true),
            ("maybe_flag", "maybe_flag", SqlType::Bool, true),
            ("maybe_small", "maybe_small", SqlType::SmallInt, true),
            ("maybe_int", "maybe_int", SqlType::Int, true),
            ("maybe_big", "maybe_big", SqlType::BigInt, true),
            ("maybe_real", "maybe_real", SqlType::Real, true),
            ("maybe_double", "maybe_double", SqlType::Double, true),
            ("maybe_uuid", "maybe_uuid", SqlType::Uuid, true),
            ("maybe_instant", "maybe_instant", SqlType::Timestamp, true),
            ("maybe_date", "maybe_date", SqlType::Date, true),
            ("tags", "tags", SqlType::Json, false),
            ("schedule", "schedule", SqlType::Json, false),
            ("budget_limits", "limits", SqlType::Json, false),
            ("archived", "archived", SqlType::Bool, false),
            ("history", "history", SqlType::Json, false),
            ("updated_at", "updated_at", SqlType::Timestamp, true),
        ]
    );
}

#[test]
fn roles_and_indexes() {
    let roles: Vec<_> = AllTypes::COLUMNS
        .iter()
        .filter(|column| column.role != Role::Data)
        .map(|c| (c.name, c.role))
        .collect();
    assert_eq!(roles, [("id", Role::Id), ("updated_at", Role::UpdatedAt)]);
    let indexed: Vec<_> = AllTypes::COLUMNS
        .iter()
        .filter(|column| column.indexed)
        .map(|c| c.name)
        .collect();
    assert_eq!(indexed, ["text"]);
    assert!(column::<AllTypes>("text").indexed);
    assert_eq!(column::<AllTypes>("budget_limits").field, "limits");
    assert_eq!(column::<Category>("id").role, Role::Id);
}

#[test]
fn default_functions_return_the_encoded_default() {
    let defaults: Vec<_> = AllTypes::COLUMNS
        .iter()
        .filter_map(|column| Some((column.name, (column.default?)())))
        .collect();
    assert_eq!(
        defaults,
        [
            ("archived", Value::Bool(false)),
            ("history", Value::Json(serde_json::json!([])))
        ]
    );
}

#[test]
fn every_supported_type_round_trips() {
    round_trip(&AllTypes::sample());
    let empty = AllTypes {
        maybe_text: None,
        maybe_flag: None,
        maybe_small: None,
        maybe_int: None,
        maybe_big: None,
        maybe_real: None,
        maybe_double: None,
        maybe_uuid: None,
        maybe_instant: None,
        maybe_date: None,
        tags: vec![],
        limits: BTreeMap::new(),
        updated_at: None,
        ..AllTypes::sample()
    };
    round_trip(&empty);
    round_trip(&Category {
        id: -3,
        updated_at: at(5),
    });
}

#[test]
fn rows_hold_one_plain_value_per_column() {
    let row = AllTypes::sample().to_row();
    assert_eq!(row[0], Value::Uuid(Uuid::from_u128(7)));
    assert_eq!(row[2], Value::Bool(true));
    assert_eq!(row[3], Value::Int(i64::from(i16::MIN)));
    assert_eq!(row[21], Value::Json(serde_json::json!(["a", "b"])));
    assert_eq!(
        row[22],
        Value::Json(serde_json::json!({ "Monthly": { "day": 31 } }))
    );
    assert_eq!(row[23], Value::Json(serde_json::json!({ "food": 250.0 })));
    assert_eq!(row[26], Value::Timestamp(at(1_700_000_000_000)));
}

#[test]
fn skipped_fields_are_rebuilt_with_their_default() {
    let entity = AllTypes {
        cache: Some("warm".into()),
        ..AllTypes::sample()
    };
    let decoded = AllTypes::from_row(entity.to_row()).expect("the row decodes");
    assert_eq!(decoded.cache, None);
}

#[test]
fn decode_errors_name_the_column() {
    let mut row = AllTypes::sample().to_row();
    row[3] = Value::Int(40_000);
    let error = AllTypes::from_row(row).expect_err("40000 is no i16");
    assert_eq!(error.column, "small");
    assert!(error.message.contains("does not fit"), "{error}");

    let mut row = AllTypes::sample().to_row();
    row[23] = Value::Json(serde_json::json!(["not", "a", "map"]));
    assert_eq!(
        AllTypes::from_row(row)
            .expect_err("a list is no map")
            .column,
        "budget_limits"
    );

    let mut row = AllTypes::sample().to_row();
    row[1] = Value::Null;
    let error = AllTypes::from_row(row).expect_err("text is NOT NULL");
    assert_eq!(error.to_string(), "column text: unexpected NULL");

    let short = vec![Value::Int(1)];
    assert_eq!(
        Category::from_row(short).expect_err("too short").column,
        "updated_at"
    );
}

#[test]
fn updated_at_key_follows_serde() {
    #[derive(Serialize, Deserialize, Syncable)]
    #[serde(rename_all = "camelCase")]
    struct Renamed {
        #[sync(id)]
        id: String,
        #[serde(rename = "updated_at")]
        #[sync(updated_at)]
        updated_at: Option<DateTime<Utc>>,
    }

    #[derive(Serialize, Deserialize, Syncable)]
    #[serde(rename_all(serialize = "snake_case", deserialize = "PascalCase"))]
    struct SplitRule {
        #[sync(id)]
        id: String,
        #[sync(updated_at)]
        last_modified_at: Option<DateTime<Utc>>,
    }

    assert_eq!(AccountGroup::UPDATED_AT_KEY, "updatedAt");
    assert_eq!(Renamed::UPDATED_AT_KEY, "updated_at");
    assert_eq!(SplitRule::UPDATED_AT_KEY, "LastModifiedAt");
    assert_eq!(AllTypes::UPDATED_AT_KEY, "UPDATED-AT");
    assert_eq!(Category::UPDATED_AT_KEY, "updated_at");
}

#[test]
fn updated_at_key_is_the_json_key() {
    let group = AccountGroup {
        id: "g".into(),
        name: "Giro".into(),
        sort_order: 1,
        updated_at: Some(at(0)),
    };
    let json = serde_json::to_value(&group).expect("serialises");
    assert!(json.get(AccountGroup::UPDATED_AT_KEY).is_some(), "{json}");
}

#[test]
fn id_and_version_accessors() {
    let mut group = AccountGroup {
        id: "g1".into(),
        name: "Giro".into(),
        sort_order: 0,
        updated_at: None,
    };
    assert_eq!(group.id(), "g1");
    assert_eq!(group.updated_at(), None);
    group.set_updated_at(at(42));
    assert_eq!(group.updated_at(), Some(at(42)));
    assert_eq!(group.updated_at, Some(at(42)));

    let mut category = Category {
        id: 9,
        updated_at: at(1),
    };
    assert_eq!(category.id(), "9");
    category.set_updated_at(at(2));
    assert_eq!(category.updated_at(), Some(at(2)));
    assert_eq!(
        AllTypes::sample().id(),
        "00000000-0000-0000-0000-000000000007"
    );
}

#[test]
fn entities_register() {
    let registry = sync_core::Registry::builder()
        .entity::<AccountGroup>()
        .entity::<Category>()
        .entity::<AllTypes>()
        .build()
        .expect("derived entities pass the registry's checks");
    assert_eq!(registry.len(), 3);
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, sync_core::Syncable)]
#[serde(rename_all = "PascalCase")]
struct Renamed {
    #[serde(rename = "uuid")]
    #[sync(id)]
    key: String,
    #[sync(updated_at)]
    changed: Option<chrono::DateTime<chrono::Utc>>,
}

#[test]
fn the_id_key_follows_serde_renames() {
    use sync_core::Syncable;
    assert_eq!(Renamed::ID_KEY, "uuid");
    assert_eq!(Renamed::UPDATED_AT_KEY, "Changed");
    let registry = sync_core::Registry::builder()
        .entity::<Renamed>()
        .build()
        .unwrap();
    let handler = registry.get("Renamed").unwrap();
    let version = sync_core::version::Version::parse("2026-01-01T00:00:00Z").unwrap();
    assert_eq!(
        handler.tombstone_json("k1", version),
        serde_json::json!({"uuid": "k1", "Changed": "2026-01-01T00:00:00.000Z"})
    );
}

#[test]
fn a_registry_can_be_extended_with_another_registrys_entities() {
    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, sync_core::Syncable)]
    struct Extra {
        #[sync(id)]
        id: String,
        #[sync(updated_at)]
        updated_at: Option<chrono::DateTime<chrono::Utc>>,
    }
    let shared = sync_core::Registry::builder()
        .entity::<Renamed>()
        .build()
        .unwrap();
    let extended = sync_core::Registry::builder()
        .entities_of(&shared)
        .entity::<Extra>()
        .build()
        .unwrap();
    let names: Vec<&str> = extended.iter().map(|handler| handler.entity()).collect();
    assert_eq!(names, ["Renamed", "Extra"]);
    let twice = sync_core::Registry::builder()
        .entities_of(&shared)
        .entities_of(&shared)
        .build();
    assert!(twice.is_err(), "the same entity twice is still refused");
}
