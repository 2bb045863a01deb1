//! The table layer a client replica uses: the server's tables without the server's rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{Connection, SqliteConnection};
use sync_core::outcome::Reason;
use sync_core::store::sqlite::Tables;
use sync_core::version::Version;
use sync_core::{Registry, Syncable};

#[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
struct Note {
    #[sync(id)]
    id: String,
    text: String,
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

#[tokio::test]
async fn rows_are_written_read_deleted_and_cleared() {
    let mut connection = SqliteConnection::connect("sqlite::memory:").await.unwrap();
    let tables = Tables::new(Registry::builder().entity::<Note>().build().unwrap());
    tables.create(&mut connection).await.unwrap();

    let data = json!({"id": "n1", "text": "hi", "updated_at": "2026-01-01T00:00:00+01:00"});
    let stored = tables
        .put_json(&mut connection, "note", "n1", &data, 7)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.version.to_string(),
        "2025-12-31T23:00:00.000Z",
        "versions are normalised"
    );
    assert_eq!(stored.seq, 7);
    let read = tables
        .get(&mut connection, "Note", "n1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (read.data["text"].as_str(), read.seq, read.deleted),
        (Some("hi"), 7, false)
    );

    let refused = tables
        .put_json(&mut connection, "Note", "n2", &json!({"id": "n2"}), 8)
        .await
        .unwrap();
    assert_eq!(refused.unwrap_err().reason, Reason::ValidationError);

    let at = Version::parse("2026-02-01T00:00:00Z").unwrap();
    assert!(
        tables
            .delete(&mut connection, "Note", "n1", at, 9)
            .await
            .unwrap()
    );
    let tombstone = tables
        .get(&mut connection, "Note", "n1")
        .await
        .unwrap()
        .unwrap();
    assert!(tombstone.deleted);
    assert_eq!(tombstone.version, at);
    assert!(
        tables
            .list(&mut connection, "Note")
            .await
            .unwrap()
            .is_empty()
    );

    tables
        .put_json(
            &mut connection,
            "Note",
            "n3",
            &json!({"id": "n3", "text": "x", "updated_at": "2026-01-01T00:00:00Z"}),
            10,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tables.list(&mut connection, "Note").await.unwrap().len(), 1);
    tables.clear(&mut connection).await.unwrap();
    assert!(
        tables
            .get(&mut connection, "Note", "n3")
            .await
            .unwrap()
            .is_none()
    );
}
