//! Which database and which bus a configuration selects, checked before anything opens.
//!
//! | `database_url`             | `bus_url`        | data                        | bus            |
//! |----------------------------|------------------|-----------------------------|----------------|
//! | none                       | none             | SQLite files in `data_dir`  | none (one node)|
//! | none                       | any              | refused                     |                |
//! | `postgres://…`, `postgresql://…` | none       | PostgreSQL                  | LISTEN/NOTIFY  |
//! | `postgres://…`             | `nats://…`       | PostgreSQL                  | NATS           |
//!
//! Any other scheme is refused with an error that names the setting. URLs in errors and
//! logs have their password masked.
//!
//! ```
//! let mut config = finwise::Config::new("data");
//! config.bus_url = Some("nats://127.0.0.1:4222".to_owned());
//! let error = finwise::backend::Backend::of(&config).unwrap_err();
//! assert!(error.to_string().contains("SQLite"), "{error}");
//! ```

use std::path::PathBuf;

use crate::config::Config;
use crate::error::{Error, Result};

/// Where the server keeps its data.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// One SQLite database per tenant, and `auth.db`, under this directory: one process.
    Sqlite {
        /// The data directory.
        data_dir: PathBuf,
    },
    /// Every tenant's data and the auth tables in one PostgreSQL database, shared by every
    /// node.
    Postgres {
        /// The connection URL.
        url: String,
        /// The schema, or `None` for the connection's default.
        schema: Option<String>,
        /// How the nodes tell each other of commits.
        bus: Bus,
    },
}

/// How PostgreSQL nodes tell each other of their commits and deleted tenants.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Bus {
    /// LISTEN/NOTIFY in the database itself: nothing else to run.
    Notify,
    /// A NATS server at this URL.
    Nats(String),
}

impl Backend {
    /// What `config` selects, or why it cannot work.
    pub fn of(config: &Config) -> Result<Backend> {
        let Some(url) = config.database_url.as_deref().map(str::trim) else {
            if let Some(bus) = &config.bus_url {
                return Err(Error::Config(format!(
                    "--bus-url {} needs a PostgreSQL --database-url: SQLite data belongs to \
                     one process, so there are no other nodes to tell",
                    mask_password(bus)
                )));
            }
            if config.database_schema.is_some() {
                return Err(Error::Config(
                    "--database-schema needs a PostgreSQL --database-url".to_owned(),
                ));
            }
            return Ok(Backend::Sqlite {
                data_dir: config.data_dir.clone(),
            });
        };
        if !["postgres://", "postgresql://"]
            .iter()
            .any(|scheme| starts_with_ignoring_case(url, scheme))
        {
            return Err(Error::Config(format!(
                "--database-url {} is not a PostgreSQL URL; use postgres://user:password@host:port/database, \
                 or leave it out for the embedded SQLite databases under --data-dir",
                mask_password(url)
            )));
        }
        let schema = match config.database_schema.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(schema) => Some(valid_schema(schema)?.to_owned()),
        };
        let bus = match config.bus_url.as_deref().map(str::trim) {
            None | Some("") => Bus::Notify,
            Some(bus) if starts_with_ignoring_case(bus, "nats://") => Bus::Nats(bus.to_owned()),
            Some(bus) => {
                return Err(Error::Config(format!(
                    "--bus-url {} is not a NATS URL; use nats://host:port, or leave it out \
                     for PostgreSQL LISTEN/NOTIFY",
                    mask_password(bus)
                )));
            }
        };
        if config.database_max_connections < 2 {
            return Err(Error::Config(
                "the PostgreSQL pool needs at least 2 connections".to_owned(),
            ));
        }
        Ok(Backend::Postgres {
            url: url.to_owned(),
            schema,
            bus,
        })
    }
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Sqlite { data_dir } => f
                .debug_struct("Sqlite")
                .field("data_dir", data_dir)
                .finish(),
            Backend::Postgres { url, schema, bus } => f
                .debug_struct("Postgres")
                .field("url", &mask_password(url))
                .field("schema", schema)
                .field("bus", bus)
                .finish(),
        }
    }
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bus::Notify => f.write_str("Notify"),
            Bus::Nats(url) => f.debug_tuple("Nats").field(&mask_password(url)).finish(),
        }
    }
}

/// A schema name the tables can live in: 1 to 63 lowercase letters, digits and `_`, not
/// starting with a digit or `pg_` (so it never needs quoting, and a typo is an error, not
/// a differently spelt schema).
fn valid_schema(schema: &str) -> Result<&str> {
    let valid = schema
        .bytes()
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == b'_')
        && schema.len() <= 63
        && !schema.starts_with("pg_")
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(schema)
    } else {
        Err(Error::Config(format!(
            "invalid --database-schema {schema:?}: use 1 to 63 lowercase letters, digits and '_', \
             not starting with a digit or pg_"
        )))
    }
}

fn starts_with_ignoring_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// `url` with its password replaced by `***`, for errors and logs (the store's own
/// masking, so every message masks alike).
pub use sync_core::store::postgres::mask_password;

#[cfg(test)]
mod tests {
    use super::*;

    fn config(database: Option<&str>, bus: Option<&str>) -> Config {
        let mut config = Config::new("data");
        config.database_url = database.map(str::to_owned);
        config.bus_url = bus.map(str::to_owned);
        config
    }

    #[test]
    fn no_url_is_sqlite_and_refuses_a_bus() {
        assert_eq!(
            Backend::of(&config(None, None)).unwrap(),
            Backend::Sqlite {
                data_dir: "data".into()
            }
        );
        let error = Backend::of(&config(None, Some("nats://u:pw@127.0.0.1:4222"))).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("SQLite") && text.contains("u:***@127.0.0.1:4222"),
            "{text}"
        );
        assert!(!text.contains("pw"), "{text}");
    }

    #[test]
    fn postgres_urls_select_postgres_with_notify_or_nats() {
        for url in ["postgres://app@db/app", "PostgreSQL://app@db/app"] {
            let Backend::Postgres { bus, schema, .. } =
                Backend::of(&config(Some(url), None)).unwrap()
            else {
                panic!("{url} is PostgreSQL");
            };
            assert_eq!((bus, schema), (Bus::Notify, None));
        }
        let backend = Backend::of(&config(
            Some("postgres://db/app"),
            Some("nats://127.0.0.1:4222"),
        ));
        assert!(
            matches!(backend, Ok(Backend::Postgres { bus: Bus::Nats(ref url), .. }) if url == "nats://127.0.0.1:4222"),
            "{backend:?}"
        );
    }

    #[test]
    fn other_schemes_and_bad_schemas_are_refused() {
        let error = Backend::of(&config(Some("mysql://root:pw@db/app"), None)).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("not a PostgreSQL URL") && text.contains("root:***@db"),
            "{text}"
        );
        let error =
            Backend::of(&config(Some("postgres://db/app"), Some("redis://db:6379"))).unwrap_err();
        assert!(error.to_string().contains("not a NATS URL"), "{error}");
        let mut bad_schema = config(Some("postgres://db/app"), None);
        bad_schema.database_schema = Some("a-b; DROP".to_owned());
        let error = Backend::of(&bad_schema).unwrap_err();
        assert!(error.to_string().contains("--database-schema"), "{error}");
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_password("postgres://app:s3cr@t@db:5432/app?sslmode=require"),
            "postgres://app:***@db:5432/app?sslmode=require"
        );
        assert_eq!(
            mask_password("nats://bus:pw@127.0.0.1:4222"),
            "nats://bus:***@127.0.0.1:4222"
        );
        assert_eq!(
            mask_password("nats://127.0.0.1:4222"),
            "nats://127.0.0.1:4222"
        );
    }
}
