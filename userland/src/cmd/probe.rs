//! `veto probe`.

use clap::Args;

/// Arguments of `veto probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {}

/// Runs `veto probe`.
pub fn run(_args: ProbeArgs) -> anyhow::Result<i32> {
    anyhow::bail!("veto probe is being written")
}
