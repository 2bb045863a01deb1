//! Schema evolution at open: new fields become columns; unsafe changes are refused with an
//! error naming the table, the column and the fix, and leave the database untouched.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::store::{AnyStore, Store, StoreExt};
use sync_core::{Error, Registry, Syncable, TenantId};

mod common;

use common::{Fixture, store_tests};

mod v1 {
    use super::*;
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
    #[sync(entity = "Account", table = "accounts")]
    pub(crate) struct Account {
        #[sync(id)]
        pub(crate) id: String,
        pub(crate) name: String,
        #[sync(updated_at)]
        pub(crate) updated_at: Option<DateTime<Utc>>,
    }
}

mod v2 {
    use super::*;
    /// v1 plus an optional field and a required field with a default.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
    #[sync(entity = "Account", table = "accounts")]
    pub(crate) struct Account {
        #[sync(id)]
        pub(crate) id: String,
        pub(crate) name: String,
        pub(crate) note: Option<String>,
        #[serde(default)]
        #[sync(default)]
        pub(crate) rank: i32,
        #[sync(updated_at)]
        pub(crate) updated_at: Option<DateTime<Utc>>,
    }
}

mod type_changed {
    use super::*;
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
    #[sync(entity = "Account", table = "accounts")]
    pub(crate) struct Account {
        #[sync(id)]
        pub(crate) id: String,
        pub(crate) name: i64,
        #[sync(updated_at)]
        pub(crate) updated_at: Option<DateTime<Utc>>,
    }
}

mod required_added {
    use super::*;
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
    #[sync(entity = "Account", table = "accounts")]
    pub(crate) struct Account {
        #[sync(id)]
        pub(crate) id: String,
        pub(crate) name: String,
        pub(crate) level: i32,
        #[sync(updated_at)]
        pub(crate) updated_at: Option<DateTime<Utc>>,
    }
}

mod note_required {
    use super::*;
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
    #[sync(entity = "Account", table = "accounts")]
    pub(crate) struct Account {
        #[sync(id)]
        pub(crate) id: String,
        pub(crate) name: String,
        pub(crate) note: String,
        #[sync(updated_at)]
        pub(crate) updated_at: Option<DateTime<Utc>>,
    }
}

fn registry_of<T: Syncable>() -> Registry {
    Registry::builder().entity::<T>().build().unwrap()
}

/// A store of `T` where the fixture's store is, as a restarted server opens it.
async fn open<T: Syncable>(fixture: &Fixture) -> AnyStore {
    fixture.open(registry_of::<T>()).await.unwrap()
}

/// Opens a store of `T` and uses a tenant: SQLite evolves a tenant's database on its first
/// use, PostgreSQL its shared tables at connect; either refusal is returned.
async fn open_and_use<T: Syncable>(fixture: &Fixture) -> Result<AnyStore, Error> {
    let store = fixture.open(registry_of::<T>()).await?;
    store.cursor(&TenantId::new("t").unwrap()).await?;
    Ok(store)
}

fn schema_error(error: Error) -> String {
    assert!(matches!(error, Error::Schema { .. }), "{error:?}");
    error.to_string()
}

store_tests! {
registry = super::registry_of::<super::v1::Account>();

async fn adding_fields_to_an_existing_database_keeps_its_rows(fixture: Fixture) {
    let tenant = TenantId::new("t").unwrap();
    {
        let store = open::<v1::Account>(&fixture).await;
        let old = v1::Account {
            id: "a1".into(),
            name: "old row".into(),
            updated_at: None,
        };
        store.put(&tenant, &old).await.unwrap();
    }

    let store = open::<v2::Account>(&fixture).await;
    let old: v2::Account = store.get(&tenant, "a1").await.unwrap().unwrap();
    assert_eq!(
        (old.name.as_str(), old.note.as_deref(), old.rank),
        ("old row", None, 0)
    );

    let new = v2::Account {
        id: "a2".into(),
        name: "new row".into(),
        note: Some("hi".into()),
        rank: 7,
        updated_at: None,
    };
    store.put(&tenant, &new).await.unwrap();
    let stored: v2::Account = store.get(&tenant, "a2").await.unwrap().unwrap();
    assert_eq!((stored.note.as_deref(), stored.rank), (Some("hi"), 7));
    drop(store);

    // Removing a field again keeps its column and data; nothing is dropped.
    let store = open::<v1::Account>(&fixture).await;
    assert_eq!(store.list::<v1::Account>(&tenant).await.unwrap().len(), 2);
    drop(store);
    let store = open::<v2::Account>(&fixture).await;
    let stored: v2::Account = store.get(&tenant, "a2").await.unwrap().unwrap();
    assert_eq!(stored.rank, 7);
}

async fn unsafe_changes_are_refused_and_change_nothing(fixture: Fixture) {
    let tenant = TenantId::new("t").unwrap();
    {
        let store = open::<v2::Account>(&fixture).await;
        let row = v2::Account {
            id: "a1".into(),
            name: "kept".into(),
            note: None,
            rank: 1,
            updated_at: None,
        };
        store.put(&tenant, &row).await.unwrap();
    }

    let error = schema_error(
        open_and_use::<type_changed::Account>(&fixture)
            .await
            .err()
            .expect("refused"),
    );
    assert!(
        error.contains("table \"accounts\", column \"name\""),
        "{error}"
    );
    assert!(
        error.contains("type changed from text to bigint"),
        "{error}"
    );
    assert!(error.contains("new field"), "the fix is named: {error}");

    let error = schema_error(
        open_and_use::<required_added::Account>(&fixture)
            .await
            .err()
            .expect("refused"),
    );
    assert!(error.contains("column \"level\""), "{error}");
    assert!(error.contains("1 live rows"), "{error}");
    assert!(error.contains("#[sync(default)]"), "{error}");

    let error = schema_error(
        open_and_use::<note_required::Account>(&fixture)
            .await
            .err()
            .expect("refused"),
    );
    assert!(error.contains("column \"note\""), "{error}");
    assert!(error.contains("1 live rows hold NULL"), "{error}");

    let store = open::<v2::Account>(&fixture).await;
    let row: v2::Account = store.get(&tenant, "a1").await.unwrap().unwrap();
    assert_eq!(
        row.name, "kept",
        "the refused opens left the database as it was"
    );
}

async fn a_required_field_is_added_freely_while_no_row_is_live(fixture: Fixture) {
    let tenant = TenantId::new("t").unwrap();
    {
        let store = open::<v1::Account>(&fixture).await;
        let row = v1::Account {
            id: "a1".into(),
            name: "x".into(),
            updated_at: None,
        };
        store.put(&tenant, &row).await.unwrap();
        store.delete::<v1::Account>(&tenant, "a1").await.unwrap();
    }
    let store = open::<required_added::Account>(&fixture).await;
    let row = required_added::Account {
        id: "a2".into(),
        name: "y".into(),
        level: 3,
        updated_at: None,
    };
    store.put(&tenant, &row).await.unwrap();
    assert_eq!(
        store
            .get::<required_added::Account>(&tenant, "a2")
            .await
            .unwrap()
            .unwrap()
            .level,
        3
    );
}

async fn an_entity_registered_later_gets_its_table_at_the_next_open(fixture: Fixture) {
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
    pub(crate) struct Tag {
        #[sync(id)]
        pub(crate) id: String,
        #[sync(updated_at)]
        pub(crate) updated_at: Option<DateTime<Utc>>,
    }
    let tenant = TenantId::new("t").unwrap();
    open_and_use::<v1::Account>(&fixture).await.unwrap();

    let registry = Registry::builder()
        .entity::<v1::Account>()
        .entity::<Tag>()
        .build()
        .unwrap();
    let store = fixture.open(registry).await.unwrap();
    store
        .put(
            &tenant,
            &Tag {
                id: "t1".into(),
                updated_at: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.snapshot(&tenant).await.unwrap().collections["tags"].len(),
        1
    );
}
}
