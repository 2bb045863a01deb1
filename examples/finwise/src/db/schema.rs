//! The auth tables' definitions, per backend, and their creation.

use sqlx::PgPool;

use crate::error::Result;

/// The SQLite tables of `auth.db`.
pub(super) const SQLITE: &str = "
CREATE TABLE IF NOT EXISTS users (
    uuid TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_name_key ON users (name_key);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (email_key);

CREATE TABLE IF NOT EXISTS tenants (
    uuid TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (user_id, name)
);

CREATE TABLE IF NOT EXISTS tenant_members (
    tenant_id TEXT NOT NULL REFERENCES tenants (uuid) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('editor', 'member', 'viewer')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX IF NOT EXISTS tenant_members_user_id ON tenant_members (user_id);

CREATE TABLE IF NOT EXISTS user_settings (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    log_level TEXT NOT NULL,
    log_categories TEXT NOT NULL,
    history_retention_days INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS login_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS login_sessions_expires_at ON login_sessions (expires_at);
";

/// The same tables on PostgreSQL, plus `server_secrets` (the JWT secret every node
/// shares). Text is compared and sorted bytewise (`COLLATE "C"`), as SQLite does, whatever
/// the database's locale; integers are `BIGINT`, the `i64` the queries read. The
/// constraints carry the names [`super::Unique`] recognises in errors.
const POSTGRES: &str = r#"
CREATE TABLE IF NOT EXISTS users (
    uuid TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    name_key TEXT COLLATE "C" NOT NULL,
    email TEXT COLLATE "C" NOT NULL,
    email_key TEXT COLLATE "C" NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (uuid)
);
CREATE UNIQUE INDEX IF NOT EXISTS users_name_key ON users (name_key);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (email_key);

CREATE TABLE IF NOT EXISTS tenants (
    uuid TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    CONSTRAINT tenants_pkey PRIMARY KEY (uuid),
    CONSTRAINT tenants_user_id_name_key UNIQUE (user_id, name)
);

CREATE TABLE IF NOT EXISTS tenant_members (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (uuid) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    role TEXT COLLATE "C" NOT NULL CONSTRAINT tenant_members_role_check CHECK (role IN ('editor', 'member', 'viewer')),
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    CONSTRAINT tenant_members_pkey PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX IF NOT EXISTS tenant_members_user_id ON tenant_members (user_id);

CREATE TABLE IF NOT EXISTS user_settings (
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    log_level TEXT NOT NULL,
    log_categories TEXT NOT NULL,
    history_retention_days BIGINT NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    CONSTRAINT user_settings_pkey PRIMARY KEY (user_id)
);

CREATE TABLE IF NOT EXISTS login_sessions (
    id TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    created_at TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C" NOT NULL,
    CONSTRAINT login_sessions_pkey PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS login_sessions_expires_at ON login_sessions (expires_at);

CREATE TABLE IF NOT EXISTS server_secrets (
    name TEXT COLLATE "C" NOT NULL,
    value TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CONSTRAINT server_secrets_pkey PRIMARY KEY (name)
);
"#;

/// Widens the role check of a `tenant_members` table made before the role `member`
/// existed: SQLite cannot alter a check, so the table is copied into one with the new
/// check, in one transaction. Nothing happens once the check allows `member`.
pub(super) async fn widen_roles_sqlite(pool: &sqlx::SqlitePool) -> Result<()> {
    let (sql,): (String,) = sqlx::query_as(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'tenant_members'",
    )
    .fetch_one(pool)
    .await?;
    if sql.contains("'member'") {
        return Ok(());
    }
    let mut transaction = pool.begin().await?;
    sqlx::raw_sql(
        "CREATE TABLE tenant_members_widened (
            tenant_id TEXT NOT NULL REFERENCES tenants (uuid) ON DELETE CASCADE,
            user_id TEXT NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('editor', 'member', 'viewer')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (tenant_id, user_id)
        );
        INSERT INTO tenant_members_widened (tenant_id, user_id, role, created_at, updated_at)
            SELECT tenant_id, user_id, role, created_at, updated_at FROM tenant_members;
        DROP TABLE tenant_members;
        ALTER TABLE tenant_members_widened RENAME TO tenant_members;
        CREATE INDEX IF NOT EXISTS tenant_members_user_id ON tenant_members (user_id);",
    )
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    tracing::info!("auth database: tenant_members now allows the role member");
    Ok(())
}

/// The same on PostgreSQL, under the creation's advisory lock: the check is replaced
/// when its definition does not name `member`.
const WIDEN_ROLES_POSTGRES: &str = r#"
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conrelid = 'tenant_members'::regclass AND contype = 'c'
          AND pg_get_constraintdef(oid) LIKE '%member%'
    ) THEN
        ALTER TABLE tenant_members DROP CONSTRAINT IF EXISTS tenant_members_role_check;
        ALTER TABLE tenant_members ADD CONSTRAINT tenant_members_role_check
            CHECK (role IN ('editor', 'member', 'viewer'));
    END IF;
END
$$;
"#;

/// Creates the missing PostgreSQL tables in the schema `pool`'s connections use.
///
/// `CREATE TABLE IF NOT EXISTS` alone is not safe when two nodes run it at the same moment
/// (both may pass the check and one fails on the catalog's unique index), so the creation
/// runs in one transaction holding an advisory lock keyed by the schema: the second node
/// waits, then finds every table there.
pub(super) async fn create_postgres(pool: &PgPool) -> Result<()> {
    let mut transaction = pool.begin().await?;
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtext('finwise auth tables in ' || coalesce(current_schema(), '')))",
    )
    .execute(&mut *transaction)
    .await?;
    sqlx::raw_sql(POSTGRES).execute(&mut *transaction).await?;
    sqlx::raw_sql(WIDEN_ROLES_POSTGRES)
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(())
}
