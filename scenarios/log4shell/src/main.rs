//! `veto-log4shell`: runs the Log4Shell scenario on this machine.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use veto_log4shell::scenario::default_output_dir;
use veto_log4shell::{
    Config, LookupForm, Outcome, RequestKind, Scenario, ScenarioError, StepName, Verdict,
};

#[derive(Debug, Parser)]
#[command(
    name = "veto-log4shell",
    about = "The Log4Shell attack end to end on loopback"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Expect {
    /// The attacker's commands ran.
    Compromised,
    /// The chain was stopped before any command ran.
    Blocked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Form {
    /// ${jndi:ldap://…}
    Plain,
    /// ${${lower:J}ndi:ldap://…}
    Lower,
    /// ${${::-j}${::-n}${::-d}${::-i}:ldap://…}
    DefaultValues,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// What must happen for exit status 0.
    #[arg(long, value_enum, default_value_t = Expect::Compromised)]
    expect: Expect,
    /// How the lookup is written in the request.
    #[arg(long, value_enum, default_value_t = Form::Plain)]
    form: Form,
    /// Move the JVM into this cgroup before the exploit request.
    #[arg(long)]
    cgroup: Option<PathBuf>,
    /// Where to write the outcome JSON.
    #[arg(short, long, default_value_os_t = default_output_dir().join("outcome.json"))]
    output: PathBuf,
    /// Seconds the chain may take after the request.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Seconds the JVM may take to start listening (raise it under emulation: a JVM under
    /// QEMU TCG takes over ten seconds just for `java -version`).
    #[arg(long, default_value_t = 60)]
    start_timeout: u64,
    /// Where the compiled Java classes are kept (e.g. a writable folder when the tree is
    /// mounted read-only in a guest).
    #[arg(long)]
    classes_dir: Option<PathBuf>,
    /// Start the JVM with trustURLCodebase=false (JDK 17's default) to see the JDK refuse
    /// the remote class.
    #[arg(long)]
    no_trust_url_codebase: bool,
}

#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// How many runs.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Where to write the figures as JSON.
    #[arg(short, long, default_value_os_t = default_output_dir().join("bench.json"))]
    output: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the attack once, print the summary, write the outcome JSON.
    Run(RunArgs),
    /// Run the attack several times and print the median time of each step.
    Bench(BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Run(a) => run(a),
        Cmd::Bench(a) => bench(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("veto-log4shell: error: {err:#}");
            if err
                .downcast_ref::<ScenarioError>()
                .is_some_and(|e| matches!(e, ScenarioError::Interrupted(_)))
            {
                return ExitCode::from(130);
            }
            ExitCode::FAILURE
        }
    }
}

fn write_json(path: &PathBuf, value: &impl serde::Serialize) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

fn run(args: RunArgs) -> Result<ExitCode> {
    let config = Config {
        request: RequestKind::Exploit(match args.form {
            Form::Plain => LookupForm::Plain,
            Form::Lower => LookupForm::Lower,
            Form::DefaultValues => LookupForm::DefaultValues,
        }),
        cgroup: args.cgroup,
        trust_url_codebase: !args.no_trust_url_codebase,
        classes_dir: args
            .classes_dir
            .unwrap_or_else(|| default_output_dir().join("classes")),
        chain_timeout: Duration::from_secs(args.timeout),
        app_start_timeout: Duration::from_secs(args.start_timeout),
        handle_signals: true,
        ..Config::default()
    };
    let outcome = Scenario::run(&config)?;
    write_json(&args.output, &outcome)?;
    print!("{}", outcome.summary());
    println!("  outcome: {}", args.output.display());
    let met = match args.expect {
        Expect::Compromised => outcome.verdict == Verdict::Compromised,
        Expect::Blocked => outcome.verdict == Verdict::NotCompromised,
    };
    let clean =
        outcome.cleanup.processes_left.is_empty() && outcome.cleanup.ports_listening.is_empty();
    if !clean {
        eprintln!("veto-log4shell: teardown left processes or ports behind (see the outcome)");
    }
    println!(
        "  expectation {:?}: {}",
        args.expect,
        if met && clean { "met" } else { "NOT met" }
    );
    Ok(if met && clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn bench(args: BenchArgs) -> Result<ExitCode> {
    let config = Config {
        handle_signals: true,
        ..Config::default()
    };
    let mut outcomes: Vec<Outcome> = Vec::new();
    for i in 0..args.runs {
        let o = Scenario::run(&config)?;
        eprintln!(
            "run {}/{}: {:?}, wall {:.0} ms",
            i + 1,
            args.runs,
            o.verdict,
            o.wall_ms
        );
        outcomes.push(o);
    }
    let mut figures = serde_json::Map::new();
    println!(
        "log4shell: median of {} runs (ms after the request)",
        outcomes.len()
    );
    for name in StepName::ALL {
        let m = median(outcomes.iter().filter_map(|o| o.step(name).at_ms).collect());
        let seen = outcomes.iter().filter(|o| o.step(name).observed).count();
        println!(
            "  {:15} {:>9}  (observed in {seen}/{})",
            name.as_str(),
            m.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into()),
            outcomes.len()
        );
        figures.insert(
            name.as_str().into(),
            serde_json::json!({"median_ms": m, "observed": seen}),
        );
    }
    // The JVM's fork of the shell's process, exact from the kernel's process events.
    let fork = median(
        outcomes
            .iter()
            .filter_map(|o| {
                let pid = o.shell.as_ref()?.pid;
                o.exec_trace
                    .iter()
                    .find(|r| r.kind == "fork" && r.pid == pid)
                    .map(|r| r.at_ms)
            })
            .collect(),
    );
    println!(
        "  (shell process forked by the JVM at {} ms; shell_spawn is its exec of /bin/sh)",
        fork.map(|v| format!("{v:.1}"))
            .unwrap_or_else(|| "—".into())
    );
    figures.insert("shell_fork_median_ms".into(), fork.into());
    let wall = median(outcomes.iter().map(|o| o.wall_ms).collect());
    let setup = median(outcomes.iter().map(|o| o.setup_ms).collect());
    let teardown = median(outcomes.iter().map(|o| o.cleanup.teardown_ms).collect());
    println!(
        "  setup (build check, servers, JVM start) {:.0} ms",
        setup.unwrap_or(0.0)
    );
    println!("  teardown {:.1} ms", teardown.unwrap_or(0.0));
    println!("  total scenario wall time {:.0} ms", wall.unwrap_or(0.0));
    let shell_exes: Vec<String> = outcomes
        .iter()
        .filter_map(|o| o.shell.as_ref())
        .map(|s| {
            s.parent_chain
                .iter()
                .take(2)
                .map(|p| p.exe.clone())
                .collect::<Vec<_>>()
                .join(" <- ")
        })
        .collect();
    // How often the JDK's helper was seen exec'ing in the shell's process, by the kernel
    // trace (image read on arrival) or by polling; both can miss its sub-millisecond life.
    let helper_seen = outcomes
        .iter()
        .filter(|o| {
            let Some(s) = o.shell.as_ref() else {
                return false;
            };
            let helper = |exe: &str| exe.ends_with("/jspawnhelper");
            o.exec_trace
                .iter()
                .any(|r| r.pid == s.pid && r.exe.as_deref().is_some_and(helper))
                || s.exe_history.iter().any(|p| helper(&p.exe))
        })
        .count();
    println!(
        "  jspawnhelper seen exec'ing in the shell's process in {helper_seen}/{} runs",
        outcomes.len()
    );
    figures.insert("jspawnhelper_seen".into(), helper_seen.into());
    figures.insert("runs".into(), outcomes.len().into());
    figures.insert("wall_ms_median".into(), wall.into());
    figures.insert("setup_ms_median".into(), setup.into());
    figures.insert("teardown_ms_median".into(), teardown.into());
    figures.insert("shell_and_parent".into(), shell_exes.into());
    write_json(&args.output, &figures)?;
    println!("  figures: {}", args.output.display());
    Ok(ExitCode::SUCCESS)
}
