//! The simulated network: every frame between the real clients and the real server
//! sessions waits here until a step of the simulation delivers, drops, duplicates or
//! reorders it, or cuts its connection.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::FutureExt;
use futures::channel::mpsc;
use serde_json::Value as Json;
use sync_client::transport::{self, BoxError, Connector, Frame, Transport};
use sync_core::TenantId;
use sync_core::engine::Engine;
use sync_core::session::{self, Inbound, Outbound, Session};
use tokio::sync::watch;

use crate::store::Counting;

/// Which way a frame travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Dir {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

/// A connection and a direction: one ordered stream of frames.
pub(crate) type Stream = (u64, Dir);

/// The server's side of the network while it runs.
pub(crate) struct Server {
    pub(crate) engine: Engine<Counting>,
    pub(crate) tenant: TenantId,
    pub(crate) shutdown: watch::Sender<bool>,
}

struct Conn {
    client: usize,
    to_client: mpsc::UnboundedSender<Result<Frame, BoxError>>,
    to_server: mpsc::UnboundedSender<Inbound>,
}

/// What the simulation watches on the wire (the server's answers), for the invariants and
/// for the issue-17 interleaving.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    /// Every `applied` ACK sent: change id → (entity id, version, delete).
    pub(crate) applied: Vec<(String, String, String, bool)>,
    /// ACKs lost (dropped, or their connection cut) whose change is not answered again yet:
    /// change id → (client, entity id, whether another client's change of that entity was
    /// applied since).
    pub(crate) lost: BTreeMap<String, (usize, String, bool)>,
    /// Lost ACKs retried and answered after another client wrote the same entity: the
    /// issue-17 interleaving.
    pub(crate) lost_ack_races: u64,
    /// Every ACK lost.
    pub(crate) lost_acks: u64,
    /// Per connection, the partial-sync frames sent (`subscribed`, pages, snapshots,
    /// removals and checkpoints, of catch-ups and live), in the order of sending, with
    /// whether each was delivered; and the order in which they were delivered (a
    /// duplicate counts again).
    stream_frames: BTreeMap<u64, StreamFrames>,
    /// Per connection and subscription, where its last catch-up checkpoint stands in the
    /// frames sent and in the deliveries.
    last_catch_up: BTreeMap<(u64, String), (u64, usize)>,
    sent_frames: u64,
    /// The catch-up checkpoints delivered since the checkpoint oracle last looked: the
    /// client, the subscription, the cursor, and whether the partial-sync frames of its
    /// connection since the previous one came whole and in order (`false`: one was lost,
    /// overtook another, or came again late).
    pub(crate) catch_up_checkpoints: Vec<(usize, String, u64, bool)>,
    /// Per client and entity id, the highest server cursor of an ACK delivered to it: the
    /// replica holds the state the server settled for its own change, which may be newer
    /// than a checkpoint that follows.
    pub(crate) settled: BTreeMap<(usize, String), u64>,
}

/// The partial-sync frames of one connection: those sent (serial, text, delivered), and
/// the serials in the order of delivery.
type StreamFrames = (Vec<(u64, String, bool)>, Vec<u64>);

/// Whether a frame is of partial sync, and if it is a catch-up's checkpoint, the
/// subscription it names and its cursor.
fn stream_frame_of(text: &str) -> Option<Option<(String, u64)>> {
    let kind = [
        "subscribed",
        "stream_page",
        "bucket_snapshot",
        "bucket_removed",
        "checkpoint",
    ]
    .into_iter()
    .find(|kind| text.starts_with(&format!(r#"{{"type":"{kind}""#)))?;
    if kind != "checkpoint" || !text.contains(r#""subscription""#) {
        return Some(None);
    }
    let json: Json = serde_json::from_str(text).ok()?;
    let subscription = json.get("subscription")?.as_str()?.to_owned();
    Some(Some((subscription, json["cursor"].as_u64().unwrap_or(0))))
}

/// The network.
#[derive(Default)]
pub(crate) struct Net {
    conns: BTreeMap<u64, Conn>,
    /// The frames on their way, per stream, oldest first. Kept per stream (not in one
    /// list) so that which frame a step picks does not depend on how the tasks of different
    /// connections interleaved their sends.
    queues: BTreeMap<Stream, Vec<Frame>>,
    next_conn: u64,
    pub(crate) server: Option<Server>,
    pub(crate) observed: Observed,
    /// Frames sent by anyone: progress, for the quiescence check.
    pub(crate) sent: u64,
    /// A digest of everything delivered, in order: two runs of one seed match exactly.
    pub(crate) trace: u64,
    pub(crate) delivered: u64,
    /// Print every frame delivered (`SIM_TRACE=1`).
    pub(crate) verbose: bool,
}

/// The network, shared by the connectors, the sessions' sinks and the simulation.
#[derive(Clone, Default)]
pub(crate) struct Shared(Arc<Mutex<Net>>);

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Net> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The connector of client `client`.
    pub(crate) fn connector(&self, client: usize) -> SimConnector {
        SimConnector {
            net: self.clone(),
            client,
        }
    }
}

/// Opens simulated connections to the simulated server.
pub(crate) struct SimConnector {
    net: Shared,
    client: usize,
}

impl Connector for SimConnector {
    fn connect(&self) -> transport::Connecting {
        let result = connect(&self.net, self.client);
        async move { result }.boxed()
    }
}

fn connect(shared: &Shared, client: usize) -> Result<Transport, BoxError> {
    let mut net = shared.lock();
    let Some(server) = &net.server else {
        return Err("connection refused".into());
    };
    let session = Session::new(
        server.engine.clone(),
        server.tenant.clone(),
        sync_core::entity::Actor::user(format!("client-{client}")).with_role("editor"),
        session::Config::default(),
        server.shutdown.subscribe(),
    );
    net.next_conn += 1;
    let conn = net.next_conn;
    let (to_server, inbound) = mpsc::unbounded();
    let (to_client, incoming) = mpsc::unbounded();
    net.conns.insert(
        conn,
        Conn {
            client,
            to_client,
            to_server,
        },
    );
    drop(net);
    let down = shared.clone();
    let outbound = futures::sink::unfold((), move |(), frame: Outbound| {
        let frame = match frame {
            Outbound::Text(text) => Frame::Text(text.to_string()),
            Outbound::Close { code, reason } => Frame::Close {
                code,
                reason: reason.to_owned(),
            },
        };
        down.lock().send(conn, Dir::Down, frame);
        async { Ok::<_, std::convert::Infallible>(()) }
    });
    tokio::spawn(session.run(inbound, Box::pin(outbound)));
    let up = shared.clone();
    let hangup = Hangup {
        net: shared.clone(),
        conn,
    };
    let outgoing = futures::sink::unfold(hangup, move |hangup, frame: Frame| {
        up.lock().send(conn, Dir::Up, frame);
        async { Ok::<_, std::convert::Infallible>(hangup) }
    });
    Ok(Transport::new(incoming, outgoing))
}

/// The client's end of a connection: when the client drops it (its session ended), the
/// connection is cut, as a closed socket would be.
struct Hangup {
    net: Shared,
    conn: u64,
}

impl Drop for Hangup {
    fn drop(&mut self) {
        self.net.lock().cut(self.conn);
    }
}

impl Net {
    fn send(&mut self, conn: u64, dir: Dir, frame: Frame) {
        self.sent += 1;
        if self.verbose {
            eprintln!("send conn {conn} {dir:?}: {}", show(&frame));
        }
        if !self.conns.contains_key(&conn) {
            return;
        }
        if dir == Dir::Down {
            self.observe_sent(conn, &frame);
            if let Frame::Text(text) = &frame
                && stream_frame_of(text).is_some()
            {
                self.observed.sent_frames += 1;
                let serial = self.observed.sent_frames;
                self.observed
                    .stream_frames
                    .entry(conn)
                    .or_default()
                    .0
                    .push((serial, text.clone(), false));
            }
        }
        self.queues.entry((conn, dir)).or_default().push(frame);
    }

    /// The streams with frames on their way, in a fixed order.
    pub(crate) fn streams(&self) -> Vec<(Stream, usize)> {
        self.queues
            .iter()
            .filter(|(_, frames)| !frames.is_empty())
            .map(|(stream, frames)| (*stream, frames.len()))
            .collect()
    }

    /// Whether any connection is open.
    pub(crate) fn conns(&self) -> Vec<u64> {
        self.conns.keys().copied().collect()
    }

    /// The client of a connection.
    pub(crate) fn client_of(&self, conn: u64) -> Option<usize> {
        self.conns.get(&conn).map(|conn| conn.client)
    }

    /// Delivers frame `index` of `stream`.
    pub(crate) fn deliver(&mut self, stream: Stream, index: usize) {
        let Some(frame) = self.take(stream, index) else {
            return;
        };
        self.delivered += 1;
        self.digest(stream, &frame);
        if self.verbose {
            let at = tokio::time::Instant::now();
            eprintln!(
                "{at:?} deliver conn {} {:?}: {}",
                stream.0,
                stream.1,
                show(&frame)
            );
        }
        let Some(conn) = self.conns.get(&stream.0) else {
            return;
        };
        let (to_client, to_server) = (conn.to_client.clone(), conn.to_server.clone());
        if let (Dir::Down, Frame::Text(text)) = (stream.1, &frame) {
            let client = conn.client;
            self.observe_catch_up(stream.0, client, text);
            if let Some(ack) = ack(&frame) {
                let settled = self
                    .observed
                    .settled
                    .entry((client, ack.entity))
                    .or_default();
                *settled = (*settled).max(ack.cursor);
            }
        }
        match (stream.1, frame) {
            (Dir::Up, Frame::Text(text)) => {
                let _ = to_server.unbounded_send(Inbound::Text(text));
            }
            (Dir::Down, Frame::Close { code, reason }) => {
                let _ = to_client.unbounded_send(Ok(Frame::Close { code, reason }));
                self.cut(stream.0);
            }
            (Dir::Down, frame) => {
                let _ = to_client.unbounded_send(Ok(frame));
            }
            (Dir::Up, _) => self.cut(stream.0),
        }
    }

    fn take(&mut self, stream: Stream, index: usize) -> Option<Frame> {
        let frames = self.queues.get_mut(&stream)?;
        (index < frames.len()).then(|| frames.remove(index))
    }

    /// Loses frame `index` of `stream`.
    pub(crate) fn drop_frame(&mut self, stream: Stream, index: usize) {
        if let Some(frame) = self.take(stream, index) {
            let client = self.client_of(stream.0);
            self.observe_lost(stream.1, &frame, client);
        }
    }

    /// Sends frame `index` of `stream` a second time, after everything queued.
    pub(crate) fn duplicate(&mut self, stream: Stream, index: usize) {
        if let Some(frame) = self
            .queues
            .get(&stream)
            .and_then(|frames| frames.get(index))
        {
            let frame = frame.clone();
            self.queues.entry(stream).or_default().push(frame);
        }
    }

    /// Cuts a connection: both ends see it end, and its frames on the way are lost.
    pub(crate) fn cut(&mut self, conn: u64) {
        if self.verbose && self.conns.contains_key(&conn) {
            eprintln!("cut conn {conn}");
        }
        let client = self.conns.remove(&conn).map(|conn| conn.client);
        self.observed.stream_frames.remove(&conn);
        self.observed.last_catch_up.retain(|(of, _), _| *of != conn);
        for dir in [Dir::Up, Dir::Down] {
            for frame in self.queues.remove(&(conn, dir)).unwrap_or_default() {
                self.observe_lost(dir, &frame, client);
            }
        }
    }

    /// Cuts every connection.
    pub(crate) fn cut_all(&mut self) {
        for conn in self.conns() {
            self.cut(conn);
        }
    }

    /// The connections with an ACK on its way to the client.
    pub(crate) fn conns_with_ack(&self) -> Vec<u64> {
        self.queues
            .iter()
            .filter(|((_, dir), frames)| {
                *dir == Dir::Down && frames.iter().any(|frame| ack(frame).is_some())
            })
            .map(|((conn, _), _)| *conn)
            .collect()
    }

    fn observe_sent(&mut self, conn: u64, frame: &Frame) {
        let Some(ack) = ack(frame) else { return };
        let client = self.conns[&conn].client;
        if let Some((_, _, raced)) = self.observed.lost.remove(&ack.id)
            && raced
        {
            self.observed.lost_ack_races += 1;
        }
        if ack.outcome == "applied" {
            for (lost_by, entity, raced) in self.observed.lost.values_mut() {
                if *lost_by != client && *entity == ack.entity {
                    *raced = true;
                }
            }
            self.observed.applied.push((
                ack.id,
                ack.entity,
                ack.version,
                ack.operation == "delete",
            ));
        }
    }

    /// A partial-sync frame delivered; at a catch-up's checkpoint, whether the frames
    /// delivered since the subscription's previous one are exactly those sent in between,
    /// each once, in the order of sending.
    fn observe_catch_up(&mut self, conn: u64, client: usize, text: &str) {
        let Some(checkpoint) = stream_frame_of(text) else {
            return;
        };
        let (sent, deliveries) = self.observed.stream_frames.entry(conn).or_default();
        let serial = match sent
            .iter()
            .position(|(_, frame, delivered)| !delivered && frame == text)
        {
            Some(at) => {
                sent[at].2 = true;
                sent[at].0
            }
            // A duplicate after its original.
            None => match sent.iter().rev().find(|(_, frame, _)| frame == text) {
                Some((serial, _, _)) => *serial,
                None => return,
            },
        };
        deliveries.push(serial);
        let Some((subscription, cursor)) = checkpoint else {
            return;
        };
        let at = deliveries.len() - 1;
        let key = (conn, subscription);
        let (after, from) = self
            .observed
            .last_catch_up
            .get(&key)
            .map_or((0, 0), |(serial, at)| (*serial, at + 1));
        let between: Vec<u64> = sent
            .iter()
            .map(|(sent, _, _)| *sent)
            .filter(|sent| *sent > after && *sent < serial)
            .collect();
        // A checkpoint sent before the subscription's previous one (a duplicate) is out of
        // order too.
        let whole = serial > after && deliveries[from..at] == between[..];
        self.observed
            .last_catch_up
            .insert(key.clone(), (serial, at));
        self.observed
            .catch_up_checkpoints
            .push((client, key.1, cursor, whole));
    }

    fn observe_lost(&mut self, dir: Dir, frame: &Frame, client: Option<usize>) {
        if dir != Dir::Down {
            return;
        }
        let (Some(ack), Some(client)) = (ack(frame), client) else {
            return;
        };
        self.observed.lost_acks += 1;
        self.observed
            .lost
            .entry(ack.id)
            .or_insert((client, ack.entity, false));
    }

    fn digest(&mut self, stream: Stream, frame: &Frame) {
        // Change ids are random (uuid v4): the digest keeps what does not depend on them.
        let text = match frame {
            Frame::Text(text) => summary(text),
            Frame::Close { code, .. } => format!("close {code}"),
            other => format!("{other:?}"),
        };
        let mut hash = self.trace ^ stream.0 ^ ((stream.1 as u64) << 40);
        for byte in text.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3);
        }
        self.trace = hash;
    }
}

fn show(frame: &Frame) -> String {
    match frame {
        Frame::Text(text) => text.chars().take(300).collect(),
        other => format!("{other:?}"),
    }
}

/// A frame's message type, entity ids, operations, outcomes, names and cursors, without
/// change ids or times.
fn summary(text: &str) -> String {
    let Ok(json) = serde_json::from_str::<Json>(text) else {
        return text.to_owned();
    };
    let mut out = String::new();
    summarise(&json, &mut out);
    out
}

fn summarise(json: &Json, out: &mut String) {
    match json {
        Json::Object(map) => {
            for (key, value) in map {
                if matches!(
                    key.as_str(),
                    "id" | "client_id"
                        | "subscription"
                        | "timestamp"
                        | "server_time"
                        | "detail"
                        | "message"
                ) && !value.is_object()
                {
                    if key == "id" && value.as_str().is_some_and(|id| id.len() < 8) {
                        out.push_str(value.as_str().unwrap_or_default());
                    }
                    continue;
                }
                out.push_str(key);
                summarise(value, out);
            }
        }
        Json::Array(items) => items.iter().for_each(|item| summarise(item, out)),
        other => out.push_str(&other.to_string()),
    }
}

/// An ACK's change id, entity, outcome, version and operation.
#[derive(Debug)]
struct Ack {
    id: String,
    entity: String,
    outcome: String,
    version: String,
    operation: String,
    /// The server's cursor when it answered.
    cursor: u64,
}

fn ack(frame: &Frame) -> Option<Ack> {
    let Frame::Text(text) = frame else {
        return None;
    };
    if !text.contains("\"sync_ack\"") {
        return None;
    }
    let json: Json = serde_json::from_str(text).ok()?;
    let field = |key: &str| {
        json.get(key)
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (field("type") == "sync_ack").then(|| Ack {
        id: field("id"),
        entity: field("entityId"),
        outcome: field("outcome"),
        version: field("updated_at"),
        operation: field("operationType").to_ascii_lowercase(),
        cursor: json.get("cursor").and_then(Json::as_u64).unwrap_or(0),
    })
}
