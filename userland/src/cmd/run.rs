//! `veto run`.

use clap::Args;

/// Arguments of `veto run`.
#[derive(Debug, Args)]
pub struct RunArgs {}

/// Runs `veto run`.
pub fn run(_args: RunArgs) -> anyhow::Result<i32> {
    anyhow::bail!("veto run is being written")
}
