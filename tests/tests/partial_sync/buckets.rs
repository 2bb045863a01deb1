//! Buckets of a stream of client-chosen keys (`payments_by_account`): loads, moves in and
//! out, live delivery by bucket, limits, resets and unsubscribes, on both stores.

use serde_json::{Value, json};
use sync_core::Store;
use sync_core::Syncable;
use sync_core::entity::stream::key_evaluations;
use sync_testkit::entities::payment_json;
use sync_testkit::store_tests;
use sync_testkit::ws::{recv, send, silent};

use crate::wire::{
    STREAM, TENANT, at, change, changes, of_type, serve, serve_nodes, subscribe, write,
};

store_tests! {
    registry = sync_testkit::entities::streamed();

    async fn a_first_subscribe_loads_its_buckets_and_only_them(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut writer = server.connect().await;
        write(&mut writer, "e1", "create", payment_json("p1", "A", 10, &at(1))).await;
        write(&mut writer, "e2", "create", payment_json("p2", "B", 20, &at(2))).await;
        let mut draft = payment_json("p3", "A", 30, &at(3));
        draft["draft"] = json!(true);
        write(&mut writer, "e3", "create", draft).await;

        let mut reader = server.connect().await;
        let (subscribed, loaded, checkpoint) = subscribe(
            &mut reader,
            json!({"type": "subscribe", "id": "s1", "stream": STREAM, "parameters": ["A"]}),
        )
        .await;
        assert_eq!(subscribed["buckets"], json!(["A"]));
        let snapshots = of_type(&loaded, "bucket_snapshot");
        assert_eq!(snapshots.len(), 1);
        let rows = snapshots[0]["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "p2 is in another bucket, p3 is a draft: {rows:?}");
        assert_eq!(rows[0]["id"], "p1");
        assert_eq!(checkpoint, 3);
    }

    async fn a_row_moved_out_while_offline_leaves_on_reconnect_without_a_snapshot(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut writer = server.connect().await;
        write(&mut writer, "e1", "create", payment_json("p1", "A", 10, &at(1))).await;
        let mut reader = server.connect().await;
        let (subscribed, _, checkpoint) = subscribe(
            &mut reader,
            json!({"type": "subscribe", "id": "s1", "stream": STREAM, "parameters": ["A"]}),
        )
        .await;
        drop(reader);

        // Offline: p1 moves to B, p2 arrives in A, p3 moves A → B → A.
        write(&mut writer, "e2", "update", payment_json("p1", "B", 10, &at(2))).await;
        write(&mut writer, "e3", "create", payment_json("p2", "A", 20, &at(3))).await;
        write(&mut writer, "e4", "create", payment_json("p3", "A", 30, &at(4))).await;
        write(&mut writer, "e5", "update", payment_json("p3", "B", 30, &at(5))).await;
        write(&mut writer, "e6", "update", payment_json("p3", "A", 31, &at(6))).await;

        let mut reader = server.connect().await;
        let (_, caught_up, cursor) = subscribe(
            &mut reader,
            json!({"type": "subscribe", "id": "s1", "stream": STREAM, "parameters": ["A"],
                   "definition": subscribed["definition"], "cursor": checkpoint, "buckets": ["A"]}),
        )
        .await;
        assert!(of_type(&caught_up, "bucket_snapshot").is_empty(), "the kept bucket is not reloaded");
        let mut got = changes(&caught_up);
        got.sort();
        assert_eq!(
            got,
            vec![change("leave", "A", "p1"), change("put", "A", "p2"), change("put", "A", "p3")]
        );
        assert_eq!(cursor, 6);
    }

    async fn live_changes_reach_only_the_buckets_they_touch(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut writer = server.connect().await;
        write(&mut writer, "e1", "create", payment_json("p1", "A", 10, &at(1))).await;
        let mut in_a = server.connect().await;
        let mut in_b = server.connect().await;
        let mut in_c = server.connect().await;
        let mut whole = server.connect().await;
        for (socket, key) in [(&mut in_a, "A"), (&mut in_b, "B"), (&mut in_c, "C")] {
            subscribe(socket, json!({"type": "subscribe", "id": "s", "stream": STREAM, "parameters": [key]})).await;
        }

        let before = key_evaluations();
        write(&mut writer, "e2", "update", payment_json("p1", "B", 10, &at(2))).await;
        // One stream on the entity: its key from the old image and from the new one.
        assert!(key_evaluations() - before >= 2);

        let page = recv(&mut in_a).await;
        assert_eq!(changes(&[page]), vec![change("leave", "A", "p1")]);
        assert_eq!(recv(&mut in_a).await, json!({"type": "checkpoint", "cursor": 2, "pages": 1}));
        let page = recv(&mut in_b).await;
        assert_eq!(changes(std::slice::from_ref(&page)), vec![change("put", "B", "p1")]);
        assert_eq!(page["changes"][0]["data"]["accountId"], "B");
        assert_eq!(recv(&mut in_b).await["type"], "checkpoint");
        silent(&mut in_c).await;
        // A client that subscribes to nothing gets what it always got.
        let update = recv(&mut whole).await;
        assert_eq!(update["event_type"], "data_update");
        assert_eq!(update["data"]["single_entity"]["id"], "p1");

        // A delete reaches the bucket that held the row, as a tombstone.
        write(&mut writer, "e3", "delete", payment_json("p1", "B", 10, &at(3))).await;
        let page = recv(&mut in_b).await;
        assert_eq!(changes(&[page]), vec![change("tombstone", "B", "p1")]);
        silent(&mut in_a).await;
    }

    async fn a_subscribed_session_gets_the_entity_only_through_its_buckets(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut writer = server.connect().await;
        let mut reader = server.connect().await;
        subscribe(&mut reader, json!({"type": "subscribe", "id": "s", "stream": STREAM, "parameters": ["A"]})).await;
        write(&mut writer, "e1", "create", payment_json("p9", "Z", 1, &at(1))).await;
        silent(&mut reader).await;
        send(&mut reader, json!({"type": "request_changes", "since": 0})).await;
        let page = recv(&mut reader).await;
        assert_eq!(page["type"], "changes");
        assert_eq!(page["changes"], json!([]), "the feed leaves out the streamed entity");
    }

    async fn too_many_buckets_refuse_only_that_subscribe(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut writer = server.connect().await;
        let mut reader = server.connect().await;
        let keys: Vec<String> = (0..1001).map(|n| format!("k{n}")).collect();
        let (refused, _, _) = subscribe(
            &mut reader,
            json!({"type": "subscribe", "id": "big", "stream": STREAM, "parameters": keys}),
        )
        .await;
        assert_eq!(refused["type"], "subscription_error");
        assert_eq!(refused["code"], "too_many_buckets");
        assert_eq!(refused["stream"], STREAM);
        let (subscribed, _, _) = subscribe(
            &mut reader,
            json!({"type": "subscribe", "id": "small", "stream": STREAM, "parameters": ["A"]}),
        )
        .await;
        assert_eq!(subscribed["type"], "subscribed");
        write(&mut writer, "e1", "create", payment_json("p1", "A", 10, &at(1))).await;
        assert_eq!(changes(&[recv(&mut reader).await]), vec![change("put", "A", "p1")]);
        assert_eq!(recv(&mut reader).await["type"], "checkpoint");

        let (unknown, _, _) = subscribe(
            &mut reader,
            json!({"type": "subscribe", "id": "x", "stream": "nope", "parameters": ["A"]}),
        )
        .await;
        assert_eq!(unknown["code"], "unknown_stream");
    }

    async fn a_changed_definition_replaces_only_that_streams_buckets(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut writer = server.connect().await;
        write(&mut writer, "e1", "create", payment_json("p1", "A", 10, &at(1))).await;
        let mut reader = server.connect().await;
        let (_, reloaded, _) = subscribe(
            &mut reader,
            json!({"type": "subscribe", "id": "s1", "stream": STREAM, "parameters": ["A"],
                   "definition": "an older definition", "cursor": 1, "buckets": ["A", "B"]}),
        )
        .await;
        let removed: Vec<(&Value, &Value)> = of_type(&reloaded, "bucket_removed")
            .into_iter()
            .map(|removed| (&removed["bucket"], &removed["reason"]))
            .collect();
        assert_eq!(removed, vec![(&json!("A"), &json!("definition")), (&json!("B"), &json!("definition"))]);
        let snapshots = of_type(&reloaded, "bucket_snapshot");
        assert_eq!(snapshots.len(), 1);
        assert_eq!(snapshots[0]["rows"][0]["id"], "p1");
    }

    async fn a_cursor_older_than_the_purge_horizon_reloads_the_subscription(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut writer = server.connect().await;
        write(&mut writer, "e1", "create", payment_json("p1", "A", 10, &at(1))).await;
        write(&mut writer, "e2", "create", payment_json("p2", "A", 20, &at(2))).await;
        write(&mut writer, "e3", "delete", payment_json("p2", "A", 20, &at(3))).await;
        write(&mut writer, "e4", "create", payment_json("p4", "A", 40, &at(4))).await;
        let purge = fixture
            .store
            .purge_tombstones(&sync_testkit::tenant(TENANT), sync_core::Version::now())
            .await
            .unwrap();
        assert_eq!(purge.removed, 1);
        let mut reader = server.connect().await;
        let definition = sync_testkit::entities::Payment::STREAMS[0].definition();
        let (subscribed, reloaded, _) = subscribe(
            &mut reader,
            json!({"type": "subscribe", "id": "s1", "stream": STREAM, "parameters": ["A"],
                   "definition": definition, "cursor": 1, "buckets": ["A"]}),
        )
        .await;
        assert_eq!(subscribed["cursor"], 0, "a reset starts the subscription over");
        let snapshots = of_type(&reloaded, "bucket_snapshot");
        let ids: Vec<&Value> = snapshots[0]["rows"].as_array().unwrap().iter().map(|row| &row["id"]).collect();
        assert_eq!(ids, vec![&json!("p1"), &json!("p4")]);

        // A cursor at the horizon still catches up incrementally.
        let (_, caught_up, _) = subscribe(
            &mut reader,
            json!({"type": "subscribe", "id": "s2", "stream": STREAM, "parameters": ["A"],
                   "definition": definition, "cursor": 3, "buckets": ["A"]}),
        )
        .await;
        assert!(of_type(&caught_up, "bucket_snapshot").is_empty());
        assert_eq!(changes(&caught_up), vec![change("put", "A", "p4")]);
    }

    async fn unsubscribe_releases_the_buckets_with_their_ttl(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut writer = server.connect().await;
        let mut reader = server.connect().await;
        subscribe(&mut reader, json!({"type": "subscribe", "id": "warm", "stream": STREAM, "parameters": ["A"]})).await;
        subscribe(&mut reader, json!({"type": "subscribe", "id": "cold", "stream": STREAM, "parameters": ["A", "B"]})).await;
        send(&mut reader, json!({"type": "unsubscribe", "id": "cold", "ttl_secs": 0})).await;
        let mut removed = [recv(&mut reader).await, recv(&mut reader).await];
        removed.sort_by_key(|message| message["bucket"].to_string());
        assert_eq!(removed[0], json!({"type": "bucket_removed", "subscription": "cold", "stream": STREAM, "bucket": "A", "reason": "unsubscribed", "ttl_secs": 0}));
        assert_eq!(removed[1]["bucket"], "B");
        // A is still held by "warm"; B by nothing.
        write(&mut writer, "e1", "create", payment_json("p1", "A", 10, &at(1))).await;
        write(&mut writer, "e2", "create", payment_json("p2", "B", 20, &at(2))).await;
        assert_eq!(changes(&[recv(&mut reader).await]), vec![change("put", "A", "p1")]);
        assert_eq!(recv(&mut reader).await["type"], "checkpoint");
        silent(&mut reader).await;
    }

    async fn a_move_on_one_node_reaches_the_buckets_on_another(fixture: Fixture) {
        let (near, far) = serve_nodes(&fixture).await;
        let mut writer = near.connect().await;
        write(&mut writer, "e1", "create", payment_json("p1", "A", 10, &at(1))).await;
        let mut in_a = far.connect().await;
        let mut in_b = far.connect().await;
        let mut whole = far.connect().await;
        subscribe(&mut in_a, json!({"type": "subscribe", "id": "s", "stream": STREAM, "parameters": ["A"]})).await;
        subscribe(&mut in_b, json!({"type": "subscribe", "id": "s", "stream": STREAM, "parameters": ["B"]})).await;
        send(&mut whole, json!({"type": "ping", "timestamp": 1})).await;
        assert_eq!(recv(&mut whole).await["type"], "pong");

        write(&mut writer, "e2", "update", payment_json("p1", "B", 10, &at(2))).await;
        assert_eq!(changes(&[recv(&mut in_a).await]), vec![change("leave", "A", "p1")]);
        assert_eq!(changes(&[recv(&mut in_b).await]), vec![change("put", "B", "p1")]);
        assert_eq!(recv(&mut whole).await["event_type"], "data_update");
        write(&mut writer, "e3", "delete", payment_json("p1", "B", 10, &at(3))).await;
        assert_eq!(recv(&mut in_a).await["type"], "checkpoint");
        assert_eq!(recv(&mut in_b).await["type"], "checkpoint");
        assert_eq!(changes(&[recv(&mut in_b).await]), vec![change("tombstone", "B", "p1")]);
        silent(&mut in_a).await;
    }

    async fn the_origin_of_a_move_out_of_its_bucket_is_told_it_left(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut writer = server.connect().await;
        subscribe(&mut writer, json!({"type": "subscribe", "id": "s", "stream": STREAM, "parameters": ["A"]})).await;
        write(&mut writer, "e1", "create", payment_json("p1", "A", 10, &at(1))).await;
        silent(&mut writer).await;
        write(&mut writer, "e2", "update", payment_json("p1", "B", 10, &at(2))).await;
        assert_eq!(changes(&[recv(&mut writer).await]), vec![change("leave", "A", "p1")]);
        assert_eq!(recv(&mut writer).await["type"], "checkpoint");
    }

    async fn a_catch_up_cut_between_two_pages_resumes_from_its_checkpoint_without_duplicates(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut writer = server.connect().await;
        let mut reader = server.connect().await;
        let (subscribed, _, checkpoint) = subscribe(
            &mut reader,
            json!({"type": "subscribe", "id": "s1", "stream": STREAM, "parameters": ["A"]}),
        )
        .await;
        drop(reader);
        // More than one page of changes while the reader is away, in one batch of 400 and
        // one of 300.
        for (first, count) in [(0, 400), (400, 300)] {
            let entries: Vec<Value> = (first..first + count)
                .map(|n| {
                    let id = format!("p{n}");
                    sync_testkit::ws::entry(&format!("e{n}"), TENANT, "Payment", "create", &id, payment_json(&id, "A", n, &at(1)))
                })
                .collect();
            send(&mut writer, json!({"type": "process_sync_batch", "entries": entries})).await;
            for _ in 0..count {
                assert_eq!(recv(&mut writer).await["type"], "sync_ack");
            }
        }
        let resume = json!({"type": "subscribe", "id": "s1", "stream": STREAM, "parameters": ["A"],
                            "definition": subscribed["definition"], "cursor": checkpoint, "buckets": ["A"]});
        // The first connection is cut after the first page: no checkpoint was applied.
        let mut cut = server.connect().await;
        send(&mut cut, resume.clone()).await;
        assert_eq!(recv(&mut cut).await["type"], "subscribed");
        let first = recv(&mut cut).await;
        assert_eq!((&first["type"], &first["has_more"]), (&json!("stream_page"), &json!(true)));
        drop(cut);
        // Resumed from the same checkpoint: every row exactly once, in sequence order.
        let mut reader = server.connect().await;
        let (_, pages, cursor) = subscribe(&mut reader, resume).await;
        let got = changes(&pages);
        assert_eq!(got.len(), 700);
        let mut ids: Vec<&String> = got.iter().map(|(_, _, id)| id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 700, "no row twice");
        assert!(got.iter().all(|(op, _, _)| op == "put"));
        assert_eq!(cursor, 700);
    }

    async fn a_move_between_two_buckets_of_one_session_is_a_leave_and_a_put(fixture: Fixture) {
        let server = serve(&fixture).await;
        let mut writer = server.connect().await;
        write(&mut writer, "e1", "create", payment_json("p1", "A", 10, &at(1))).await;
        let mut reader = server.connect().await;
        subscribe(&mut reader, json!({"type": "subscribe", "id": "s", "stream": STREAM, "parameters": ["A", "B"]})).await;
        write(&mut writer, "e2", "update", payment_json("p1", "B", 10, &at(2))).await;
        let mut got = Vec::new();
        for _ in 0..2 {
            let message = recv(&mut reader).await;
            assert_eq!(message["type"], "stream_page", "both pages come first: {message}");
            got.extend(changes(&[message]));
        }
        // Then one checkpoint: none between the leave and the put, which would claim the
        // session complete at that change with the row in neither bucket.
        let checkpoint = recv(&mut reader).await;
        assert_eq!((checkpoint["type"].as_str(), checkpoint["pages"].as_u64()), (Some("checkpoint"), Some(2)), "{checkpoint}");
        got.sort();
        // The row ends held by B alone: its leave of A and its put in B, each once.
        assert_eq!(got, vec![change("leave", "A", "p1"), change("put", "B", "p1")]);
        silent(&mut reader).await;
    }
}
