//! Typed queries by indexed fields, `watch::<T>()` and live queries, with local writes and
//! with remote changes through a real server.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{Account, Server, Tag};
use serde::{Deserialize, Serialize};
use sync_client::event::Source;
use sync_client::watch::Update;
use sync_client::{Client, Error};
use sync_core::change::TypedChange;
use sync_core::{Registry, Syncable};

/// How long a test waits for something that must happen (so a bug fails, never hangs).
const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Expense", table = "expenses")]
struct Expense {
    #[sync(id)]
    id: String,
    #[sync(index)]
    category: String,
    #[sync(index)]
    amount: f64,
    note: String,
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

fn expense(id: &str, category: &str, amount: f64) -> Expense {
    Expense {
        id: id.to_owned(),
        category: category.to_owned(),
        amount,
        note: String::new(),
        updated_at: None,
    }
}

fn ids(expenses: &[Expense]) -> Vec<&str> {
    expenses.iter().map(|expense| expense.id.as_str()).collect()
}

/// A client with no server: everything here is local.
async fn offline() -> Client {
    Client::builder("ws://127.0.0.1:9/ws")
        .tenant(common::TENANT)
        .entity::<Expense>()
        .entity::<Tag>()
        .build()
        .await
        .unwrap()
}

async fn next<T: Syncable>(live: &mut sync_client::watch::LiveQuery<T>) -> Vec<T> {
    tokio::time::timeout(WAIT, live.next())
        .await
        .expect("the live query re-emits")
        .unwrap()
}

async fn update<T: Syncable>(watch: &mut sync_client::watch::Watch<T>) -> Update<T> {
    tokio::time::timeout(WAIT, watch.next())
        .await
        .expect("the watch yields")
        .unwrap()
}

#[tokio::test]
async fn queries_select_by_indexed_fields_in_order_and_limited() {
    let client = offline().await;
    for (id, category, amount) in [
        ("e1", "food", 12.0),
        ("e2", "rent", 900.0),
        ("e3", "food", 3.5),
        ("e4", "food", 40.0),
        ("e5", "fun", 20.0),
    ] {
        client.put(&expense(id, category, amount)).await.unwrap();
    }
    client.delete::<Expense>("e4").await.unwrap();

    let food = client
        .query::<Expense>()
        .eq("category", "food")
        .fetch()
        .await
        .unwrap();
    assert_eq!(
        ids(&food),
        ["e1", "e3"],
        "equality, by id, without the deleted one"
    );

    let cheap = client
        .query::<Expense>()
        .range("amount", 3.5..20.0)
        .order_by("amount")
        .fetch()
        .await
        .unwrap();
    assert_eq!(
        ids(&cheap),
        ["e3", "e1"],
        "a half-open range, ordered by amount"
    );

    let top = client
        .query::<Expense>()
        .range("amount", 10.0..)
        .order_by_desc("amount")
        .limit(2)
        .fetch()
        .await
        .unwrap();
    assert_eq!(ids(&top), ["e2", "e5"], "descending, limited");

    let both = client
        .query::<Expense>()
        .eq("category", "food")
        .range("amount", ..=12.0)
        .fetch()
        .await
        .unwrap();
    assert_eq!(ids(&both), ["e1", "e3"]);
    assert!(both.iter().all(|expense| expense.updated_at.is_some()));
}

#[tokio::test]
async fn a_query_on_a_field_without_index_is_a_clear_error() {
    let client = offline().await;
    client.put(&expense("e1", "food", 1.0)).await.unwrap();

    let error = client
        .query::<Expense>()
        .eq("note", "")
        .fetch()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Query(_)), "{error}");
    assert_eq!(
        error.to_string(),
        "invalid query: Expense.note has no index: mark the field #[sync(index)] to query by it"
    );
    let error = client
        .query::<Expense>()
        .order_by("note")
        .watch()
        .unwrap_err();
    assert!(error.to_string().contains("note has no index"), "{error}");

    let error = client
        .query::<Expense>()
        .eq("colour", "red")
        .fetch()
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("colour is not a column"),
        "{error}"
    );
    let error = client
        .query::<Expense>()
        .eq("amount", "ten")
        .fetch()
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("amount is Double, not text"),
        "{error}"
    );
    let error = client
        .query::<Expense>()
        .range("amount", None::<f64>..)
        .fetch()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("cannot be null"), "{error}");

    // The id is the primary key: always queryable. Account is not registered here.
    let one = client
        .query::<Expense>()
        .eq("id", "e1")
        .fetch()
        .await
        .unwrap();
    assert_eq!(ids(&one), ["e1"]);
    let error = client.query::<Account>().fetch().await.unwrap_err();
    assert!(matches!(error, Error::UnknownEntity("Account")), "{error}");
}

#[tokio::test]
async fn watch_yields_local_writes_typed_with_their_origin() {
    let client = offline().await;
    let mut expenses = client.watch::<Expense>();
    client.put(&Tag::new("t1", "not an expense")).await.unwrap();
    let stored = client.put(&expense("e1", "food", 12.0)).await.unwrap();
    client.delete::<Expense>("e1").await.unwrap();

    let Update::Changed { change, source } = update(&mut expenses).await else {
        panic!("a change")
    };
    assert_eq!(source, Source::Local);
    assert_eq!(
        change.version(),
        stored
            .updated_at
            .map(|at| sync_core::version::Version::try_from_datetime(at).unwrap())
    );
    assert_eq!(
        change.into_entity(),
        Some(stored),
        "the tag is not yielded; the expense as stored is"
    );

    let Update::Changed { change, source } = update(&mut expenses).await else {
        panic!("a change")
    };
    assert_eq!(source, Source::Local);
    assert!(
        matches!(change, TypedChange::Delete { ref id, .. } if id == "e1"),
        "{change:?}"
    );
}

#[tokio::test]
async fn a_live_query_re_emits_when_a_local_change_touches_it() {
    let client = offline().await;
    client.put(&expense("e1", "food", 12.0)).await.unwrap();
    let mut food = client
        .query::<Expense>()
        .eq("category", "food")
        .order_by("amount")
        .watch()
        .unwrap();
    assert_eq!(ids(&next(&mut food).await), ["e1"], "the result at once");

    // Neither a tag nor an expense outside the result touches it: the next emission is the
    // one for the expense that joins it.
    client.put(&Tag::new("t1", "travel")).await.unwrap();
    client.put(&expense("e2", "rent", 900.0)).await.unwrap();
    client.put(&expense("e3", "food", 3.0)).await.unwrap();
    assert_eq!(ids(&next(&mut food).await), ["e3", "e1"]);

    // An edit inside the result re-emits it with the new state.
    client.put(&expense("e1", "food", 1.0)).await.unwrap();
    let result = next(&mut food).await;
    assert_eq!(ids(&result), ["e1", "e3"]);
    assert_eq!(result[0].amount, 1.0);

    // A change that moves a row out of the result, then a delete.
    client.put(&expense("e3", "fun", 3.0)).await.unwrap();
    assert_eq!(ids(&next(&mut food).await), ["e1"]);
    client.delete::<Expense>("e1").await.unwrap();
    assert!(next(&mut food).await.is_empty());
}

fn registry() -> Registry {
    Registry::builder()
        .entity::<Account>()
        .entity::<Tag>()
        .entity::<Expense>()
        .build()
        .unwrap()
}

#[tokio::test]
async fn watch_and_live_queries_follow_remote_changes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &dir.path().join("server"),
        "127.0.0.1:0".parse().unwrap(),
        registry(),
    )
    .await;
    let writer = common::builder(&server.url(), &dir.path().join("writer.db"))
        .entity::<Expense>()
        .build()
        .await
        .unwrap();
    let reader = common::builder(&server.url(), &dir.path().join("reader.db"))
        .entity::<Expense>()
        .build()
        .await
        .unwrap();
    common::sync(&reader, WAIT).await;

    let mut watch = reader.watch::<Expense>();
    let mut food = reader
        .query::<Expense>()
        .eq("category", "food")
        .range("amount", 0.0..100.0)
        .watch()
        .unwrap();
    assert!(next(&mut food).await.is_empty());

    writer.put(&expense("e1", "food", 12.0)).await.unwrap();
    common::sync(&writer, WAIT).await;
    assert_eq!(
        ids(&next(&mut food).await),
        ["e1"],
        "a remote create joins the result"
    );
    let Update::Changed { change, source } = update(&mut watch).await else {
        panic!("a change")
    };
    assert_eq!(source, Source::Remote);
    assert_eq!(change.entity().map(|expense| expense.amount), Some(12.0));

    // The amount leaves the range: the row moves out of the result.
    writer.put(&expense("e1", "food", 250.0)).await.unwrap();
    common::sync(&writer, WAIT).await;
    assert!(
        next(&mut food).await.is_empty(),
        "a remote edit moves the row out"
    );
    let Update::Changed { change, source } = update(&mut watch).await else {
        panic!("a change")
    };
    assert_eq!(
        (source, change.entity().map(|expense| expense.amount)),
        (Source::Remote, Some(250.0))
    );

    // Back in, then deleted remotely.
    writer.put(&expense("e1", "food", 20.0)).await.unwrap();
    common::sync(&writer, WAIT).await;
    assert_eq!(ids(&next(&mut food).await), ["e1"]);
    writer.delete::<Expense>("e1").await.unwrap();
    common::sync(&writer, WAIT).await;
    assert!(
        next(&mut food).await.is_empty(),
        "a remote delete empties it"
    );

    // The reader's own write is local.
    let mut watch = reader.watch::<Expense>();
    reader.put(&expense("e2", "food", 5.0)).await.unwrap();
    let Update::Changed { source, .. } = update(&mut watch).await else {
        panic!("a change")
    };
    assert_eq!(source, Source::Local);
    assert_eq!(ids(&next(&mut food).await), ["e2"]);

    writer.close().await.unwrap();
    reader.close().await.unwrap();
    server.stop().await;
}
