//! The file-descriptor budget: how many connections and databases a process can hold.
//!
//! Every TCP connection holds one descriptor, and so does every open database file (a
//! SQLite tenant holds several: see the store's docs). A process that runs out accepts
//! nothing and opens nothing, so the honest clients are locked out with the attackers.
//! [`FdBudget`] splits the limit: a fixed reserve for the process itself (listeners,
//! logs, the auth database, the runtime), half of the rest for connections and half for
//! databases.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept for the process itself: listeners, stdio, the runtime, the auth
/// database and a margin.
pub(crate) const RESERVED_FDS: u64 = 64;

/// How the process's descriptors are shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdBudget {
    /// The soft limit of open files in force.
    pub limit: u64,
    /// The most open connections ([`HttpLimits::max_open_connections`](crate::HttpLimits)).
    pub connections: usize,
    /// Descriptors left for databases: divide by a tenant's cost for the open-tenant bound.
    pub databases: usize,
}

impl FdBudget {
    /// The budget of `limit` descriptors.
    pub fn from_limit(limit: u64) -> FdBudget {
        let usable = limit.saturating_sub(RESERVED_FDS).max(2);
        let connections = usable / 2;
        let size = |count: u64| usize::try_from(count).unwrap_or(usize::MAX);
        FdBudget {
            limit,
            connections: size(connections),
            databases: size(usable - connections),
        }
    }

    /// The budget of the soft limit in force.
    pub fn current() -> FdBudget {
        FdBudget::from_limit(soft_limit())
    }

    /// Raises the soft limit of open files to the hard limit (logged), then returns the
    /// budget of the limit in force. Call it once at start, before opening anything.
    pub fn raise() -> FdBudget {
        let limit = getrlimit(Resource::Nofile);
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if limit.current != limit.maximum
            && let Err(error) = setrlimit(Resource::Nofile, raised)
        {
            tracing::warn!(%error, "cannot raise the open-file limit to the hard limit");
        }
        let budget = FdBudget::current();
        tracing::info!(
            fd_limit = budget.limit,
            max_open_connections = budget.connections,
            database_fds = budget.databases,
            "file-descriptor budget"
        );
        budget
    }
}

fn soft_limit() -> u64 {
    // No limit at all is bounded by the kernel's own (fs.nr_open, 1,048,576 by default).
    getrlimit(Resource::Nofile).current.unwrap_or(1 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_a_reserve_and_splits_the_rest() {
        let budget = FdBudget::from_limit(1024);
        assert_eq!((budget.connections, budget.databases), (480, 480));
        assert!(FdBudget::from_limit(10).connections >= 1);
    }
}
