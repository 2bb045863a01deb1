//! `watch`: stays connected and prints one line per change applied to the replica, local
//! or remote, until Ctrl-C.

use serde_json::Value;
use sync_client::event::{Changed, Event, Source};
use sync_client::status::Connection;
use tokio::sync::broadcast::error::RecvError;

use super::{Context, finish};
use crate::cli::error::Result;

/// `watch`. Connection changes go to standard error, changes to standard output.
pub(super) async fn run(context: &mut Context) -> Result<()> {
    let (client, tenant) = context.replica().await?;
    let mut events = client.events();
    let mut status = client.status();
    eprintln!(
        "watching tenant {} on {}; Ctrl-C to stop",
        context.profile.tenant_label(tenant.as_str()),
        context.server
    );
    let mut shown = Connection::Connecting;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let result = loop {
        tokio::select! {
            _ = &mut ctrl_c => break Ok(()),
            event = events.recv() => match event {
                Ok(Event::Changed(changed)) => println!("{}", line(&changed)),
                Ok(Event::Reloaded) => println!(
                    "{} reloading: the server's history was purged, every entity follows",
                    now()
                ),
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => eprintln!(
                    "missed {missed} changes: `finwise-cli account list` shows the current state"
                ),
                Err(RecvError::Closed) => break Ok(()),
            },
            changed = status.changed() => {
                if changed.is_err() {
                    break Ok(());
                }
                let status = status.borrow_and_update().clone();
                if status.connection != shown {
                    shown = status.connection;
                    match (shown, &status.last_error) {
                        (Connection::Online, _) => eprintln!("online"),
                        (Connection::Offline, Some(error)) => {
                            eprintln!("offline ({error}); retrying");
                        }
                        (Connection::Offline, None) => eprintln!("offline; retrying"),
                        (Connection::Refused(_), error) => {
                            eprintln!("{}; log in again", error.as_deref().unwrap_or("refused"));
                        }
                        _ => {}
                    }
                }
            }
        }
    };
    finish(client, result).await
}

/// `10:42:07 remote Account 0b6c… changed "Giro" balance 120.50`.
fn line(changed: &Changed) -> String {
    let source = match changed.source {
        Source::Local => "local ",
        Source::Remote => "remote",
    };
    let what = if changed.deleted {
        "deleted".to_owned()
    } else {
        let mut what = "changed".to_owned();
        let text = |key: &str| changed.data.get(key).and_then(Value::as_str);
        if let Some(name) = text("name").or_else(|| text("description")) {
            what.push_str(&format!(" {name:?}"));
        }
        for key in ["balance", "amount"] {
            if let Some(number) = changed.data.get(key).and_then(Value::as_f64) {
                what.push_str(&format!(" {key} {number:.2}"));
            }
        }
        what
    };
    format!(
        "{} {source} {} {} {what}",
        now(),
        changed.entity_type,
        changed.entity_id
    )
}

fn now() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
}
