//! `cargo xtask demo`.

use anyhow::Result;

use crate::util::{cargo, run as run_cmd};

/// Arguments of `cargo xtask demo`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `cargo xtask demo`: checks the seed policies and prints their plans.
pub fn run(_args: Args) -> Result<()> {
    run_cmd(cargo().args([
        "run",
        "--quiet",
        "--package",
        "veto",
        "--",
        "policy",
        "check",
        "testdata/seed-policies/block-log4shell-sigkill.yaml",
        "testdata/seed-policies/block-log4shell-lsm.yaml",
    ]))
}
