//! Types shared by the kernel side (`enforcer-ebpf`) and user space: compiled
//! selector tables, map keys and values, event records and action codes.
//!
//! `#![no_std]` so the same matching code runs in the kernel and in host tests.

#![no_std]
#![deny(missing_docs)]
