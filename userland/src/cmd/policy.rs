//! `veto policy …`.

use clap::Subcommand;

/// `veto policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate policy files and print the plan per hook.
    Check {
        /// Policy files.
        files: Vec<std::path::PathBuf>,
    },
}

/// Runs a `veto policy` subcommand.
pub fn run(_cmd: PolicyCommand) -> anyhow::Result<i32> {
    anyhow::bail!("veto policy check is being written")
}
