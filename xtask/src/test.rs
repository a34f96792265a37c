//! `cargo xtask test`: every test of the workspace.

use anyhow::Result;

use crate::util::{cargo, run as run_cmd};

/// Arguments of `cargo xtask test`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `cargo xtask test`.
pub fn run(_args: Args) -> Result<()> {
    run_cmd(cargo().args(["test", "--workspace", "--all-targets"]))
}
