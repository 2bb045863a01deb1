//! `finwise-tenant-memory [N]`: the resident memory one open SQLite tenant costs the
//! server, measured in this process on the server's own store (`finwise::app`, the same
//! connection settings): the RSS after opening N tenants (default 200), each opened and
//! read (its cursor and a snapshot), minus the RSS before, over N. Prints one line; see `docs/operations.md`.
//!
//! ```text
//! cargo run --release -p finwise --bin finwise-tenant-memory -- 200
//! ```

#![allow(
    clippy::print_stdout,
    reason = "a measuring program: its figure goes to stdout"
)]

use sync_core::TenantId;
use sync_core::store::Store;

/// The resident set size of this process in bytes, from `/proc/self/status` (`VmRSS`).
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = match std::env::args().nth(1) {
        Some(text) => text.parse()?,
        None => 200,
    };
    let budget = sync_axum::FdBudget::raise();
    let needed = count * finwise::config::FDS_PER_TENANT;
    if budget.databases < needed {
        return Err(format!(
            "{count} tenants need {needed} descriptors, the file limit {} leaves {}",
            budget.limit, budget.databases
        )
        .into());
    }
    let dir = std::env::temp_dir().join(format!("finwise-tenant-memory-{}", std::process::id()));
    let mut config = finwise::Config::new(&dir);
    config.max_open_tenants = Some(count + 1);
    let (_router, state) = finwise::app(config).await?;
    let tenants: Vec<TenantId> = (0..count)
        .map(|n| TenantId::new(format!("tenant-{n}")))
        .collect::<Result<_, _>>()?;
    // Warm up what every tenant shares (the runtime's threads, the allocator's arenas) on
    // one tenant that stays out of the figure.
    let warm = TenantId::new("warm-up")?;
    open_and_use(&state.store, &warm).await?;
    let before = rss();
    for tenant in &tenants {
        open_and_use(&state.store, tenant).await?;
    }
    let after = rss();
    let open = match &state.store {
        sync_core::store::AnyStore::Sqlite(store) => store.open_tenants(),
        _ => 0,
    };
    let per_tenant = after.saturating_sub(before) / count.max(1) as u64;
    println!(
        "open tenants: {open}; RSS before {} KiB, after {} KiB; per open tenant: {} KiB",
        before / 1024,
        after / 1024,
        per_tenant / 1024
    );
    // The read connections close after their idle time; what is left is the writer's.
    tokio::time::sleep(std::time::Duration::from_secs(25)).await;
    let idle = rss();
    println!(
        "after the readers' idle timeout: RSS {} KiB; per open tenant: {} KiB",
        idle / 1024,
        idle.saturating_sub(before) / count.max(1) as u64 / 1024
    );
    drop(state);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Opens `tenant` (creating its database) and reads it, as a first session does.
async fn open_and_use(
    store: &sync_core::store::AnyStore,
    tenant: &TenantId,
) -> Result<(), Box<dyn std::error::Error>> {
    store.cursor(tenant).await?;
    store.snapshot(tenant).await?;
    Ok(())
}
