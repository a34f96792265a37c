//! Simulator decisions per second with 1, 100 and 10,000 values per list.
//!
//! A decision is one call decided against every loaded hook on it
//! ([`Simulator::decide`]): trace parsing and output are outside the figure.
//! The goal is at least 10 M decisions/s on one core for the hash-backed
//! operators, flat as lists grow. Criterion prints its own figures (and keeps
//! JSON under target/criterion); a one-second run per case afterwards prints a
//! decisions/s table (per CPU second and per wall second) and writes it to
//! `target/bench/sim-decisions.json`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use veto_policy::spec::{ActionKind, ArgOp, ArgType, BinaryOp, Policy};
use veto_sim::Simulator;
use veto_sim::build::{SelectorBuild, arg, kprobe, policy, selector};
use veto_sim::engine::Verdict;
use veto_sim::trace::{self, Call, Event};

const SIZES: [usize; 3] = [1, 100, 10_000];

/// The operator families measured.
#[derive(Clone, Copy)]
enum Case {
    /// matchBinaries In + string Equal: two hash probes.
    InAndEqual,
    /// matchBinaries NotIn + string NotEqual.
    NotInAndNotEqual,
    /// Integer Equal on a 64-bit argument.
    IntEqual,
    /// matchBinaries Prefix (per-length hash probes).
    Prefix,
}

impl Case {
    const ALL: [Case; 4] = [
        Case::InAndEqual,
        Case::NotInAndNotEqual,
        Case::IntEqual,
        Case::Prefix,
    ];

    fn name(self) -> &'static str {
        match self {
            Case::InAndEqual => "in+equal",
            Case::NotInAndNotEqual => "notin+notequal",
            Case::IntEqual => "int-equal",
            Case::Prefix => "prefix",
        }
    }

    fn policy(self, n: usize) -> Policy {
        // The real values sit at the end of each list, behind n-1 decoys.
        let bins: Vec<String> = (1..n)
            .map(|i| format!("/usr/lib/decoy/{i}/bin/tool"))
            .chain(["/usr/bin/java".to_string()])
            .collect();
        let strs: Vec<String> = (1..n)
            .map(|i| format!("/decoy/{i}"))
            .chain(["/bin/sh".to_string()])
            .collect();
        let ints: Vec<i128> = (1..n as i128).map(|i| 1_000_000 + i).chain([59]).collect();
        let prefixes: Vec<String> = (1..n)
            .map(|i| format!("/decoy/{}/", "x".repeat(i % 40) + &i.to_string()))
            .chain(["/usr/bin/".to_string()])
            .collect();
        let b: Vec<&str> = bins.iter().map(String::as_str).collect();
        let s: Vec<&str> = strs.iter().map(String::as_str).collect();
        let p: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        let sel = match self {
            Case::InAndEqual => {
                selector()
                    .binaries(BinaryOp::In, &b, false)
                    .arg_strs(0, ArgOp::Equal, &s)
            }
            Case::NotInAndNotEqual => {
                selector()
                    .binaries(BinaryOp::NotIn, &b, false)
                    .arg_strs(0, ArgOp::NotEqual, &s)
            }
            Case::IntEqual => selector().arg_ints(1, ArgOp::Equal, &ints),
            Case::Prefix => selector().binaries(BinaryOp::Prefix, &p, false),
        };
        policy(
            "bench",
            vec![kprobe(
                "sys_execve",
                vec![arg(0, ArgType::String), arg(1, ArgType::Int64)],
                vec![sel.actions(&[ActionKind::Sigkill])],
            )],
        )
    }
}

/// A simulator with 64 processes (half java, half dash) and 64 calls among them.
fn setup(case: Case, n: usize) -> (Simulator, Vec<Call>) {
    let mut sim = Simulator::new(&[case.policy(n)]);
    let mut calls = Vec::new();
    for i in 0..64u32 {
        let pid = 100 + i;
        let exe = if i % 2 == 0 {
            "/usr/bin/java"
        } else {
            "/usr/bin/dash"
        };
        sim.step_line(&format!(
            r#"{{"kind":"exec","pid":{pid},"ppid":1,"exe":"{exe}"}}"#
        ))
        .unwrap();
        let path = if i % 4 < 2 { "/bin/sh" } else { "/bin/ls" };
        let nr = if i % 3 == 0 { 59 } else { 57 };
        let line =
            format!(r#"{{"kind":"call","pid":{pid},"hook":"sys_execve","args":["{path}",{nr}]}}"#);
        let Event::Call(c) = trace::parse_line(&line).unwrap() else {
            unreachable!()
        };
        calls.push(c);
    }
    (sim, calls)
}

fn decide_all(sim: &Simulator, calls: &[Call], v: &mut Verdict) -> usize {
    let mut kills = 0;
    for c in calls {
        sim.decide_into(black_box(c), v).unwrap();
        kills += usize::from(black_box(&*v).kills);
    }
    kills
}

fn criterion_benches(c: &mut Criterion) {
    for case in Case::ALL {
        let mut g = c.benchmark_group(format!("sim-decisions/{}", case.name()));
        for n in SIZES {
            let (sim, calls) = setup(case, n);
            g.throughput(Throughput::Elements(calls.len() as u64));
            g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
                let mut v = Verdict::default();
                b.iter(|| decide_all(&sim, &calls, &mut v))
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = criterion_benches
}

/// CPU time of this thread, from /proc (clock ticks of 10 ms). The machines
/// this runs on are shared; CPU time, unlike wall time, does not count the
/// moments another process had the core.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Decisions per second over one second of wall time: (per wall second,
/// per CPU second).
fn rate(case: Case, n: usize) -> (f64, Option<f64>) {
    let (sim, calls) = setup(case, n);
    let mut v = Verdict::default();
    let cpu0 = thread_cpu_seconds();
    let start = Instant::now();
    let mut decided = 0u64;
    while start.elapsed() < Duration::from_secs(1) {
        for _ in 0..100 {
            black_box(decide_all(&sim, &calls, &mut v));
        }
        decided += 100 * calls.len() as u64;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = match (cpu0, thread_cpu_seconds()) {
        (Some(a), Some(b)) if b > a => Some(decided as f64 / (b - a)),
        _ => None,
    };
    (decided as f64 / wall, cpu)
}

fn summary() {
    let mut rows = Vec::new();
    println!("\nsimulator decisions per second, one core (per CPU second; per wall second)");
    println!(
        "{:<16} {:>22} {:>22} {:>22}",
        "operators", "1", "100", "10000"
    );
    for case in Case::ALL {
        let rates: Vec<(f64, Option<f64>)> = SIZES.iter().map(|&n| rate(case, n)).collect();
        let cell = |(wall, cpu): (f64, Option<f64>)| match cpu {
            Some(c) => format!("{:.2} M; {:.2} M", c / 1e6, wall / 1e6),
            None => format!("-; {:.2} M", wall / 1e6),
        };
        println!(
            "{:<16} {:>22} {:>22} {:>22}",
            case.name(),
            cell(rates[0]),
            cell(rates[1]),
            cell(rates[2])
        );
        for (n, (wall, cpu)) in SIZES.iter().zip(&rates) {
            rows.push(serde_json::json!({
                "operators": case.name(),
                "values_per_list": n,
                "decisions_per_cpu_second": cpu.map(f64::round),
                "decisions_per_wall_second": wall.round(),
            }));
        }
    }
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "../target".into());
    let dir = std::path::Path::new(&dir).join("bench");
    let path = dir.join("sim-decisions.json");
    let doc = serde_json::json!({ "benchmark": "sim-decisions", "results": rows });
    match std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()))
    {
        Ok(()) => println!("written: {}", path.display()),
        Err(e) => eprintln!("cannot write {}: {e}", path.display()),
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo test --all-targets` runs this binary without --bench to check that
    // the benchmarks work; the timed summary is for `cargo bench` only.
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
}
