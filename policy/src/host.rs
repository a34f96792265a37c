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

/// Warnings for matchBinaries values that exist on this machine but are not their
/// own canonical path: an In/NotIn value that is (or lies under) a symlink, and a
/// Prefix/NotPrefix value whose directory is (or lies under) one (`/bin/` on a
/// merged-/usr system).
pub fn warnings(policy: &Policy) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for hook in &policy.hooks {
        for sel in &hook.selectors {
            let Some(mb) = &sel.match_binaries else {
                continue;
            };
            for v in &mb.values {
                let message = match mb.op {
                    BinaryOp::In | BinaryOp::NotIn => exact_value(&v.value),
                    BinaryOp::Prefix | BinaryOp::NotPrefix => prefix_value(&v.value),
                    BinaryOp::Postfix | BinaryOp::NotPostfix => None,
                };
                let Some(message) = message else { continue };
                let d = Diagnostic::warning(&policy.file, v.span, message);
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
    }
    out
}

fn exact_value(value: &str) -> Option<String> {
    let real = std::fs::canonicalize(value).ok()?;
    (real != Path::new(value)).then(|| {
        format!(
            "{value} is a symlink to {}; matchBinaries compares the resolved executable path, so this value matches nothing",
            real.display()
        )
    })
}

fn prefix_value(value: &str) -> Option<String> {
    // The directory part: everything up to the last '/', which must exist here.
    let dir = &value[..=value.rfind('/')?];
    let trimmed = dir.trim_end_matches('/');
    if trimmed.is_empty() {
        return None;
    }
    let real = std::fs::canonicalize(trimmed).ok()?;
    (real != Path::new(trimmed)).then(|| {
        format!(
            "{trimmed} is a symlink to {}; matchBinaries compares the resolved executable path, so the prefix {value} matches nothing under it",
            real.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of this test's own with a real file, a symlink to it, and a
    /// symlinked directory.
    fn fixture(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("veto-host-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("real/bin")).unwrap();
        let dir = dir.canonicalize().unwrap();
        std::fs::write(dir.join("real/bin/tool"), b"").unwrap();
        std::os::unix::fs::symlink(dir.join("real/bin/tool"), dir.join("link")).unwrap();
        std::os::unix::fs::symlink(dir.join("real/bin"), dir.join("bin")).unwrap();
        dir
    }

    fn policy_with(op: &str, values: &[String]) -> Policy {
        let values: String = values
            .iter()
            .map(|v| format!("        - \"{v}\"\n"))
            .collect();
        let text = format!(
            "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: h\nspec:\n  kprobes:\n  - call: sys_execve\n    selectors:\n    - matchBinaries:\n      - operator: {op}\n        values:\n{values}"
        );
        crate::load_str("h.yaml", &text).unwrap()
    }

    #[test]
    fn symlinked_in_value_warns_and_real_path_does_not() {
        let dir = fixture("in");
        let link = dir.join("link").display().to_string();
        let real = dir.join("real/bin/tool").display().to_string();
        let w = warnings(&policy_with("In", &[link.clone(), real.clone()]));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].line, w[0].col), (12, 11));
        assert_eq!(
            w[0].message,
            format!(
                "{link} is a symlink to {real}; matchBinaries compares the resolved executable path, so this value matches nothing"
            )
        );
    }

    #[test]
    fn prefix_under_a_symlinked_directory_warns() {
        let dir = fixture("prefix");
        let prefix = format!("{}/bin/", dir.display());
        let w = warnings(&policy_with("Prefix", std::slice::from_ref(&prefix)));
        let ok = warnings(&policy_with(
            "Prefix",
            &[format!("{}/real/bin/", dir.display())],
        ));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].message.contains("so the prefix"), "{}", w[0].message);
        assert!(ok.is_empty(), "{ok:?}");
    }

    #[test]
    fn values_that_do_not_exist_here_are_not_warned_about() {
        let w = warnings(&policy_with("In", &["/nonexistent/veto/bin/tool".into()]));
        assert!(w.is_empty());
    }
}
