//! The `Syncable` contract implemented by hand, without the derive: the store needs nothing
//! more than the trait.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::change::Change;
use sync_core::entity::{Column, DecodeError, Field, Role, SqlType, Value, decode_field};
use sync_core::outcome::Outcome;
use sync_core::store::sqlite::SqliteStore;
use sync_core::store::{Store, StoreExt};
use sync_core::{Registry, Syncable, TenantId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    id: String,
    text: String,
    updated_at: Option<DateTime<Utc>>,
}

impl Syncable for Note {
    const ENTITY: &'static str = "Note";
    const COLLECTION: &'static str = "notes";
    const TABLE: &'static str = "notes";
    const UPDATED_AT_KEY: &'static str = "updated_at";
    const COLUMNS: &'static [Column] = &[
        Column {
            name: "id",
            field: "id",
            sql_type: SqlType::Text,
            nullable: false,
            role: Role::Id,
            indexed: false,
            default: None,
        },
        Column {
            name: "text",
            field: "text",
            sql_type: SqlType::Text,
            nullable: false,
            role: Role::Data,
            indexed: false,
            default: None,
        },
        Column {
            name: "updated_at",
            field: "updated_at",
            sql_type: SqlType::Timestamp,
            nullable: true,
            role: Role::UpdatedAt,
            indexed: false,
            default: None,
        },
    ];

    fn id(&self) -> String {
        self.id.clone()
    }

    fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    fn set_updated_at(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(at);
    }

    fn to_row(&self) -> Vec<Value> {
        vec![
            self.id.to_value(),
            self.text.to_value(),
            self.updated_at.to_value(),
        ]
    }

    fn from_row(row: Vec<Value>) -> Result<Self, DecodeError> {
        let mut values = row.into_iter();
        Ok(Note {
            id: decode_field(&mut values, "id")?,
            text: decode_field(&mut values, "text")?,
            updated_at: decode_field(&mut values, "updated_at")?,
        })
    }
}

#[tokio::test]
async fn a_hand_written_entity_round_trips_through_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::builder().entity::<Note>().build().unwrap();
    let store = SqliteStore::builder(dir.path(), registry)
        .open()
        .await
        .unwrap();
    let tenant = TenantId::new("t1").unwrap();

    let note = Note {
        id: "n1".into(),
        text: "hello".into(),
        updated_at: None,
    };
    let outcome = store.put(&tenant, &note).await.unwrap();
    let Outcome::Applied {
        effect,
        clamped: false,
        merged: false,
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(effect.seq, 1);

    let stored: Note = store.get(&tenant, "n1").await.unwrap().unwrap();
    assert_eq!(stored.text, "hello");
    assert_eq!(stored.updated_at.unwrap(), effect.version.to_datetime());

    let delete = Change::delete("note", "n1");
    let batch = store.apply(&tenant, &[delete]).await.unwrap();
    assert!(matches!(batch.outcomes[0], Outcome::Applied { ref effect, .. } if effect.deleted));
    assert_eq!(batch.cursor, 2);
    assert_eq!(store.get::<Note>(&tenant, "n1").await.unwrap(), None);
    assert!(store.list::<Note>(&tenant).await.unwrap().is_empty());
}
