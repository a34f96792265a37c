//! Command-line interface: argument types and dispatch. Each command's work lives
//! in its own module under `cmd/`; this file only wires them.

use clap::{Parser, Subcommand};

use crate::cmd;

/// veto: enforce Tetragon TracingPolicies with eBPF.
#[derive(Debug, Parser)]
#[command(name = "veto", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with policy files without a kernel (check, plan).
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCommand),
    /// Load policies into the running kernel and enforce them.
    Run(cmd::run::RunArgs),
    /// Report what the running kernel can do for veto.
    Probe(cmd::probe::ProbeArgs),
    /// Simulate policies over a trace of events, without a kernel.
    Sim(cmd::sim::SimArgs),
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Policy(c) => cmd::policy::run(c),
        Command::Run(a) => cmd::run::run(a),
        Command::Probe(a) => cmd::probe::run(a),
        Command::Sim(a) => cmd::sim::run(a),
    }
}
