//! One module per `veto` subcommand.

pub mod policy;
pub mod probe;
pub mod run;
pub mod sim;
