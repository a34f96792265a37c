//! Errors of the simulator: a bad trace line, with its number and reason.

use thiserror::Error;

/// A trace line the simulator refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {kind}")]
pub struct TraceError {
    /// The line, counting from 1.
    pub line: usize,
    /// The reason.
    pub kind: TraceErrorKind,
}

/// Why a trace line is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TraceErrorKind {
    /// The line is not a JSON object.
    #[error("not a JSON object: {0}")]
    Json(String),
    /// `kind` is missing or not one of exec, proc, fork, exit, call.
    #[error("unknown kind {0:?} (expected exec, proc, fork, exit or call)")]
    UnknownKind(String),
    /// A required field is missing.
    #[error("{kind} line lacks field {field:?}")]
    MissingField {
        /// The line's kind.
        kind: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A field this kind of line does not have.
    #[error("{kind} line has unknown field {field:?}")]
    UnknownField {
        /// The line's kind.
        kind: &'static str,
        /// The field.
        field: String,
    },
    /// A field has the wrong JSON type or an out-of-range value.
    #[error("field {field:?} must be {expected}")]
    BadField {
        /// The field.
        field: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A resolved executable path that is not absolute.
    #[error("exe {0:?} is not an absolute path (write null for an unresolved binary)")]
    RelativeExe(String),
    /// A pid the trace never introduced.
    #[error("pid {0} was never introduced (by exec, proc or fork)")]
    UnknownPid(u32),
    /// A pid that exited earlier.
    #[error("pid {pid} exited at line {at}")]
    Exited {
        /// The pid.
        pid: u32,
        /// The line of its exit.
        at: usize,
    },
    /// A pid that was killed earlier.
    #[error("pid {pid} was killed at line {at} and is gone")]
    Killed {
        /// The pid.
        pid: u32,
        /// The line of the call that killed it.
        at: usize,
    },
    /// A pid introduced while a live process already has it.
    #[error("pid {0} is already a live process")]
    PidInUse(u32),
    /// An exec of a live process names a different parent than the trace recorded.
    #[error("pid {pid} has parent {recorded}, the exec line says {given}")]
    ParentMismatch {
        /// The pid.
        pid: u32,
        /// The parent recorded earlier.
        recorded: u32,
        /// The parent on this line.
        given: u32,
    },
    /// A call lacks an argument a loaded hook reads.
    #[error("hook {hook}: policy {policy:?} reads argument {index} ({ty}), the call gives none")]
    MissingArg {
        /// The hook.
        hook: String,
        /// The policy reading it.
        policy: String,
        /// The argument index.
        index: u32,
        /// Its declared type.
        ty: &'static str,
    },
    /// A call gives an argument a type the policy does not declare.
    #[error(
        "hook {hook}: policy {policy:?} declares argument {index} as {ty}, the call gives {given}"
    )]
    ArgType {
        /// The hook.
        hook: String,
        /// The policy.
        policy: String,
        /// The argument index.
        index: u32,
        /// Its declared type.
        ty: &'static str,
        /// What the trace gave.
        given: String,
    },
}

impl TraceErrorKind {
    /// Attaches the line number.
    pub fn at(self, line: usize) -> TraceError {
        TraceError { line, kind: self }
    }
}
