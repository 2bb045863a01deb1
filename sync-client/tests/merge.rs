//! Per-field merging end to end: two real clients edit different fields of one
//! `#[sync(merge = "field")]` row while the server is away, and both edits survive on the
//! server and on both replicas, through the real server session (sync-axum over SQLite).

mod common;

use std::time::Duration;

use common::*;
use sync_core::Registry;
use sync_core::merge::FIELD_VERSIONS_KEY;
use sync_testkit::entities::Contact;

const SYNC: Duration = Duration::from_secs(20);

fn registry() -> Registry {
    Registry::builder()
        .entity::<Account>()
        .entity::<Tag>()
        .entity::<Contact>()
        .build()
        .unwrap()
}

async fn contact_client(server: &Server, dir: &Dir, name: &str) -> sync_client::Client {
    builder(&server.url(), &dir.db(name))
        .entity::<Contact>()
        .build()
        .await
        .unwrap()
}

/// The server's contact `id`, with its field versions.
async fn on_server(server: &Server, id: &str) -> serde_json::Value {
    rows(&server.snapshot().await, "contacts")
        .into_iter()
        .find(|row| row["id"] == id)
        .expect("the server holds the contact")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_editing_different_fields_of_one_row_both_keep_their_edit() {
    let dir = Dir::new();
    let server = Server::start_with(&dir.data(), "127.0.0.1:0".parse().unwrap(), registry()).await;
    let address = server.address;
    let a = contact_client(&server, &dir, "a").await;
    let b = contact_client(&server, &dir, "b").await;
    a.put(&Contact::new("k1", "Ann")).await.unwrap();
    sync(&a, SYNC).await;
    sync(&b, SYNC).await;
    let seen = b
        .get::<Contact>("k1")
        .await
        .unwrap()
        .expect("b has the contact");

    // Offline, a renames the contact, then b (later, so its row is the newer one) sets the
    // e-mail address of the row as it last saw it, with the old name.
    server.stop().await;
    let mut renamed = seen.clone();
    renamed.name = "Anna".to_owned();
    a.put(&renamed).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut emailed = seen.clone();
    emailed.email = Some("ann@example.com".to_owned());
    emailed.visits = 3;
    b.put(&emailed).await.unwrap();

    let server = Server::start_with(&dir.data(), address, registry()).await;
    sync(&a, SYNC).await;
    sync(&b, SYNC).await;
    sync(&a, SYNC).await;

    let stored = on_server(&server, "k1").await;
    assert_eq!(
        stored["name"], "Anna",
        "a's edit survives b's newer row: {stored}"
    );
    assert_eq!(stored["email"], "ann@example.com", "{stored}");
    assert_eq!(stored["visits"], 3, "{stored}");
    let versions = &stored[FIELD_VERSIONS_KEY];
    assert!(
        versions["email"].as_str() > versions["name"].as_str(),
        "each field keeps the version of its own edit: {versions}"
    );
    for client in [&a, &b] {
        let replica = client.get::<Contact>("k1").await.unwrap().unwrap();
        assert_eq!(
            serde_json::to_value(&replica).unwrap(),
            serde_json::to_value(server_rows::<Contact>(&server.snapshot().await)[0].clone())
                .unwrap()
        );
    }

    // The replicas hold the merged field versions: a's next edit of another field leaves
    // b's e-mail address alone, and `visits` never goes back.
    let mut edited = a.get::<Contact>("k1").await.unwrap().unwrap();
    edited.visits = 1;
    edited.name = "Anne".to_owned();
    a.put(&edited).await.unwrap();
    sync(&a, SYNC).await;
    sync(&b, SYNC).await;
    let stored = on_server(&server, "k1").await;
    assert_eq!(
        (&stored["name"], &stored["email"], &stored["visits"]),
        (
            &serde_json::json!("Anne"),
            &serde_json::json!("ann@example.com"),
            &serde_json::json!(3)
        ),
        "{stored}"
    );
    eventually("b receives the merged row", SYNC, || async {
        b.get::<Contact>("k1")
            .await
            .unwrap()
            .map(|contact| contact.name)
            == Some("Anne".into())
    })
    .await;
    assert_eq!(
        a.get::<Contact>("k1").await.unwrap(),
        b.get::<Contact>("k1").await.unwrap()
    );
    assert_eq!(a.get::<Contact>("k1").await.unwrap().unwrap().visits, 3);
}
