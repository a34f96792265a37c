//! The contract between the vmtest host runner and what runs inside a guest.
//!
//! The host writes a [`Manifest`] into the initramfs; the guest init reads it, runs
//! each test and writes one [`Event`] per line as JSON on the dedicated results serial
//! port (the second ISA serial port, `/dev/ttyS1`). The console (`/dev/ttyS0`) carries
//! only the kernel log and program chatter, so a noisy test can never forge a result.

#![deny(missing_docs)]

pub mod libtest;
pub mod protocol;
