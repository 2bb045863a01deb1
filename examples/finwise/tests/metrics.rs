//! `GET /metrics`: the Prometheus text format, with what the sync traffic did.

mod common;

use common::ws::{account_update, connect, entry, process, recv, send};
use common::{bare, create_tenant, start, user};
use serde_json::json;

/// The value of the sample `name` (with its labels, as rendered), if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
}

#[tokio::test]
async fn metrics_count_sessions_changes_nacks_and_commits() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let tenant = create_tenant(&server, &anna, "Haushalt").await;
    let id = tenant["uuid"].as_str().unwrap();
    let mut socket = connect(&server, &anna, id).await;
    send(
        &mut socket,
        account_update("e1", id, "a1", "Giro", "2026-01-01T10:00:00.000Z"),
    )
    .await;
    assert_eq!(recv(&mut socket).await["type"], "sync_ack");
    // An older write of the same account loses; an unknown entity type is NACKed.
    send(
        &mut socket,
        account_update("e2", id, "a1", "Alt", "2025-01-01T10:00:00.000Z"),
    )
    .await;
    assert_eq!(recv(&mut socket).await["type"], "sync_ack");
    assert_eq!(recv(&mut socket).await["event_type"], "data_update");
    send(
        &mut socket,
        process(entry(
            "e3",
            id,
            "Nonsense",
            "update",
            "x",
            json!({"id": "x"}),
        )),
    )
    .await;
    assert_eq!(recv(&mut socket).await["type"], "sync_nack");

    let response = bare().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    let at_least = |name: &str, least: f64| {
        let value = sample(&text, name).unwrap_or_else(|| panic!("no {name} in\n{text}"));
        assert!(
            value >= least,
            "{name} = {value}, expected at least {least}"
        );
    };
    at_least("sync_connections_open", 1.0);
    at_least("sync_sessions_open", 1.0);
    at_least("sync_tenant_writers", 1.0);
    at_least("sync_tenants_open", 1.0);
    at_least(r#"sync_changes_total{outcome="applied"}"#, 1.0);
    at_least(r#"sync_changes_total{outcome="superseded"}"#, 1.0);
    at_least(r#"sync_changes_total{outcome="rejected"}"#, 1.0);
    at_least(r#"sync_nacks_total{reason="unknown_entity"}"#, 1.0);
    at_least("sync_ack_latency_seconds_count", 2.0);
    at_least(r#"sync_ack_latency_seconds_bucket{le="+Inf"}"#, 2.0);
    at_least("sync_group_commit_changes_count", 2.0);
    at_least(r#"sync_group_commit_changes_bucket{le="1"}"#, 2.0);
    at_least(r#"sync_store_commit_seconds_count{result="ok"}"#, 2.0);

    // A closed session leaves the gauge.
    drop(socket);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = bare()
            .get(server.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if sample(&text, "sync_sessions_open") == Some(0.0)
            && sample(&text, "sync_connections_open") == Some(0.0)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session is still counted:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
