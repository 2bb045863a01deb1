//! `finwise`: runs the FinWise example server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// The FinWise sync server: serves the FinWise frontend's HTTP API and sync.
#[derive(Debug, Parser)]
#[command(name = "finwise", version, about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "FINWISE_BIND", default_value = "127.0.0.1:8000")]
    bind: SocketAddr,
    /// Directory for auth.db, the JWT secret and one database per tenant (SQLite, when no
    /// --database-url is given).
    #[arg(long, env = "FINWISE_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// A PostgreSQL database for every tenant's data and the auth tables, shared by every
    /// node started with the same URL: postgres://user:password@host:port/database.
    /// Default: SQLite under --data-dir, for one process.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// With --database-url: the schema the tables live in, created if missing. Default: the
    /// connection's default schema.
    #[arg(long, env = "FINWISE_DATABASE_SCHEMA")]
    database_schema: Option<String>,
    /// With --database-url: the most connections this node opens to PostgreSQL.
    #[arg(long, env = "FINWISE_DATABASE_CONNECTIONS", default_value_t = finwise::config::DEFAULT_DATABASE_CONNECTIONS)]
    database_connections: u32,
    /// With --database-url: a NATS server (nats://host:port) the nodes tell each other of
    /// their commits through. Default: PostgreSQL LISTEN/NOTIFY.
    #[arg(long, env = "FINWISE_BUS_URL", hide_env_values = true)]
    bus_url: Option<String>,
    /// HS256 secret for session tokens (at least 32 bytes); give every node the same.
    /// Default: generated once and kept in <data-dir>/jwt-secret (SQLite) or in the
    /// database (PostgreSQL).
    #[arg(long, env = "FINWISE_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// A browser origin allowed to call the API with credentials, e.g.
    /// http://localhost:5173. Repeatable; the variable takes a comma-separated list.
    #[arg(
        long = "cors-origin",
        env = "FINWISE_CORS_ORIGINS",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// Serve a built web frontend from this directory, with unknown paths answered by its
    /// index.html.
    #[arg(long, env = "FINWISE_STATIC_DIR")]
    static_dir: Option<PathBuf>,
    /// INSECURE, development only: no login needed; trust the user_id clients send and
    /// admit sync connections without a token.
    #[arg(long, env = "FINWISE_DEV_OPEN_ACCESS")]
    dev_open_access: bool,
    /// Mark the session cookie Secure (set this when clients use HTTPS).
    #[arg(long, env = "FINWISE_SECURE_COOKIE")]
    secure_cookie: bool,
    /// The largest sync message a client may send, in bytes; larger ones close the
    /// connection with 1009.
    #[arg(long, env = "FINWISE_MAX_MESSAGE_BYTES", default_value_t = sync_core::protocol::Limits::default().max_message_bytes)]
    max_message_bytes: usize,
    /// The most entries one process_sync_batch may hold.
    #[arg(long, env = "FINWISE_MAX_BATCH", default_value_t = sync_core::protocol::Limits::default().max_batch)]
    max_batch: usize,
    /// The most concurrent sync connections.
    #[arg(long, env = "FINWISE_MAX_CONNECTIONS", default_value_t = sync_axum::Limits::default().max_connections)]
    max_connections: usize,
    /// Undelivered broadcasts per connection before it is closed with 1013.
    #[arg(long, env = "FINWISE_OUTBOUND_QUEUE", default_value_t = sync_axum::Limits::default().outbound_queue)]
    outbound_queue: usize,
    /// Serve the Prometheus metrics at /metrics on this address only (e.g. 127.0.0.1:9100),
    /// instead of at /metrics on --bind.
    #[arg(long, env = "FINWISE_METRICS_BIND")]
    metrics_bind: Option<SocketAddr>,
    /// The log lines' format: `text` for people, `json` (one object a line, with the
    /// span fields: tenant, subject, session id) for log shippers.
    #[arg(long, env = "FINWISE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match cli.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_env_filter(filter)
            .init(),
    }
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the server stopped");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = finwise::Config::new(cli.data_dir);
    config.database_url = cli.database_url;
    config.database_schema = cli.database_schema;
    config.database_max_connections = cli.database_connections;
    config.bus_url = cli.bus_url;
    config.jwt_secret = cli.jwt_secret.map(String::into_bytes);
    config.cors_origins = cli.cors_origins;
    config.static_dir = cli.static_dir;
    config.dev_open_access = cli.dev_open_access;
    config.secure_cookie = cli.secure_cookie;
    config.limits = sync_axum::Limits {
        max_connections: cli.max_connections,
        outbound_queue: cli.outbound_queue,
        ..sync_axum::Limits::default()
    };
    config.limits.session.wire.max_message_bytes = cli.max_message_bytes;
    config.limits.session.wire.max_batch = cli.max_batch;
    if cli.metrics_bind.is_some() {
        config.metrics_path = None;
    }
    let (router, state) = finwise::app(config).await?;
    if let Some(address) = cli.metrics_bind {
        let metrics = finwise::metrics_router(&state)?;
        let listener = tokio::net::TcpListener::bind(address).await?;
        tracing::info!(address = %listener.local_addr()?, "serving metrics");
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, metrics).await {
                tracing::error!(%error, "the metrics listener stopped");
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(cli.bind).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    let sessions = state.sync.shutdown_handle();
    axum::serve(sync_axum::no_delay(listener), router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Every sync session is told `status: shutdown` and closed with 1001.
            sessions.shutdown();
        })
        .await?;
    tracing::info!("shut down");
    Ok(())
}

/// Resolves on Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
