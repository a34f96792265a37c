//! `veto sim`.

use clap::Args;

/// Arguments of `veto sim`.
#[derive(Debug, Args)]
pub struct SimArgs {}

/// Runs `veto sim`.
pub fn run(_args: SimArgs) -> anyhow::Result<i32> {
    anyhow::bail!("veto sim is being written")
}
