//! Tenants: validated ids, one database each created on first use, isolation, and the
//! bounded cache of open databases.

mod common;

use std::time::Duration;

use common::{at, delete, registry, store, store_tests, tenant, update};
use sync_core::TenantId;
use sync_core::outcome::Outcome;
use sync_core::store::AnyStore;
use sync_core::store::Store;
use sync_core::store::sqlite::SqliteStore;

#[tokio::test]
async fn invalid_tenant_ids_are_refused_before_any_path_exists() {
    let (dir, _store) = store().await;
    let long = "x".repeat(65);
    for bad in [
        "",
        "../x",
        "/etc/passwd",
        "a/b",
        "..",
        "a.b",
        "nul\0byte",
        "tab\t",
        long.as_str(),
    ] {
        let error = TenantId::new(bad).unwrap_err();
        assert!(
            error.to_string().starts_with("invalid tenant id"),
            "{bad:?}: {error}"
        );
    }
    let created: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(
        created.is_empty(),
        "nothing is created for refused ids: {created:?}"
    );
    assert!(!dir.path().parent().unwrap().join("x.db").exists());
}

#[tokio::test]
async fn a_tenant_database_is_created_on_first_use_in_wal_mode() {
    let (dir, store) = store().await;
    let tenant = tenant("household-1");
    let path = store.database_path(&tenant);
    assert_eq!(path, dir.path().join("household-1.db"));
    assert!(!path.exists());

    assert_eq!(store.cursor(&tenant).await.unwrap(), 0);
    assert!(path.exists());
    // Creating the tables was a write; in WAL mode it went to the write-ahead log, which
    // stays while the database is open (a rollback-journal database has no such file).
    let wal = dir.path().join("household-1.db-wal");
    assert!(
        wal.exists(),
        "{} is missing: not in WAL mode",
        wal.display()
    );
    let snapshot = store.snapshot(&tenant).await.unwrap();
    assert_eq!(
        snapshot.collections.keys().copied().collect::<Vec<_>>(),
        ["account_groups", "accounts"]
    );
}

#[tokio::test]
async fn open_databases_are_bounded_and_idle_ones_close() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::builder(dir.path(), registry())
        .max_open_tenants(2)
        .idle_timeout(Duration::from_millis(50))
        .open()
        .await
        .unwrap();
    for n in 0..5 {
        let tenant = tenant(&format!("t{n}"));
        store
            .apply(&tenant, &[update("c", "a", &format!("tenant {n}"), &at(1))])
            .await
            .unwrap();
        assert!(
            store.open_tenants() <= 2,
            "{} open after tenant {n}",
            store.open_tenants()
        );
    }
    for n in 0..5 {
        let state = store
            .get_state(&tenant(&format!("t{n}")), "Account", "a")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            state.data["name"],
            format!("tenant {n}"),
            "a closed database reopens intact"
        );
    }
    tokio::time::sleep(Duration::from_millis(60)).await;
    store.close_idle();
    assert_eq!(store.open_tenants(), 0);
}

#[tokio::test]
async fn concurrent_first_uses_open_a_tenant_once() {
    let (_dir, store) = store().await;
    let tenant = tenant("busy");
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let (store, tenant) = (store.clone(), tenant.clone());
            tokio::spawn(async move {
                store
                    .apply(
                        &tenant,
                        &[update(&format!("c{n}"), &format!("a{n}"), "x", &at(1))],
                    )
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(store.open_tenants(), 1);
    assert_eq!(store.cursor(&tenant).await.unwrap(), 16);
}

#[tokio::test]
async fn deleting_a_tenant_removes_its_files_and_only_its_data() {
    let (dir, store) = store().await;
    let (doomed, kept) = (tenant("doomed"), tenant("kept"));
    store
        .apply(&doomed, &[update("c1", "a1", "x", &at(1))])
        .await
        .unwrap();
    store
        .apply(&kept, &[update("c1", "a1", "y", &at(1))])
        .await
        .unwrap();

    store.delete_tenant(&doomed).await.unwrap();
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("doomed"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        store.cursor(&doomed).await.unwrap(),
        0,
        "a later use starts empty"
    );
    assert_eq!(store.cursor(&kept).await.unwrap(), 1);
}

store_tests! {
async fn tenants_never_see_each_others_data(fixture: Fixture) {
    let store = fixture.store.clone();
    let (a, b) = (tenant("a"), tenant("b"));
    store
        .apply(&a, &[update("c1", "shared-id", "A's", &at(1))])
        .await
        .unwrap();
    store
        .apply(&b, &[update("c1", "shared-id", "B's", &at(0))])
        .await
        .unwrap();

    let in_a = store
        .get_state(&a, "Account", "shared-id")
        .await
        .unwrap()
        .unwrap();
    let in_b = store
        .get_state(&b, "Account", "shared-id")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(in_a.data["name"], "A's");
    assert_eq!(
        in_b.data["name"], "B's",
        "B's older change is not judged against A's row"
    );
    assert_eq!(
        store.changes_since(&b, 0, 10).await.unwrap().changes.len(),
        1
    );
    assert!(store.snapshot(&tenant("c")).await.unwrap().collections["accounts"].is_empty());
}

async fn deleting_a_tenant_removes_only_its_data(fixture: Fixture) {
    let store = fixture.store.clone();
    let (doomed, kept) = (tenant("doomed"), tenant("kept"));
    for tenant in [&doomed, &kept] {
        store
            .apply(
                tenant,
                &[
                    update("c1", "a1", "x", &at(1)),
                    delete("c2", "a2", Some(&at(1))),
                ],
            )
            .await
            .unwrap();
    }

    store.delete_tenant(&doomed).await.unwrap();
    assert_eq!(store.cursor(&doomed).await.unwrap(), 0, "a later use starts empty");
    assert_eq!(store.get_state(&doomed, "Account", "a1").await.unwrap(), None);
    assert_eq!(store.get_state(&doomed, "Account", "a2").await.unwrap(), None);
    assert!(store.changes_since(&doomed, 0, 10).await.unwrap().changes.is_empty());
    let retry = store
        .apply(&doomed, &[update("c1", "a1", "x", &at(1))])
        .await
        .unwrap();
    assert!(
        matches!(retry.outcomes[0], Outcome::Applied { .. }),
        "its processed change ids are gone too: {:?}",
        retry.outcomes[0]
    );

    assert_eq!(store.cursor(&kept).await.unwrap(), 2);
    assert_eq!(store.changes_since(&kept, 0, 10).await.unwrap().changes.len(), 2);
    let retry = store
        .apply(&kept, &[update("c1", "a1", "x", &at(1))])
        .await
        .unwrap();
    assert!(matches!(retry.outcomes[0], Outcome::Duplicate { .. }));

    if let (AnyStore::Postgres(pg), Some(schema)) = (&fixture.store, fixture.schema()) {
        // In the shared tables, every row of the tenant is gone and the other's remain.
        let count = |table: &str, column: &str, tenant: &str| {
            let sql = format!("SELECT COUNT(*) FROM \"{schema}\".\"{table}\" WHERE \"{column}\" = $1");
            let tenant = tenant.to_owned();
            let pool = pg.pool().clone();
            async move {
                sqlx::query_scalar::<_, i64>(&sql)
                    .bind(tenant)
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        store.delete_tenant(&doomed).await.unwrap();
        for (table, column) in [
            ("accounts", "_sync_tenant"),
            ("account_groups", "_sync_tenant"),
            ("_sync_changes", "tenant"),
            ("_sync_tenants", "tenant"),
        ] {
            assert_eq!(count(table, column, "doomed").await, 0, "{table}");
        }
        assert_eq!(count("accounts", "_sync_tenant", "kept").await, 2);
        assert_eq!(count("_sync_changes", "tenant", "kept").await, 2);
        assert_eq!(count("_sync_tenants", "tenant", "kept").await, 1);
    }
}

async fn concurrent_first_writes_of_a_tenant_share_one_sequence(fixture: Fixture) {
    let store = fixture.store.clone();
    let tenant = tenant("busy");
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let (store, tenant) = (store.clone(), tenant.clone());
            tokio::spawn(async move {
                store
                    .apply(
                        &tenant,
                        &[update(&format!("c{n}"), &format!("a{n}"), "x", &at(1))],
                    )
                    .await
            })
        })
        .collect();
    let mut cursors = Vec::new();
    for task in tasks {
        cursors.push(task.await.unwrap().unwrap().cursor);
    }
    cursors.sort_unstable();
    assert_eq!(cursors, (1..=16).collect::<Vec<u64>>());
    assert_eq!(store.cursor(&tenant).await.unwrap(), 16);
}
}
