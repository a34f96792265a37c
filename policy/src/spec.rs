//! The typed, validated form of a TracingPolicy.
//!
//! This is the contract between the front end and everything behind it: the
//! compiler that turns a spec into kernel tables (`userland`) and the reference
//! simulator (`sim`) both read these types and nothing else. Every node keeps the
//! position it came from, so any later stage can point at the exact line of the
//! YAML that caused a refusal.
//!
//! A value of these types is always valid: limits are checked, operators agree
//! with argument types, every index used in `matchArgs` is declared in `args`.

use std::path::PathBuf;

use serde::Serialize;

/// A 1-based line and column in a policy file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct Span {
    /// Line, counting from 1.
    pub line: u32,
    /// Column, counting from 1.
    pub col: u32,
}

/// A value together with the position of its YAML node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Wraps `value` with its position.
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

/// Tetragon's limits, enforced at load time (over a limit is an error, never a truncation).
pub mod limits {
    /// Selectors per hook.
    pub const MAX_SELECTORS: usize = 5;
    /// `matchArgs` entries per selector.
    pub const MAX_MATCH_ARGS: usize = 5;
    /// `matchActions` entries per selector.
    pub const MAX_ACTIONS: usize = 3;
    /// Bytes in a matchBinaries value (In/NotIn/Prefix/NotPrefix/Postfix/NotPostfix)
    /// and in a string Equal/Prefix value of matchArgs.
    pub const MAX_STRING_LEN: usize = 256;
    /// Bytes in a Postfix / NotPostfix value.
    pub const MAX_POSTFIX_LEN: usize = 128;
}

/// One TracingPolicy document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// The file it was read from (as given on the command line).
    pub file: PathBuf,
    /// `metadata.name`.
    pub name: Spanned<String>,
    /// Every hook of the policy in source order: `spec.kprobes`, then
    /// `spec.tracepoints`, then `spec.lsmhooks`.
    pub hooks: Vec<Hook>,
    /// `spec.enforcers`.
    pub enforcers: Vec<Enforcer>,
    /// `spec.lists`.
    pub lists: Vec<List>,
    /// `spec.options`.
    pub options: Vec<PolicyOption>,
}

/// Where a hook attaches, as written in the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum HookPoint {
    /// `spec.kprobes[]`: a kernel function. With `syscall: true`, `call` names a
    /// syscall (`sys_execve`, or a `list:NAME` already expanded into one hook per syscall).
    Kprobe {
        /// The function or syscall name as written (`sys_execve`, `security_bprm_check`).
        call: String,
        /// `syscall: true|false` (Tetragon's default is true).
        syscall: bool,
    },
    /// `spec.tracepoints[]`.
    Tracepoint {
        /// e.g. `syscalls`.
        subsystem: String,
        /// e.g. `sys_enter_execve`.
        event: String,
    },
    /// `spec.lsmhooks[]`: a BPF-LSM hook name without the `security_` prefix
    /// (`bprm_check_security`, `file_open`).
    Lsm {
        /// The hook name.
        hook: String,
    },
}

impl HookPoint {
    /// The name the simulator's trace uses for this hook: a kprobe's call, an
    /// lsmhook's hook, or `subsystem/event` for a tracepoint.
    pub fn trace_name(&self) -> String {
        match self {
            HookPoint::Kprobe { call, .. } => call.clone(),
            HookPoint::Tracepoint { subsystem, event } => format!("{subsystem}/{event}"),
            HookPoint::Lsm { hook } => hook.clone(),
        }
    }
}

/// One hook of a policy with its arguments and selectors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hook {
    /// Where it attaches.
    pub point: HookPoint,
    /// Position of the hook's mapping (`- call: ...`).
    pub span: Span,
    /// Declared arguments (`args:`), in source order.
    pub args: Vec<Arg>,
    /// Selectors, OR-ed, first match wins. Empty: every call matches and posts.
    pub selectors: Vec<Selector>,
}

impl Hook {
    /// The declared argument with policy index `index`, if any.
    pub fn arg(&self, index: u32) -> Option<&Arg> {
        self.args.iter().find(|a| a.index == index)
    }
}

/// One declared argument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arg {
    /// `index`: the function argument position (kprobes, lsmhooks) or Tetragon's
    /// field index (tracepoints).
    pub index: u32,
    /// `type`.
    pub ty: ArgType,
    /// `label`, if given.
    pub label: Option<String>,
    /// Position of the argument's mapping.
    pub span: Span,
}

/// Argument types veto reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgType {
    /// NUL-terminated user string (`string`).
    String,
    /// `int` (32-bit signed).
    Int,
    /// `int32`.
    Int32,
    /// `uint32`.
    Uint32,
    /// `int64`.
    Int64,
    /// `uint64`.
    Uint64,
    /// `size_t` (64-bit unsigned).
    SizeT,
    /// `linux_binprm` (LSM / security_* hooks).
    LinuxBinprm,
    /// `file`.
    File,
    /// `path`.
    Path,
    /// `sockaddr`.
    Sockaddr,
}

impl ArgType {
    /// The spelling used in policies.
    pub fn name(self) -> &'static str {
        match self {
            ArgType::String => "string",
            ArgType::Int => "int",
            ArgType::Int32 => "int32",
            ArgType::Uint32 => "uint32",
            ArgType::Int64 => "int64",
            ArgType::Uint64 => "uint64",
            ArgType::SizeT => "size_t",
            ArgType::LinuxBinprm => "linux_binprm",
            ArgType::File => "file",
            ArgType::Path => "path",
            ArgType::Sockaddr => "sockaddr",
        }
    }

    /// True for the integer types.
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            ArgType::Int
                | ArgType::Int32
                | ArgType::Uint32
                | ArgType::Int64
                | ArgType::Uint64
                | ArgType::SizeT
        )
    }

    /// True for types matched as strings (`string`; `linux_binprm`, `file` and
    /// `path` compare the path they carry).
    pub fn is_string_like(self) -> bool {
        matches!(
            self,
            ArgType::String | ArgType::LinuxBinprm | ArgType::File | ArgType::Path
        )
    }

    /// Inclusive range of values an integer type can hold, as i128.
    pub fn int_range(self) -> Option<(i128, i128)> {
        Some(match self {
            ArgType::Int | ArgType::Int32 => (i32::MIN as i128, i32::MAX as i128),
            ArgType::Uint32 => (0, u32::MAX as i128),
            ArgType::Int64 => (i64::MIN as i128, i64::MAX as i128),
            ArgType::Uint64 | ArgType::SizeT => (0, u64::MAX as i128),
            _ => return None,
        })
    }
}

/// One selector: every filter in it must hold (AND).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Selector {
    /// Position of the selector's mapping.
    pub span: Span,
    /// `matchBinaries` (at most one, as Tetragon).
    pub match_binaries: Option<MatchBinaries>,
    /// `matchArgs`, AND-ed (at most [`limits::MAX_MATCH_ARGS`]).
    pub match_args: Vec<MatchArg>,
    /// `matchPIDs`, AND-ed.
    pub match_pids: Vec<MatchPids>,
    /// `matchActions`, applied in order (at most [`limits::MAX_ACTIONS`]).
    /// Empty means the default action, Post.
    pub actions: Vec<Action>,
}

/// `matchBinaries` operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum BinaryOp {
    /// The resolved executable path equals one of the values.
    In,
    /// It equals none of them (and is resolved).
    NotIn,
    /// It starts with one of the values.
    Prefix,
    /// It starts with none of them.
    NotPrefix,
    /// It ends with one of the values.
    Postfix,
    /// It ends with none of them.
    NotPostfix,
}

impl BinaryOp {
    /// True for the negated operators (an AND of inequalities).
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            BinaryOp::NotIn | BinaryOp::NotPrefix | BinaryOp::NotPostfix
        )
    }
}

/// `matchBinaries` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchBinaries {
    /// Position of the entry.
    pub span: Span,
    /// Operator.
    pub op: BinaryOp,
    /// Values (never empty; each within its length limit).
    pub values: Vec<Spanned<String>>,
    /// `followChildren`: the match extends to descendants (In / NotIn only).
    pub follow_children: bool,
}

/// `matchArgs` operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ArgOp {
    /// Equal to one of the values (string or integer).
    Equal,
    /// Equal to none of the values.
    NotEqual,
    /// String starts with one of the values.
    Prefix,
    /// String starts with none of the values.
    NotPrefix,
    /// String ends with one of the values.
    Postfix,
    /// String ends with none of the values.
    NotPostfix,
    /// Integer greater than the value (`GT` / `GreaterThan`).
    GreaterThan,
    /// Integer less than the value (`LT` / `LessThan`).
    LessThan,
    /// Integer `arg & value != 0` for one of the values.
    Mask,
}

impl ArgOp {
    /// True for the negated operators (an AND of inequalities).
    pub fn is_negated(self) -> bool {
        matches!(self, ArgOp::NotEqual | ArgOp::NotPrefix | ArgOp::NotPostfix)
    }
}

/// The values of a `matchArgs` entry, typed by the declared argument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ArgValues {
    /// For string-like arguments.
    Strings(Vec<Spanned<String>>),
    /// For integer arguments, checked against the type's range.
    Ints(Vec<Spanned<i128>>),
}

impl ArgValues {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            ArgValues::Strings(v) => v.len(),
            ArgValues::Ints(v) => v.len(),
        }
    }

    /// True when there are no values (never true in a valid spec).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `matchArgs` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchArg {
    /// Position of the entry.
    pub span: Span,
    /// The [`Arg::index`] of the argument it filters: `Hook::arg(index)` finds it.
    /// For kprobes and lsmhooks this is the policy's `index` as written; at a
    /// tracepoint the policy's `index` counts the entries of `args` (as Tetragon
    /// reads it) and the front end translates it to that entry's `Arg::index`.
    pub index: u32,
    /// Operator, valid for the argument's type.
    pub op: ArgOp,
    /// Values, never empty.
    pub values: ArgValues,
}

/// `matchPIDs` operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum PidOp {
    /// The pid is one of the values.
    In,
    /// The pid is none of the values.
    NotIn,
}

/// `matchPIDs` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchPids {
    /// Position of the entry.
    pub span: Span,
    /// Operator.
    pub op: PidOp,
    /// Pids, never empty.
    pub values: Vec<Spanned<u32>>,
    /// `followForks`: children forked by a matching process match too.
    pub follow_forks: bool,
    /// `isNamespacePID`: compare the pid as seen in the task's pid namespace.
    pub is_namespace_pid: bool,
}

/// An action with its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "action")]
pub enum ActionKind {
    /// Post an event (the default).
    Post,
    /// Do not post an event.
    NoPost,
    /// SIGKILL the calling task from inside the kernel.
    Sigkill,
    /// Send `argSig` to the calling task.
    Signal {
        /// The signal number.
        sig: i32,
    },
    /// Make the call return `argError` (BPF LSM / fmod_ret / override_return).
    Override {
        /// The value the call returns (e.g. -1 for -EPERM).
        error: i32,
    },
    /// Decide here, enforce at the policy's enforcer hook.
    NotifyEnforcer {
        /// `argError`, if given.
        error: Option<i32>,
        /// `argSig`, if given.
        sig: Option<i32>,
    },
}

impl ActionKind {
    /// The policy's spelling of the action (`Sigkill`, `NotifyEnforcer`).
    pub fn name(&self) -> &'static str {
        match self {
            ActionKind::Post => "Post",
            ActionKind::NoPost => "NoPost",
            ActionKind::Sigkill => "Sigkill",
            ActionKind::Signal { .. } => "Signal",
            ActionKind::Override { .. } => "Override",
            ActionKind::NotifyEnforcer { .. } => "NotifyEnforcer",
        }
    }

    /// Tetragon's event name for the action (`KPROBE_ACTION_SIGKILL`).
    pub fn event_name(&self) -> &'static str {
        match self {
            ActionKind::Post => "KPROBE_ACTION_POST",
            ActionKind::NoPost => "KPROBE_ACTION_NOPOST",
            ActionKind::Sigkill => "KPROBE_ACTION_SIGKILL",
            ActionKind::Signal { .. } => "KPROBE_ACTION_SIGNAL",
            ActionKind::Override { .. } => "KPROBE_ACTION_OVERRIDE",
            ActionKind::NotifyEnforcer { .. } => "KPROBE_ACTION_NOTIFYENFORCER",
        }
    }
}

/// One `matchActions` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// Position of the entry.
    pub span: Span,
    /// What to do.
    pub kind: ActionKind,
}

/// `spec.enforcers[]`: the calls at which NotifyEnforcer decisions are enforced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enforcer {
    /// Position of the entry.
    pub span: Span,
    /// `calls`.
    pub calls: Vec<Spanned<String>>,
}

/// `spec.lists[]`: named lists of syscalls, referenced as `call: "list:NAME"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct List {
    /// Position of the entry.
    pub span: Span,
    /// `name`.
    pub name: String,
    /// `type` (veto supports `syscalls`).
    pub ty: String,
    /// `values`.
    pub values: Vec<Spanned<String>>,
}

/// `spec.options[]`: `name` / `value` pairs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyOption {
    /// Position of the entry.
    pub span: Span,
    /// `name`.
    pub name: String,
    /// `value`.
    pub value: String,
}
