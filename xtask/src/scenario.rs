//! `cargo xtask scenario`: run an attack scenario on the host.
//!
//! The scenario's own binary does the work (see scenarios/log4shell); this task builds it,
//! runs it, and passes its exit status on: 0 exactly when the expectation was met.

use anyhow::{Result, bail};

use crate::util::cargo;

/// The scenarios there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Name {
    /// CVE-2021-44228: JNDI lookup, remote class, reverse shell.
    Log4shell,
}

/// What the run must show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Expect {
    /// The attacker's commands ran (the default while no enforcement is wired).
    Compromised,
    /// The chain was stopped before any command ran.
    Blocked,
}

/// Arguments of `cargo xtask scenario`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which scenario.
    #[arg(value_enum)]
    name: Name,
    /// What must happen for exit status 0.
    #[arg(long, value_enum, default_value_t = Expect::Compromised)]
    expect: Expect,
}

/// Runs `cargo xtask scenario`.
pub fn run(args: Args) -> Result<()> {
    let Name::Log4shell = args.name;
    let expect = match args.expect {
        Expect::Compromised => "compromised",
        Expect::Blocked => "blocked",
    };
    let status = cargo()
        .args([
            "run",
            "-q",
            "-p",
            "veto-log4shell",
            "--",
            "run",
            "--expect",
            expect,
        ])
        .status()?;
    if !status.success() {
        bail!(
            "scenario log4shell: expectation `{expect}` not met ({status}); see target/scenarios/log4shell/outcome.json"
        );
    }
    Ok(())
}
