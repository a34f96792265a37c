//! The QEMU driver: fetch and unpack kernels, build the initramfs, boot, collect
//! results. A table of contents; each module has one job.
//!
//! - [`config`]: kernels.toml; [`lock`]: kernels.lock
//! - [`apt`]: Debian's archive through a private apt; [`fetch`]: the kernel cache
//! - [`modules`]: module dependency order from `.modinfo`; [`elf`]: shared libraries
//! - [`initramfs`]: the cpio newc writer; [`image`]: what goes into it
//! - [`registry`]: guest tests and scenarios; [`suite`]: veto's host end-to-end
//!   suite as guest tests; [`qemu`]: one boot
//! - [`verdict`]: judging a boot; [`results`]: results.json and junit.xml;
//!   [`report`]: terminal table and report.md
//! - [`matrix`]: the engine; [`ui`]: a terminal view of its progress events
//! - [`host`]: the host packages the runner needs

#![deny(missing_docs)]

pub mod apt;
pub mod config;
pub mod elf;
pub mod fetch;
pub mod host;
pub mod image;
pub mod initramfs;
pub mod lock;
pub mod matrix;
pub mod modules;
pub mod qemu;
pub mod registry;
pub mod report;
pub mod results;
pub mod suite;
pub mod ui;
pub mod verdict;

pub use veto_guest::protocol;
