//! Diagnostics: every problem found in a policy file, with its position.
//!
//! The front end never stops at the first problem of a file: it collects all of them
//! so that one run of `veto policy check` shows everything to fix.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::spec::Span;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The policy cannot be loaded.
    Error,
    /// The policy loads, but probably does not do what its author meant.
    Warning,
}

/// One problem at one place of one file.
///
/// Displays as `FILE:LINE:COL: reason` (errors) or `FILE:LINE:COL: warning: reason`.
/// A problem with the file as a whole (it cannot be read) has line and col 0 and
/// displays as `FILE: reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file, as it was given.
    pub file: PathBuf,
    /// 1-based line; 0 when the problem is with the whole file.
    pub line: u32,
    /// 1-based column; 0 when the problem is with the whole file.
    pub col: u32,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, written for the person who edits the policy.
    pub message: String,
}

impl Diagnostic {
    /// An error at `span` of `file`.
    pub fn error(file: &Path, span: Span, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: span.line,
            col: span.col,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    /// A warning at `span` of `file`.
    pub fn warning(file: &Path, span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(file, span, message)
        }
    }

    /// The position as a [`Span`].
    pub fn span(&self) -> Span {
        Span {
            line: self.line,
            col: self.col,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.file.display())?;
        if self.line != 0 {
            write!(f, "{}:{}:", self.line, self.col)?;
        }
        if self.severity == Severity::Warning {
            write!(f, " warning:")?;
        }
        write!(f, " {}", self.message)
    }
}

/// Every error found while loading one file or a set of files (never empty).
///
/// Displays as one diagnostic per line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The diagnostics, in file order and then source order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Number of diagnostics.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none (a loader never returns an empty set as an error).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
