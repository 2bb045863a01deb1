//! A stream keyed by the principal (`notes_by_account`, `keys = both` through the `Grant`
//! membership): a client gets the intersection of what it asks for and what it may see,
//! never the entity whole, may write only inside it, and loses or gains buckets as its
//! grants change, online and offline; on both stores.

use futures::StreamExt;
use serde_json::{Value, json};
use sync_core::entity::Actor;
use sync_testkit::access::assert_visible;
use sync_testkit::store_tests;
use sync_testkit::ws::{Socket, recv, send, silent};

use crate::wire::{
    Server, TENANT, at, change, changes, of_type, serve, serve_nodes, subscribe, write_as,
};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const NOTES: &str = "notes_by_account";

fn grant(id: &str, user: &str, account: &str, second: u32) -> Value {
    json!({"id": id, "userId": user, "accountId": account, "updated_at": at(second)})
}

fn note(id: &str, account: &str, text: &str, second: u32) -> Value {
    json!({"id": id, "accountId": account, "text": text, "updated_at": at(second)})
}

async fn ack(socket: &mut Socket, entity: &str, entry_id: &str, op: &str, data: Value) {
    let answer = write_as(socket, entity, entry_id, op, data).await;
    assert_eq!(answer["type"], "sync_ack", "{answer}");
}

/// An admin with grants to A, B and C who wrote notes n-a, n-b, n-c; `user-1` has A and B.
async fn household(server: &Server) -> Socket {
    let mut admin = server.connect_as("admin").await;
    for (n, account) in ["A", "B", "C"].iter().enumerate() {
        ack(
            &mut admin,
            "Grant",
            &format!("ga{n}"),
            "create",
            grant(&format!("admin-{account}"), "admin", account, 1),
        )
        .await;
    }
    ack(
        &mut admin,
        "Grant",
        "g1",
        "create",
        grant("u1-A", "user-1", "A", 1),
    )
    .await;
    ack(
        &mut admin,
        "Grant",
        "g2",
        "create",
        grant("u1-B", "user-1", "B", 1),
    )
    .await;
    for (n, account) in ["A", "B", "C"].iter().enumerate() {
        let id = format!("n-{}", account.to_lowercase());
        ack(
            &mut admin,
            "Note",
            &format!("n{n}"),
            "create",
            note(&id, account, "text", 2),
        )
        .await;
    }
    admin
}

/// The next message that is not a `data_update` (grants are not restricted: every client
/// gets them whole).
async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = recv(socket).await;
        if message["event_type"] != "data_update" {
            return message;
        }
    }
}

fn notes_request(keys: &[&str]) -> Value {
    json!({"type": "subscribe", "id": "notes", "stream": NOTES, "parameters": keys})
}

fn snapshot_ids(messages: &[Value]) -> Vec<(String, Vec<String>)> {
    let mut snapshots: Vec<(String, Vec<String>)> = of_type(messages, "bucket_snapshot")
        .into_iter()
        .map(|snapshot| {
            let ids = snapshot["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| row["id"].as_str().unwrap().to_owned())
                .collect();
            (snapshot["bucket"].as_str().unwrap().to_owned(), ids)
        })
        .collect();
    snapshots.sort();
    snapshots
}

store_tests! {
    registry = sync_testkit::entities::restricted();

    async fn a_client_gets_the_intersection_of_its_keys_and_its_grants(fixture: Fixture) {
        let server = serve(&fixture).await;
        let _admin = household(&server).await;
        let mut user = server.connect().await;
        let (subscribed, loaded, _) = subscribe(&mut user, notes_request(&["A", "C", "Z"])).await;
        assert_eq!(subscribed["buckets"], json!(["A"]), "C and Z are not granted");
        assert_eq!(snapshot_ids(&loaded), vec![("A".to_owned(), vec!["n-a".to_owned()])]);
    }

    async fn explain_says_which_grant_lets_a_principal_see_a_row(fixture: Fixture) {
        let server = serve(&fixture).await;
        let _admin = household(&server).await;
        let tenant = sync_testkit::tenant(TENANT);
        let editor = |subject: &str| Actor::user(subject).with_role("editor");
        let seen = assert_visible(&fixture.store, &editor("user-1"), &tenant, "Note", "n-a", true).await;
        assert_eq!(seen.streams[0].key.as_deref(), Some("A"));
        assert_eq!(seen.streams[0].granted_by.as_deref(), Some("u1-A"));
        let unseen = assert_visible(&fixture.store, &editor("user-1"), &tenant, "Note", "n-c", false).await;
        assert_eq!(unseen.streams[0].key.as_deref(), Some("C"));
        assert_eq!(unseen.streams[0].granted_by, None, "no grant of C");
        assert!(unseen.restricted);
        assert_visible(&fixture.store, &editor("admin"), &tenant, "Note", "n-c", true).await;
        // Granted, but below the stream's least role.
        let viewer = Actor::user("user-1").with_role("viewer");
        let gated = assert_visible(&fixture.store, &viewer, &tenant, "Note", "n-a", false).await;
        assert!(!gated.streams[0].role_passes && gated.streams[0].granted_by.is_some());
        // A stream of client-chosen keys restricts nothing; a missing row is seen by no one.
        assert_visible(&fixture.store, &editor("user-1"), &tenant, "Payment", "nope", false).await;
    }

    async fn a_restricted_entity_never_reaches_a_client_whole(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut admin = household(&server).await;
        let mut stranger = server.connect_as("user-2").await;
        send(&mut stranger, json!({"type": "request_initial_data", "tenant_id": TENANT})).await;
        let load = recv(&mut stranger).await;
        assert_eq!(load["event_type"], "initial_data_load");
        assert_eq!(load["payload"]["notes"], json!([]), "{load}");
        assert_eq!(load["payload"]["grants"].as_array().unwrap().len(), 5);
        send(&mut stranger, json!({"type": "request_changes", "since": 0})).await;
        let page = recv(&mut stranger).await;
        assert!(page["changes"].as_array().unwrap().iter().all(|change| change["entity_type"] != "Note"), "{page}");
        // Not even the ids and checksums of its rows.
        send(&mut stranger, json!({"type": "data_status_request", "tenant_id": TENANT})).await;
        let status = next(&mut stranger).await;
        assert_eq!(status["entity_checksums"]["Note"], json!([]), "{status}");
        assert_eq!(status["entity_checksums"]["Grant"].as_array().unwrap().len(), 5, "{status}");
        ack(&mut admin, "Note", "n9", "update", note("n-a", "A", "edited", 3)).await;
        silent(&mut stranger).await;
        // A role the stream does not bind gets them.
        let mut owner = server.connect_as("owner-1").await;
        send(&mut owner, json!({"type": "data_status_request", "tenant_id": TENANT})).await;
        let status = next(&mut owner).await;
        assert_eq!(status["entity_checksums"]["Note"].as_array().unwrap().len(), 3, "{status}");
    }

    async fn a_role_the_stream_does_not_bind_gets_the_entity_whole(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut admin = household(&server).await;
        // `owner-1` has no grant at all: `whole = ["owner"]` exempts its role.
        let mut owner = server.connect_as("owner-1").await;
        send(&mut owner, json!({"type": "request_initial_data", "tenant_id": TENANT})).await;
        let load = next(&mut owner).await;
        let mut ids: Vec<&str> = load["payload"]["notes"]
            .as_array()
            .unwrap_or_else(|| panic!("{load}"))
            .iter()
            .map(|note| note["id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, ["n-a", "n-b", "n-c"], "{load}");
        // Live, whole: a note of C, which no grant of the owner names.
        ack(&mut admin, "Note", "n9", "update", note("n-c", "C", "edited", 3)).await;
        let update = recv(&mut owner).await;
        assert_eq!((update["event_type"].as_str(), update["data"]["single_entity"]["id"].as_str()), (Some("data_update"), Some("n-c")), "{update}");
        // It writes anywhere, moves included.
        ack(&mut owner, "Note", "o1", "update", note("n-b", "C", "moved by the owner", 4)).await;
        // A subscription takes the keys it asks for, not intersected with grants.
        let (subscribed, loaded, _) = subscribe(&mut owner, notes_request(&["C", "Z"])).await;
        assert_eq!(subscribed["buckets"], json!(["C", "Z"]), "{subscribed}");
        let snapshots = snapshot_ids(&loaded);
        assert_eq!(snapshots[0], ("C".to_owned(), vec!["n-b".to_owned(), "n-c".to_owned()]));
        // explain agrees; the editor `user-1` is still bound.
        let tenant = sync_testkit::tenant(TENANT);
        let owner_actor = Actor::user("owner-1").with_role("owner");
        let seen = assert_visible(&fixture.store, &owner_actor, &tenant, "Note", "n-c", true).await;
        assert!(!seen.restricted && seen.streams[0].granted_by.is_none());
        let editor = Actor::user("user-1").with_role("editor");
        assert!(assert_visible(&fixture.store, &editor, &tenant, "Note", "n-c", false).await.restricted);
        let answer = write_as(&mut server.connect().await, "Note", "u9", "update", note("n-c", "C", "no", 5)).await;
        assert_eq!(answer["reason"], "forbidden", "{answer}");
    }

    async fn writes_outside_the_granted_keys_are_forbidden(fixture: Fixture) {
        let server = serve(&fixture).await;
        let _admin = household(&server).await;
        let mut user = server.connect().await;
        ack(&mut user, "Note", "u1", "update", note("n-a", "A", "mine", 3)).await;
        for (entry, data) in [
            ("u2", note("n-c", "C", "not mine", 3)),
            ("u3", note("n-a", "C", "moved out of my keys", 4)),
            ("u4", note("n-c", "A", "moved into my keys", 5)),
        ] {
            let answer = write_as(&mut user, "Note", entry, "update", data).await;
            assert_eq!(answer["type"], "sync_nack", "{answer}");
            assert_eq!(answer["reason"], "forbidden", "{answer}");
        }
    }

    async fn a_revocation_online_removes_the_bucket_and_nothing_of_it_follows(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut admin = household(&server).await;
        let mut user = server.connect().await;
        let (subscribed, loaded, _) = subscribe(&mut user, notes_request(&["A", "B", "C"])).await;
        assert_eq!(subscribed["buckets"], json!(["A", "B"]));

        ack(&mut admin, "Grant", "r1", "delete", grant("u1-B", "user-1", "B", 5)).await;
        let removed = next(&mut user).await;
        assert_eq!(removed["type"], "bucket_removed", "{removed}");
        assert_eq!((&removed["bucket"], &removed["reason"]), (&json!("B"), &json!("revoked")));
        let checkpoint = next(&mut user).await;
        // A re-resolution's checkpoint names the subscription and counts its frames since
        // `subscribed`: the catch-up's, then this one.
        let frames = loaded.len() as u64 + 1;
        assert_eq!((&checkpoint["subscription"], &checkpoint["pages"]), (&subscribed["id"], &json!(frames)), "{checkpoint}");
        // Nothing of B after the revocation; A still flows.
        ack(&mut admin, "Note", "n10", "update", note("n-b", "B", "secret", 6)).await;
        ack(&mut admin, "Note", "n11", "update", note("n-a", "A", "shared", 7)).await;
        let page = next(&mut user).await;
        assert_eq!(changes(&[page]), vec![change("put", "A", "n-a")]);
        assert_eq!(next(&mut user).await["type"], "checkpoint");
        silent(&mut user).await;
        let answer = write_as(&mut user, "Note", "u9", "update", note("n-b", "B", "late edit", 8)).await;
        assert_eq!(answer["reason"], "forbidden", "{answer}");

        // A grant online arrives as a snapshot of the new bucket.
        ack(&mut admin, "Grant", "g9", "create", grant("u1-C", "user-1", "C", 9)).await;
        let snapshot = next(&mut user).await;
        assert_eq!(snapshot["type"], "bucket_snapshot", "{snapshot}");
        assert_eq!(snapshot["bucket"], "C");
        assert_eq!(snapshot["rows"][0]["id"], "n-c");
        let checkpoint = next(&mut user).await;
        assert_eq!((&checkpoint["subscription"], &checkpoint["pages"]), (&subscribed["id"], &json!(frames + 1)), "{checkpoint}");
    }

    async fn a_revocation_while_offline_is_told_on_resume(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut admin = household(&server).await;
        let mut user = server.connect().await;
        let (subscribed, _, cursor) = subscribe(&mut user, notes_request(&["A", "B"])).await;
        drop(user);
        ack(&mut admin, "Grant", "r1", "delete", grant("u1-B", "user-1", "B", 5)).await;
        ack(&mut admin, "Note", "n10", "update", note("n-a", "A", "while away", 6)).await;

        let mut user = server.connect().await;
        let (resumed, caught_up, _) = subscribe(
            &mut user,
            json!({"type": "subscribe", "id": "notes", "stream": NOTES, "parameters": ["A", "B"],
                   "definition": subscribed["definition"], "cursor": cursor, "buckets": ["A", "B"]}),
        )
        .await;
        assert_eq!(resumed["buckets"], json!(["A"]));
        let removed = of_type(&caught_up, "bucket_removed");
        assert_eq!(removed.len(), 1);
        assert_eq!((&removed[0]["bucket"], &removed[0]["reason"]), (&json!("B"), &json!("revoked")));
        assert!(of_type(&caught_up, "bucket_snapshot").is_empty(), "A is kept, not reloaded");
        assert_eq!(changes(&caught_up), vec![change("put", "A", "n-a")]);
    }

    async fn a_delete_that_cascades_to_its_grant_still_reaches_the_holders(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut admin = household(&server).await;
        let mut user = server.connect().await;
        subscribe(&mut user, notes_request(&["A", "B"])).await;
        // The note of B and user-1's grant to B, deleted in one transaction.
        let batch = json!({"type": "process_sync_batch", "entries": [
            sync_testkit::ws::entry("d1", TENANT, "Note", "delete", "n-b", note("n-b", "B", "", 9)),
            sync_testkit::ws::entry("d2", TENANT, "Grant", "delete", "u1-B", grant("u1-B", "user-1", "B", 9)),
        ]});
        send(&mut admin, batch).await;
        for _ in 0..2 {
            assert_eq!(recv(&mut admin).await["type"], "sync_ack");
        }
        let tombstone = next(&mut user).await;
        assert_eq!(changes(&[tombstone]), vec![change("tombstone", "B", "n-b")]);
        assert_eq!(next(&mut user).await["type"], "checkpoint");
        let removed = next(&mut user).await;
        assert_eq!((&removed["type"], &removed["bucket"]), (&json!("bucket_removed"), &json!("B")));
    }

    async fn a_restricted_entity_from_another_node_reaches_only_its_buckets(fixture: Fixture) {
        let (near, far) = serve_nodes(&fixture).await;
        let mut admin = household(&near).await;
        let mut user = far.connect().await;
        let mut stranger = far.connect_as("user-2").await;
        subscribe(&mut user, notes_request(&["A", "B"])).await;
        send(&mut stranger, json!({"type": "ping", "timestamp": 1})).await;
        assert_eq!(recv(&mut stranger).await["type"], "pong");
        ack(&mut admin, "Note", "n9", "update", note("n-a", "A", "from the other node", 3)).await;
        assert_eq!(changes(&[next(&mut user).await]), vec![change("put", "A", "n-a")]);
        silent(&mut stranger).await;
        // A revocation on the other node closes the session here; it resumes without B.
        ack(&mut admin, "Grant", "r1", "delete", grant("u1-B", "user-1", "B", 5)).await;
        assert_eq!(next(&mut user).await["type"], "checkpoint");
        assert_eq!(sync_testkit::ws::close_code(&mut user).await, CloseCode::Policy);
    }

    async fn a_role_below_the_streams_least_role_is_refused_and_its_buckets_removed(fixture: Fixture) {
        let server = serve(&fixture).await;
        let _admin = household(&server).await;
        let mut viewer = server.connect_as("viewer-1").await;
        send(
            &mut viewer,
            json!({"type": "subscribe", "id": "notes", "stream": NOTES, "parameters": ["A"], "buckets": ["A"]}),
        )
        .await;
        let removed = next(&mut viewer).await;
        assert_eq!((&removed["type"], &removed["reason"]), (&json!("bucket_removed"), &json!("role")));
        let refused = next(&mut viewer).await;
        assert_eq!((&refused["type"], &refused["code"]), (&json!("subscription_error"), &json!("forbidden")));
        // The entity is restricted: a viewer gets none of it whole either.
        send(&mut viewer, json!({"type": "request_changes", "since": 0})).await;
        let page = next(&mut viewer).await;
        assert!(page["changes"].as_array().unwrap().iter().all(|change| change["entity_type"] != "Note"));
    }

    async fn a_grant_racing_writes_delivers_each_change_once_and_ends_at_the_newest(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut admin = household(&server).await;
        let mut writer = server.connect_as("admin").await;
        let mut user = server.connect().await;
        subscribe(&mut user, notes_request(&["A", "B", "C"])).await;
        // Twenty pipelined writes of n-c, and the grant of C to user-1 among them.
        for n in 0..20_u32 {
            let entry = sync_testkit::ws::entry(&format!("w{n}"), TENANT, "Note", "update", "n-c", note("n-c", "C", &format!("v{n}"), 10 + n));
            send(&mut writer, sync_testkit::ws::process(entry)).await;
            if n == 7 {
                ack(&mut admin, "Grant", "g9", "create", grant("u1-C", "user-1", "C", 9)).await;
            }
        }
        for _ in 0..20 {
            assert_eq!(next(&mut writer).await["type"], "sync_ack");
        }
        // What reached user-1 of n-c: the snapshot of C, then live pages, each seq once.
        let mut seen: Vec<(u64, String)> = Vec::new();
        loop {
            let message = next(&mut user).await;
            match message["type"].as_str() {
                Some("bucket_snapshot") => {
                    let text = message["rows"][0]["text"].as_str().unwrap().to_owned();
                    seen.push((message["cursor"].as_u64().unwrap(), text));
                }
                Some("stream_page") => {
                    for change in message["changes"].as_array().unwrap() {
                        seen.push((change["seq"].as_u64().unwrap(), change["data"]["text"].as_str().unwrap().to_owned()));
                    }
                }
                _ => {}
            }
            if seen.last().is_some_and(|(_, text)| text == "v19") {
                break;
            }
        }
        assert!(seen.windows(2).all(|pair| pair[0].0 < pair[1].0), "each change once, in order: {seen:?}");
        // Nothing more of n-c: at most the checkpoint of the last page.
        while let Ok(Some(Ok(frame))) = tokio::time::timeout(std::time::Duration::from_millis(300), user.next()).await {
            let message: Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
            assert!(message["type"] == "checkpoint" || message["type"] == "ping", "{message}");
        }
    }

    async fn a_bucket_granted_while_offline_arrives_whole_on_resume(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut admin = household(&server).await;
        let mut user = server.connect().await;
        let (subscribed, _, cursor) = subscribe(&mut user, notes_request(&["A", "B", "C"])).await;
        assert_eq!(subscribed["buckets"], json!(["A", "B"]));
        drop(user);
        ack(&mut admin, "Grant", "g9", "create", grant("u1-C", "user-1", "C", 9)).await;

        let mut user = server.connect().await;
        let (resumed, caught_up, _) = subscribe(
            &mut user,
            json!({"type": "subscribe", "id": "notes", "stream": NOTES, "parameters": ["A", "B", "C"],
                   "definition": subscribed["definition"], "cursor": cursor, "buckets": ["A", "B"]}),
        )
        .await;
        assert_eq!(resumed["buckets"], json!(["A", "B", "C"]));
        assert_eq!(snapshot_ids(&caught_up), vec![("C".to_owned(), vec!["n-c".to_owned()])], "only the new bucket comes whole");
        assert!(of_type(&caught_up, "bucket_removed").is_empty());
    }
}
