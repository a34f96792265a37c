//! veto's user side: CLI commands, policy compiler, loader, events, agent.

pub mod btf;
pub mod cli;
pub mod cmd;
