//! Short constructors for spec values, for tests and generators.
//!
//! Spec values built here carry a zero position; they stand for policies that
//! were never written in a file.

use std::path::PathBuf;

use veto_policy::spec::{
    Action, ActionKind, Arg, ArgOp, ArgType, ArgValues, BinaryOp, Hook, HookPoint, MatchArg,
    MatchBinaries, MatchPids, PidOp, Policy, Selector, Span, Spanned,
};

fn sp<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Span::default())
}

/// A policy named `name` with `hooks`.
pub fn policy(name: &str, hooks: Vec<Hook>) -> Policy {
    Policy {
        file: PathBuf::from(format!("{name}.yaml")),
        name: sp(name.to_string()),
        hooks,
        enforcers: Vec::new(),
        lists: Vec::new(),
        options: Vec::new(),
    }
}

/// A syscall kprobe on `call`.
pub fn kprobe(call: &str, args: Vec<Arg>, selectors: Vec<Selector>) -> Hook {
    hook(
        HookPoint::Kprobe {
            call: call.to_string(),
            syscall: true,
        },
        args,
        selectors,
    )
}

/// A tracepoint `subsystem/event`.
pub fn tracepoint(subsystem: &str, event: &str, args: Vec<Arg>, selectors: Vec<Selector>) -> Hook {
    hook(
        HookPoint::Tracepoint {
            subsystem: subsystem.to_string(),
            event: event.to_string(),
        },
        args,
        selectors,
    )
}

/// An LSM hook.
pub fn lsm(name: &str, args: Vec<Arg>, selectors: Vec<Selector>) -> Hook {
    hook(
        HookPoint::Lsm {
            hook: name.to_string(),
        },
        args,
        selectors,
    )
}

fn hook(point: HookPoint, args: Vec<Arg>, selectors: Vec<Selector>) -> Hook {
    Hook {
        point,
        span: Span::default(),
        args,
        selectors,
    }
}

/// A declared argument.
pub fn arg(index: u32, ty: ArgType) -> Arg {
    Arg {
        index,
        ty,
        label: None,
        span: Span::default(),
    }
}

/// A selector without filters or actions (matches everything, posts).
pub fn selector() -> Selector {
    Selector {
        span: Span::default(),
        match_binaries: None,
        match_args: Vec::new(),
        match_pids: Vec::new(),
        actions: Vec::new(),
    }
}

/// Adds filters and actions to a selector, builder style.
pub trait SelectorBuild: Sized {
    /// Sets `matchBinaries`.
    fn binaries(self, op: BinaryOp, values: &[&str], follow_children: bool) -> Self;
    /// Adds a string `matchArgs` entry.
    fn arg_strs(self, index: u32, op: ArgOp, values: &[&str]) -> Self;
    /// Adds an integer `matchArgs` entry.
    fn arg_ints(self, index: u32, op: ArgOp, values: &[i128]) -> Self;
    /// Adds a `matchPIDs` entry.
    fn pids(self, op: PidOp, values: &[u32], follow_forks: bool, namespace: bool) -> Self;
    /// Sets `matchActions`.
    fn actions(self, actions: &[ActionKind]) -> Self;
}

impl SelectorBuild for Selector {
    fn binaries(mut self, op: BinaryOp, values: &[&str], follow_children: bool) -> Self {
        self.match_binaries = Some(MatchBinaries {
            span: Span::default(),
            op,
            values: values.iter().map(|v| sp(v.to_string())).collect(),
            follow_children,
        });
        self
    }

    fn arg_strs(mut self, index: u32, op: ArgOp, values: &[&str]) -> Self {
        self.match_args.push(MatchArg {
            span: Span::default(),
            index,
            op,
            values: ArgValues::Strings(values.iter().map(|v| sp(v.to_string())).collect()),
        });
        self
    }

    fn arg_ints(mut self, index: u32, op: ArgOp, values: &[i128]) -> Self {
        self.match_args.push(MatchArg {
            span: Span::default(),
            index,
            op,
            values: ArgValues::Ints(values.iter().map(|v| sp(*v)).collect()),
        });
        self
    }

    fn pids(mut self, op: PidOp, values: &[u32], follow_forks: bool, namespace: bool) -> Self {
        self.match_pids.push(MatchPids {
            span: Span::default(),
            op,
            values: values.iter().map(|v| sp(*v)).collect(),
            follow_forks,
            is_namespace_pid: namespace,
        });
        self
    }

    fn actions(mut self, actions: &[ActionKind]) -> Self {
        self.actions = actions
            .iter()
            .map(|&kind| Action {
                span: Span::default(),
                kind,
            })
            .collect();
        self
    }
}
