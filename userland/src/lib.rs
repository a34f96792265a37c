//! veto's user side: CLI commands, policy compiler, loader, events, agent.

pub mod btf;
pub mod cgroup;
pub mod cli;
pub mod cmd;
pub mod compile;
pub mod events;
pub mod kernel;
pub mod loader;
pub mod mounts;
pub mod probe;
pub mod process;
pub mod tpformat;
