//! The real `finwise` binary refuses to start, with a clear message and a non-zero exit,
//! when its database or bus URL cannot work: an unreachable PostgreSQL or NATS (named, with
//! the password masked), an unknown scheme, or a bus with SQLite.

mod common;

use common::PgSchema;
use common::process::exit_of;

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn args(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(flag, value)| [(*flag).to_owned(), (*value).to_owned()])
        .collect()
}

#[tokio::test]
async fn an_unreachable_postgres_is_named_with_its_password_masked() {
    let port = closed_port();
    let url = format!("postgres://finwise:hunter2@127.0.0.1:{port}/finwise");
    let (status, printed) = exit_of(&args(&[("--database-url", &url)])).await;
    assert!(!status.success(), "{printed}");
    assert!(
        printed.contains(&format!(
            "cannot connect to PostgreSQL at postgres://finwise:***@127.0.0.1:{port}/finwise"
        )),
        "{printed}"
    );
    assert!(
        !printed.contains("hunter2"),
        "the password leaked: {printed}"
    );
}

#[tokio::test]
async fn an_unreachable_nats_is_named_with_its_password_masked() {
    let schema = PgSchema::create().await;
    let port = closed_port();
    let bus = format!("nats://bus:natsword@127.0.0.1:{port}");
    let (status, printed) = exit_of(&args(&[
        ("--database-url", &schema.url),
        ("--database-schema", &schema.name),
        ("--database-connections", "2"),
        ("--bus-url", &bus),
    ]))
    .await;
    assert!(!status.success(), "{printed}");
    assert!(
        printed.contains(&format!(
            "cannot connect to NATS at nats://bus:***@127.0.0.1:{port}"
        )),
        "{printed}"
    );
    assert!(
        !printed.contains("natsword"),
        "the password leaked: {printed}"
    );
    drop(schema);
}

#[tokio::test]
async fn a_bus_with_sqlite_and_unknown_schemes_are_refused() {
    let (status, printed) = exit_of(&args(&[("--bus-url", "nats://127.0.0.1:4222")])).await;
    assert!(!status.success(), "{printed}");
    assert!(
        printed.contains("needs a PostgreSQL --database-url"),
        "{printed}"
    );

    let (status, printed) = exit_of(&args(&[(
        "--database-url",
        "mysql://root:pw@127.0.0.1/app",
    )]))
    .await;
    assert!(!status.success(), "{printed}");
    assert!(printed.contains("is not a PostgreSQL URL"), "{printed}");
    assert!(
        printed.contains("mysql://root:***@127.0.0.1/app"),
        "{printed}"
    );

    let (status, printed) = exit_of(&args(&[
        ("--database-url", "postgres://127.0.0.1/app"),
        ("--bus-url", "redis://127.0.0.1:6379"),
    ]))
    .await;
    assert!(!status.success(), "{printed}");
    assert!(printed.contains("is not a NATS URL"), "{printed}");
}
