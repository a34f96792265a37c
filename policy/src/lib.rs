//! veto's policy front end: TracingPolicy YAML (cilium.io/v1alpha1) into a typed,
//! validated [`spec::Policy`] whose every node keeps its source position.
//!
//! - [`load_str`], [`load_file`], [`load_set`]: parse and validate; on failure every
//!   problem of every file comes back as a [`Diagnostic`] (`FILE:LINE:COL: reason`).
//! - [`check_files`]: [`load_set`] plus the warnings that need this machine
//!   ([`host`]), for `veto policy check`.
//! - [`plan`]: for each hook, where veto attaches and what it needs from the kernel.
//!
//! Nothing here touches a kernel; [`host`] only looks at the filesystem.

#![deny(missing_docs)]

mod diag;
pub mod host;
pub mod lsm;
mod parse;
pub mod plan;
mod set;
pub mod spec;
pub mod syscalls;
mod yaml;

use std::path::{Path, PathBuf};

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use set::load_set;
pub use spec::Policy;

/// A valid policy set, with the warnings found while checking it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The policies, in the order their files were given.
    pub policies: Vec<Policy>,
    /// Problems that do not stop loading (severity [`Severity::Warning`]).
    pub warnings: Vec<Diagnostic>,
}

/// Parses and validates one policy from `text`; `file` labels the diagnostics
/// (and becomes [`Policy::file`]). Does not look at the machine: no warnings.
pub fn load_str(file: impl AsRef<Path>, text: &str) -> Result<Policy, Diagnostics> {
    parse::policy(file.as_ref(), text).map_err(Diagnostics)
}

/// Reads, parses and validates one policy file.
pub fn load_file(path: impl AsRef<Path>) -> Result<Policy, Diagnostics> {
    let path = path.as_ref();
    let text = read(path).map_err(|d| Diagnostics(vec![d]))?;
    load_str(path, &text)
}

/// [`load_set`], then the machine-dependent warnings of [`host::warnings`].
pub fn check_files<P: AsRef<Path>>(paths: &[P]) -> Result<Loaded, Diagnostics> {
    let policies = load_set(paths)?;
    let warnings = policies.iter().flat_map(host::warnings).collect();
    Ok(Loaded { policies, warnings })
}

fn read(path: &Path) -> Result<String, Diagnostic> {
    std::fs::read_to_string(path).map_err(|e| Diagnostic {
        file: PathBuf::from(path),
        line: 0,
        col: 0,
        severity: Severity::Error,
        message: format!("cannot read the file: {e}"),
    })
}
