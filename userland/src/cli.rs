//! Command-line interface: argument types and dispatch. Each command's work lives
//! in its own module; this file only wires them.

use clap::{Parser, Subcommand};

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
pub enum Command {}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {}
}
