//! What the kernel says about this process: CPU time, resident memory, the file limit.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// CPU time and memory of a process at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    /// User plus system CPU time of all its threads, in nanoseconds (clock-tick resolution).
    pub(crate) cpu_ns: u64,
    /// Resident set size, in bytes.
    pub(crate) rss: u64,
}

/// This process's usage, from `/proc/self/stat` and `/proc/self/statm`.
pub(crate) fn usage() -> Usage {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces; the fields after its `)` are plain.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // Field 14 is utime, 15 stime; after the `)` the first field is field 3.
    let ticks = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|field| field.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let per_second = rustix::param::clock_ticks_per_second().max(1);
    let cpu_ns = (ticks(14) + ticks(15)) * 1_000_000_000 / per_second;
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    Usage {
        cpu_ns,
        rss: pages * rustix::param::page_size() as u64,
    }
}

/// Raises the soft limit of open files to the hard limit; returns the limit in force.
pub(crate) fn raise_file_limit() -> u64 {
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => limit.maximum.unwrap_or(u64::MAX),
        Err(_) => limit.current.unwrap_or(u64::MAX),
    }
}

/// The machine's 1-minute load average, from `/proc/loadavg`: other work on the machine
/// that shares the cores with the benchmark.
pub(crate) fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// This process's CPU time (all threads, user plus system) in nanoseconds, at the
/// nanosecond resolution of `CLOCK_PROCESS_CPUTIME_ID` rather than `/proc`'s clock ticks.
pub(crate) fn cpu_ns() -> u64 {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    time.tv_sec as u64 * 1_000_000_000 + time.tv_nsec as u64
}
