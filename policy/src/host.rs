//! Warnings that depend on this machine's filesystem.
//!
//! matchBinaries compares the resolved path of the running executable (symlinks
//! followed). A value that names a symlink on the machine where the policy runs
//! can therefore never match; the classic case is `/usr/bin/java`, an alternatives
//! symlink into the JDK. This is a warning, not an error: the policy may be meant
//! for another machine (a container image) where the path is real.

use std::path::Path;

use crate::diag::Diagnostic;
use crate::spec::{BinaryOp, Policy};

/// One warning per In/NotIn matchBinaries value that exists on this machine but is
/// not its own canonical path.
pub fn warnings(policy: &Policy) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for hook in &policy.hooks {
        for sel in &hook.selectors {
            let Some(mb) = &sel.match_binaries else {
                continue;
            };
            if !matches!(mb.op, BinaryOp::In | BinaryOp::NotIn) {
                continue;
            }
            for v in &mb.values {
                let Ok(real) = std::fs::canonicalize(&v.value) else {
                    continue;
                };
                if real != Path::new(&v.value) {
                    let d = Diagnostic::warning(
                        &policy.file,
                        v.span,
                        format!(
                            "{} is a symlink to {}; matchBinaries compares the resolved executable path, so this value matches nothing",
                            v.value,
                            real.display()
                        ),
                    );
                    if !out.contains(&d) {
                        out.push(d);
                    }
                }
            }
        }
    }
    out
}
