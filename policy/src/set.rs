//! Loading a set of files: all of them or none.

use std::path::Path;

use crate::diag::{Diagnostic, Diagnostics};
use crate::spec::Policy;

/// Loads every file of `paths`. The set loads whole or not at all: any error in any
/// file fails the set, and all errors of all files are returned (files in the order
/// given). Two policies with the same `metadata.name` are an error at the second,
/// naming the first: policies are independent and addressed by name, so a
/// duplicate would make one of them unreachable.
pub fn load_set<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<Policy>, Diagnostics> {
    let mut policies: Vec<Policy> = Vec::new();
    let mut errors: Vec<Diagnostic> = Vec::new();
    for p in paths {
        match crate::load_file(p) {
            Ok(policy) => {
                if let Some(first) = policies.iter().find(|q| q.name.value == policy.name.value) {
                    errors.push(Diagnostic::error(
                        &policy.file,
                        policy.name.span,
                        format!(
                            "duplicate policy name \"{}\": already used at {}:{}:{}",
                            policy.name.value,
                            first.file.display(),
                            first.name.span.line,
                            first.name.span.col
                        ),
                    ));
                } else {
                    policies.push(policy);
                }
            }
            Err(d) => errors.extend(d),
        }
    }
    if errors.is_empty() {
        Ok(policies)
    } else {
        Err(Diagnostics(errors))
    }
}
