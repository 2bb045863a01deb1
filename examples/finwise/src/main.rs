//! `finwise`: runs the FinWise example server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// The FinWise sync server: serves the FinWise frontend's HTTP API and sync.
#[derive(Debug, Parser)]
#[command(name = "finwise", version, about)]
struct Cli {
    /// Something else than serving.
    #[command(subcommand)]
    command: Option<Command>,
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
    /// The most bytes of undelivered broadcasts per connection before it is closed with 1013.
    #[arg(long, env = "FINWISE_OUTBOUND_QUEUE_BYTES", default_value_t = sync_axum::Limits::default().outbound_queue_bytes)]
    outbound_queue_bytes: usize,
    /// Seconds a send to a client may make no progress before the connection is closed.
    #[arg(long, env = "FINWISE_SEND_TIMEOUT_SECS", default_value_t = sync_axum::Limits::default().send_timeout.as_secs())]
    send_timeout_secs: u64,
    /// Seconds a new sync session waits for the client's first frame.
    #[arg(long, env = "FINWISE_FIRST_MESSAGE_TIMEOUT_SECS", default_value_t = sync_axum::Limits::default().first_message_timeout.as_secs())]
    first_message_timeout_secs: u64,
    /// Seconds a client has to send a request head (also closes idle keep-alive connections).
    #[arg(long, env = "FINWISE_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    header_read_timeout_secs: u64,
    /// Seconds a request, its body included, may take before it is answered 408.
    #[arg(long, env = "FINWISE_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    request_timeout_secs: u64,
    /// The most open TCP connections; beyond it 503 with Retry-After. Default: half of the
    /// open-file limit after a reserve of 64.
    #[arg(long, env = "FINWISE_MAX_OPEN_CONNECTIONS")]
    max_open_connections: Option<usize>,
    /// With SQLite: the most tenant databases open at once. Default: the other half of the
    /// open-file limit over the descriptors one tenant holds.
    #[arg(long, env = "FINWISE_MAX_OPEN_TENANTS")]
    max_open_tenants: Option<usize>,
    /// A PEM certificate chain: serve HTTPS and WSS (with --tls-key) on --bind.
    #[arg(long, env = "FINWISE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "FINWISE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve the Prometheus metrics at /metrics on this address only (e.g. 127.0.0.1:9100),
    /// instead of at /metrics on --bind.
    #[arg(long, env = "FINWISE_METRICS_BIND")]
    metrics_bind: Option<SocketAddr>,
    /// The log lines' format: `text` for people, `json` (one object a line, with the
    /// span fields: tenant, subject, session id) for log shippers.
    #[arg(long, env = "FINWISE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// What `finwise` does instead of serving.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Writes the TypeScript declarations (`.d.ts`) of the FinWise entities and the wire
    /// messages to a file, or to stdout with `-`.
    ExportTypes {
        /// The file to write, e.g. `finwise.d.ts`.
        path: PathBuf,
    },
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
    if let Some(Command::ExportTypes { path }) = &cli.command {
        return export_types(path);
    }
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

/// Writes [`finwise::entities::typescript`] to `path` (`-`: stdout).
fn export_types(path: &std::path::Path) -> std::process::ExitCode {
    let text = finwise::entities::typescript();
    let written = if path == std::path::Path::new("-") {
        std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes())
    } else {
        std::fs::write(path, text)
    };
    match written {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("finwise: cannot write {}: {error}", path.display());
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let budget = sync_axum::FdBudget::raise();
    let tls = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => Some(sync_axum::tls::server_config(cert, key)?),
        _ => None,
    };
    let mut config = finwise::Config::new(cli.data_dir);
    config.database_url = cli.database_url;
    config.database_schema = cli.database_schema;
    config.database_max_connections = cli.database_connections;
    config.bus_url = cli.bus_url;
    config.jwt_secret = cli.jwt_secret.map(String::into_bytes);
    config.cors_origins = cli.cors_origins;
    config.static_dir = cli.static_dir;
    config.dev_open_access = cli.dev_open_access;
    // Under TLS the session cookie is Secure whatever the flag says.
    config.secure_cookie = cli.secure_cookie || tls.is_some();
    config.max_open_tenants = cli.max_open_tenants;
    config.limits = sync_axum::Limits {
        max_connections: cli.max_connections,
        outbound_queue: cli.outbound_queue,
        outbound_queue_bytes: cli.outbound_queue_bytes,
        send_timeout: Duration::from_secs(cli.send_timeout_secs),
        first_message_timeout: Duration::from_secs(cli.first_message_timeout_secs),
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
    let limits = sync_axum::HttpLimits {
        max_open_connections: cli.max_open_connections.unwrap_or(budget.connections),
        header_read_timeout: Duration::from_secs(cli.header_read_timeout_secs),
        tls_handshake_timeout: Duration::from_secs(cli.header_read_timeout_secs),
        request_timeout: Duration::from_secs(cli.request_timeout_secs),
    };
    let mut serve = sync_axum::serve(listener, router).limits(limits);
    if let Some(tls) = tls {
        serve = serve.tls(tls);
    }
    serve
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
