//! Types shared by the kernel side (`enforcer-ebpf`) and user space: compiled
//! selector tables, map keys and values, event records and action codes.
//!
//! `#![no_std]` so the same matching code runs in the kernel and in host tests.
//! Every struct here is `#[repr(C)]` with explicit padding: it crosses the
//! user/kernel boundary as raw bytes in maps and ring-buffer records.

#![no_std]
#![deny(missing_docs)]

pub mod abi;
pub mod matching;
pub mod offsets;

#[cfg(feature = "user")]
mod pod;

pub use abi::*;
pub use offsets::KernelOffsets;
