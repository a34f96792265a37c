//! The Log4Shell scenario (CVE-2021-44228), end to end on loopback.
//!
//! A vulnerable Java service logs attacker input; its logger resolves
//! `${jndi:ldap://…}` through the JDK's JNDI; the attacker's LDAP server answers with a
//! javaNamingReference whose codebase is the attacker's class server; the JVM loads and
//! initialises the payload class, which starts /bin/sh with a reverse shell to the
//! attacker's listener. [`Scenario::run`] drives one attack and returns an [`Outcome`]
//! saying which of those steps happened, when, and by which process.
//!
//! Modules, one job each:
//! - [`ber`], [`ldap`]: the LDAP server and the BER it speaks;
//! - [`http`]: the class server; [`payload`]: the class as served;
//! - [`listener`]: the reverse-shell listener;
//! - [`java`]: JDK prerequisites and the javac build step;
//! - [`app`]: the vulnerable app's process and its teardown;
//! - [`procfs`]: what /proc says about processes and sockets;
//! - [`proc_events`]: exact fork/exec/exit events from the kernel's process connector;
//! - [`journal`]: the timestamped record every part writes to;
//! - [`outcome`]: the result and its summary; [`scenario`]: the runner.
#![deny(missing_docs)]

pub mod app;
pub mod ber;
pub mod http;
pub mod java;
pub mod journal;
pub mod ldap;
pub mod listener;
pub mod outcome;
pub mod payload;
pub mod proc_events;
pub mod procfs;
pub mod scenario;

pub use outcome::{Outcome, StepName, Verdict};
pub use scenario::{Config, LookupForm, RequestKind, Scenario, ScenarioError};
