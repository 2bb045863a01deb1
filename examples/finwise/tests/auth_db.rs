//! The auth database's rules on both backends: SQLite (`auth.db`) and PostgreSQL (a fresh
//! schema of the test server, see `common::PgSchema`).

mod common;

use common::PgSchema;
use finwise::db::{AuthDb, NewUser, Pool, Settings, TenantConflict, UserConflict};
use sync_core::TenantId;

/// The same check, once on SQLite and once on PostgreSQL.
macro_rules! on_both {
    ($name:ident, $check:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let dir = tempfile::tempdir().unwrap();
                let db = super::AuthDb::open(&dir.path().join("auth.db"))
                    .await
                    .unwrap();
                super::$check(&db).await;
            }

            #[tokio::test]
            async fn postgres() {
                let schema = super::PgSchema::create().await;
                let db = super::AuthDb::postgres(schema.pool.clone()).await.unwrap();
                super::$check(&db).await;
            }
        }
    };
}

on_both!(
    unique_names_and_emails,
    names_and_emails_are_unique_ignoring_case
);
on_both!(logins, login_matches_email_then_name);
on_both!(tenant_conflicts, tenant_names_and_ids_conflict);
on_both!(cascades, deleting_a_user_deletes_their_tenants_and_settings);
on_both!(settings, settings_are_saved_and_read_back);
on_both!(
    racing_registrations,
    concurrent_registrations_of_one_email_end_in_one_user
);

fn new<'a>(name: &'a str, email: &'a str) -> NewUser<'a> {
    NewUser {
        name,
        email,
        password_hash: "$2b$04$hash",
    }
}

async fn names_and_emails_are_unique_ignoring_case(db: &AuthDb) {
    let anna = db
        .create_user(new(" Anna ", "Anna@Example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (anna.name.as_str(), anna.email.as_str()),
        ("Anna", "Anna@Example.com")
    );
    assert_eq!(
        db.create_user(new("other", "ANNA@example.COM"))
            .await
            .unwrap(),
        Err(UserConflict::Email)
    );
    assert_eq!(
        db.create_user(new("ANNA", "other@example.com"))
            .await
            .unwrap(),
        Err(UserConflict::Name)
    );
    assert_eq!(
        db.create_user(new("anna", "anna@example.com"))
            .await
            .unwrap(),
        Err(UserConflict::Email),
        "the email is checked first"
    );
    assert_eq!(db.user(&anna.uuid).await.unwrap(), Some(anna));
}

async fn login_matches_email_then_name(db: &AuthDb) {
    let anna = db
        .create_user(new("anna", "anna@example.com"))
        .await
        .unwrap()
        .unwrap();
    // Bert's name is Anna's email: a login by email finds Anna first.
    let bert = db
        .create_user(new("bert@example.com", "anna@example.org"))
        .await
        .unwrap()
        .unwrap();
    let (found, hash) = db.find_login("ANNA@example.com").await.unwrap().unwrap();
    assert_eq!(
        (found.uuid.as_str(), hash.as_str()),
        (anna.uuid.as_str(), "$2b$04$hash")
    );
    let (found, _) = db.find_login("Anna").await.unwrap().unwrap();
    assert_eq!(found.uuid, anna.uuid);
    let (found, _) = db.find_login("anna@example.org").await.unwrap().unwrap();
    assert_eq!(found.uuid, bert.uuid);
    assert!(db.find_login("nobody").await.unwrap().is_none());
    assert!(
        db.set_password_hash(&anna.uuid, "$2b$04$new")
            .await
            .unwrap()
    );
    let (_, hash) = db.find_login("anna").await.unwrap().unwrap();
    assert_eq!(hash, "$2b$04$new");
    assert!(!db.set_password_hash("no-such-user", "x").await.unwrap());
}

async fn tenant_conflicts(db: &AuthDb) -> (String, String) {
    let anna = db
        .create_user(new("anna", "anna@example.com"))
        .await
        .unwrap()
        .unwrap();
    let bert = db
        .create_user(new("bert", "bert@example.com"))
        .await
        .unwrap()
        .unwrap();
    let first = TenantId::new("t-first").unwrap();
    let second = TenantId::new("t-second").unwrap();
    db.create_tenant(&first, "Haushalt", &anna.uuid)
        .await
        .unwrap()
        .unwrap();
    db.create_tenant(&second, "Urlaub", &anna.uuid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        db.create_tenant(&TenantId::new("t-third").unwrap(), "Haushalt", &anna.uuid)
            .await
            .unwrap(),
        Err(TenantConflict::Name)
    );
    assert_eq!(
        db.create_tenant(&first, "Anders", &anna.uuid)
            .await
            .unwrap(),
        Err(TenantConflict::Id)
    );
    // Names are unique per owner only.
    db.create_tenant(&TenantId::new("t-bert").unwrap(), "Haushalt", &bert.uuid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        db.rename_tenant("t-second", "Haushalt").await.unwrap(),
        Some(Err(TenantConflict::Name))
    );
    let renamed = db
        .rename_tenant("t-second", "Reisen")
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(renamed.name, "Reisen");
    assert_eq!(db.rename_tenant("t-none", "x").await.unwrap(), None);
    let names: Vec<_> = db
        .tenants_of(&anna.uuid)
        .await
        .unwrap()
        .into_iter()
        .map(|tenant| tenant.name)
        .collect();
    assert_eq!(names, ["Haushalt", "Reisen"], "oldest first");
    assert!(db.delete_tenant("t-first").await.unwrap());
    assert!(!db.delete_tenant("t-first").await.unwrap());
    assert_eq!(db.tenants_of(&anna.uuid).await.unwrap().len(), 1);
    (anna.uuid, bert.uuid)
}

async fn tenant_names_and_ids_conflict(db: &AuthDb) {
    tenant_conflicts(db).await;
}

async fn deleting_a_user_deletes_their_tenants_and_settings(db: &AuthDb) {
    let (anna, bert) = tenant_conflicts(db).await;
    let settings = Settings::defaults(&anna, sync_core::version::Version::now());
    db.save_settings(&settings).await.unwrap();
    let deleted = match db.pool() {
        Pool::Sqlite(pool) => sqlx::query("DELETE FROM users WHERE uuid = $1")
            .bind(&anna)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
        Pool::Postgres(pool) => sqlx::query("DELETE FROM users WHERE uuid = $1")
            .bind(&anna)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
        other => panic!("unknown backend {other:?}"),
    };
    assert_eq!(deleted, 1);
    assert!(db.tenants_of(&anna).await.unwrap().is_empty());
    assert!(db.tenant("t-second").await.unwrap().is_none());
    assert!(db.settings(&anna).await.unwrap().is_none());
    assert_eq!(
        db.tenants_of(&bert).await.unwrap().len(),
        1,
        "others keep theirs"
    );
}

async fn settings_are_saved_and_read_back(db: &AuthDb) {
    let anna = db
        .create_user(new("anna", "anna@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(db.settings(&anna.uuid).await.unwrap(), None);
    let mut settings = Settings::defaults(&anna.uuid, anna.created_at);
    settings.history_retention_days = 4_000_000_000;
    db.save_settings(&settings).await.unwrap();
    assert_eq!(
        db.settings(&anna.uuid).await.unwrap().as_ref(),
        Some(&settings)
    );
    settings.log_level = "DEBUG".to_owned();
    settings.log_categories = vec!["sync".to_owned()];
    db.save_settings(&settings).await.unwrap();
    assert_eq!(db.settings(&anna.uuid).await.unwrap(), Some(settings));
}

async fn concurrent_registrations_of_one_email_end_in_one_user(db: &AuthDb) {
    let attempts = (0..8).map(|index| {
        let db = db.clone();
        tokio::spawn(async move {
            let name = format!("racer{index}");
            db.create_user(new(&name, "Same@example.com"))
                .await
                .unwrap()
        })
    });
    let outcomes = futures::future::join_all(attempts).await;
    let created = outcomes
        .iter()
        .filter(|outcome| outcome.as_ref().unwrap().is_ok())
        .count();
    assert_eq!(created, 1, "{outcomes:?}");
    for outcome in outcomes {
        if let Err(conflict) = outcome.unwrap() {
            assert_eq!(conflict, UserConflict::Email);
        }
    }
}

#[tokio::test]
async fn nodes_starting_together_create_the_postgres_tables_once() {
    let schema = PgSchema::create().await;
    let starts = (0..3).map(|_| AuthDb::postgres(schema.pool.clone()));
    for db in futures::future::join_all(starts).await {
        assert!(db.unwrap().ping().await);
    }
    // And a later start finds them.
    let db = AuthDb::postgres(schema.pool.clone()).await.unwrap();
    db.create_user(new("anna", "anna@example.com"))
        .await
        .unwrap()
        .unwrap();
    drop(schema);
}

/// `users`, `tenants` and `tenant_members` as they were before the role `member`, with
/// one editor: `$TEXT` is the text type of the backend.
fn before_the_member_role(text: &str) -> String {
    format!(
        "CREATE TABLE users (uuid {text} PRIMARY KEY NOT NULL, name {text} NOT NULL, name_key {text} NOT NULL,
             email {text} NOT NULL, email_key {text} NOT NULL, password_hash TEXT NOT NULL,
             created_at {text} NOT NULL, updated_at {text} NOT NULL);
         CREATE TABLE tenants (uuid {text} PRIMARY KEY NOT NULL, name {text} NOT NULL,
             user_id {text} NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
             created_at {text} NOT NULL, updated_at {text} NOT NULL, UNIQUE (user_id, name));
         CREATE TABLE tenant_members (
             tenant_id {text} NOT NULL REFERENCES tenants (uuid) ON DELETE CASCADE,
             user_id {text} NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
             role {text} NOT NULL CHECK (role IN ('editor', 'viewer')),
             created_at {text} NOT NULL, updated_at {text} NOT NULL,
             PRIMARY KEY (tenant_id, user_id));
         INSERT INTO users VALUES ('u-owner', 'o', 'o', 'o@x', 'o@x', 'h', 't', 't'),
             ('u-ed', 'e', 'e', 'e@x', 'e@x', 'h', 't', 't'), ('u-mem', 'm', 'm', 'm@x', 'm@x', 'h', 't', 't');
         INSERT INTO tenants VALUES ('tenant-1', 'Haushalt', 'u-owner', 't', 't');
         INSERT INTO tenant_members VALUES ('tenant-1', 'u-ed', 'editor', 't', 't');"
    )
}

/// After the widening: the editor kept, and the role `member` accepted.
async fn the_member_role_is_accepted_and_old_members_kept(db: &AuthDb) {
    assert_eq!(
        db.role_in("tenant-1", "u-ed").await.unwrap(),
        Some(finwise::db::Role::Editor)
    );
    assert!(
        db.add_member("tenant-1", "u-mem", finwise::db::Role::Member)
            .await
            .unwrap()
    );
    assert_eq!(
        db.role_in("tenant-1", "u-mem").await.unwrap(),
        Some(finwise::db::Role::Member)
    );
}

#[tokio::test]
async fn an_auth_db_made_before_the_member_role_is_widened_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::raw_sql(&before_the_member_role("TEXT"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let db = AuthDb::open(&path).await.unwrap();
    the_member_role_is_accepted_and_old_members_kept(&db).await;
    // Opening again changes nothing.
    drop(db);
    let db = AuthDb::open(&path).await.unwrap();
    assert_eq!(
        db.role_in("tenant-1", "u-mem").await.unwrap(),
        Some(finwise::db::Role::Member)
    );
}

#[tokio::test]
async fn an_auth_db_made_before_the_member_role_is_widened_on_postgres() {
    let schema = PgSchema::create().await;
    sqlx::raw_sql(&before_the_member_role(r#"TEXT COLLATE "C""#))
        .execute(&schema.pool)
        .await
        .unwrap();
    let db = AuthDb::postgres(schema.pool.clone()).await.unwrap();
    the_member_role_is_accepted_and_old_members_kept(&db).await;
    AuthDb::postgres(schema.pool.clone()).await.unwrap();
}
