//! `all`: every scenario with the parameters, several runs, one summary table of
//! medians and ranges against the goals.

use crate::fanout::{self, FanoutArgs};
use crate::idle::{self, IdleArgs};
use crate::push::{self, PushArgs};
use crate::server::ServerArgs;
use crate::stats::{number, spread};

/// Options of `all`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct AllArgs {
    /// Runs of every scenario; the table gives their median and range.
    #[arg(long, default_value_t = 3)]
    pub(crate) runs: usize,
    /// Seconds of each `push` run.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) seconds: f64,
    /// Listeners of the fan-out scenario.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) listeners: usize,
    /// Connections of the idle scenario.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) connections: usize,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

/// One figure of the table: its runs' values and its goal.
struct Row {
    name: &'static str,
    unit: &'static str,
    values: Vec<f64>,
    goal: Goal,
}

#[derive(Clone, Copy)]
enum Goal {
    AtLeast(f64),
    AtMost(f64),
    None,
}

impl Row {
    fn new(name: &'static str, unit: &'static str, goal: Goal) -> Row {
        Row {
            name,
            unit,
            values: Vec::new(),
            goal,
        }
    }
}

pub(crate) async fn run(args: &AllArgs) {
    let push = |clients, window, batch| PushArgs {
        clients,
        tenants: None,
        window,
        batch,
        seconds: args.seconds,
        server: args.server.clone(),
    };
    let batched = push(10, 4, 100);
    let pipelined = push(10, 32, 1);
    let waiting = push(1, 1, 1);
    let one_pipelined = push(1, 32, 1);
    let fanout = FanoutArgs {
        listeners: args.listeners,
        changes: 50,
        interval_ms: 50,
        burst: 100,
        server: args.server.clone(),
    };
    let idle = IdleArgs {
        connections: args.connections,
        server: ServerArgs {
            count_heap: true,
            ..args.server.clone()
        },
    };

    let mut rows = vec![
        Row::new(
            "push, 10 clients, batch 100, 4 in flight",
            "changes/s",
            Goal::AtLeast(50_000.0),
        ),
        Row::new("  server CPU per 1,000 changes", "ms", Goal::None),
        Row::new(
            "push, 10 clients, single entries, 32 in flight",
            "changes/s",
            Goal::AtLeast(15_000.0),
        ),
        Row::new("  ACK p99", "ms", Goal::None),
        Row::new("  server CPU per 1,000 changes", "ms", Goal::None),
        Row::new(
            "push, 1 client waiting for each ACK",
            "changes/s",
            Goal::None,
        ),
        Row::new("  ACK p50", "ms", Goal::None),
        Row::new("  ACK p99", "ms", Goal::AtMost(2.0)),
        Row::new("push, 1 client, 32 in flight", "changes/s", Goal::None),
        Row::new("  pipelined / waiting (same run)", "x", Goal::AtLeast(10.0)),
        Row::new("fan-out, send to last delivery p50", "ms", Goal::None),
        Row::new(
            "fan-out, send to last delivery p99",
            "ms",
            Goal::AtMost(100.0),
        ),
        Row::new(
            "fan-out, delivered messages/s",
            "msg/s",
            Goal::AtLeast(200_000.0),
        ),
        Row::new("idle connection, server RSS", "KiB", Goal::AtMost(6.0)),
        Row::new("idle connection, server heap", "KiB", Goal::AtMost(6.0)),
    ];
    for run in 1..=args.runs.max(1) {
        println!(
            "== run {run} of {} (load average {:.2})",
            args.runs.max(1),
            crate::proc::load_average()
        );
        let result = push::run(&batched).await;
        result.print(&batched);
        rows[0].values.push(result.per_second());
        rows[1].values.push(result.server_cpu);
        let result = push::run(&pipelined).await;
        result.print(&pipelined);
        rows[2].values.push(result.per_second());
        rows[3].values.push(result.latency.p99);
        rows[4].values.push(result.server_cpu);
        let alone = push::run(&waiting).await;
        alone.print(&waiting);
        rows[5].values.push(alone.per_second());
        rows[6].values.push(alone.latency.p50);
        rows[7].values.push(alone.latency.p99);
        let result = push::run(&one_pipelined).await;
        result.print(&one_pipelined);
        rows[8].values.push(result.per_second());
        rows[9]
            .values
            .push(result.per_second() / alone.per_second().max(1e-9));
        let result = fanout::run(&fanout).await;
        result.print(&fanout);
        rows[10].values.push(result.to_last.p50);
        rows[11].values.push(result.to_last.p99);
        rows[12].values.push(result.delivered_per_second);
        let result = idle::run(&idle).await;
        result.print();
        rows[13].values.push(result.rss / 1024.0);
        rows[14].values.push(result.heap / 1024.0);
    }
    print_table(&rows, args.runs.max(1));
}

fn print_table(rows: &[Row], runs: usize) {
    println!();
    println!("summary: median of {runs} runs [min – max]");
    println!(
        "{:<50} {:>12} {:>25} {:>12} {:>5}",
        "figure", "median", "range", "goal", "met"
    );
    for row in rows {
        let (median, min, max) = spread(&row.values);
        let decimals = if median >= 100.0 { 0 } else { 2 };
        let (goal, met) = match row.goal {
            Goal::AtLeast(goal) => (format!(">= {}", number(goal, 0)), median >= goal),
            Goal::AtMost(goal) => (format!("<= {}", number(goal, 0)), median <= goal),
            Goal::None => (String::new(), true),
        };
        let met = match row.goal {
            Goal::None => "",
            _ if met => "yes",
            _ => "NO",
        };
        println!(
            "{:<50} {:>12} {:>25} {:>12} {:>5}",
            format!("{} ({})", row.name, row.unit),
            number(median, decimals),
            format!("[{} – {}]", number(min, decimals), number(max, decimals)),
            goal,
            met
        );
    }
}
