//! `veto sim --policy FILE… --trace FILE [-o json|table]`: what the policies
//! would decide for every call of a trace, without root and without a kernel.
//!
//! The policies load as one set (all valid or nothing runs). The whole trace is
//! simulated before anything is printed, so a bad line yields its error
//! (`TRACE:LINE: reason`, exit 1) and no partial answer.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

/// Output format of `veto sim`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SimOutput {
    /// One JSON object per call line.
    #[default]
    Json,
    /// A table for people.
    Table,
}

/// Arguments of `veto sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// A TracingPolicy file; repeat for several (loaded in this order).
    #[arg(long = "policy", value_name = "FILE", required = true)]
    pub policies: Vec<PathBuf>,
    /// The trace: JSON lines of exec, proc, fork, exit and call events (docs/sim.md).
    #[arg(long, value_name = "FILE")]
    pub trace: PathBuf,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = SimOutput::Json)]
    pub output: SimOutput,
}

/// Runs `veto sim`; returns the exit code.
pub fn run(args: SimArgs) -> anyhow::Result<i32> {
    let policies = match veto_policy::load_set(&args.policies) {
        Ok(p) => p,
        Err(diags) => {
            eprintln!("{diags}");
            return Ok(1);
        }
    };
    let text = std::fs::read_to_string(&args.trace)
        .with_context(|| format!("{}: cannot read the trace", args.trace.display()))?;
    let reports = match veto_sim::simulate(&policies, &text) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}:{}: {}", args.trace.display(), e.line, e.kind);
            return Ok(1);
        }
    };
    match args.output {
        SimOutput::Json => {
            for r in &reports {
                println!("{}", r.to_json());
            }
        }
        SimOutput::Table => print!("{}", veto_sim::report::table(&reports)),
    }
    Ok(0)
}
