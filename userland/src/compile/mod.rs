//! Policy spec → kernel tables.
//!
//! The policy set compiles whole or not at all: every refusal (a hook veto does
//! not implement, a capability the kernel lacks, a table limit) is collected with
//! the file and position that caused it, and nothing is loaded when there is one.

pub mod sets;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use veto_common::{
    ActionSpec, ArgFilter, ArgSpec, BinFilter, COMPAT_KEY, HookPolicy, HookTable, LPM_STR_LEN,
    MAX_ARGS, MAX_BIN_FOLLOW, MAX_MATCH_PIDS, MAX_PID_FOLLOW, MAX_POLICIES_PER_HOOK, NO_FOLLOW,
    PidFilter, STR_LEN, SelectorTable, TP_KEY, action, arg_kind, op,
};
use veto_policy::plan::{AttachPoint, KernelNeed};
use veto_policy::spec::{
    ActionKind, ArgOp, ArgType, ArgValues, BinaryOp, Hook, HookPoint, PidOp, Policy, Selector, Span,
};

use crate::tpformat::{Format, FormatError};
pub use sets::Sets;

/// One refusal, located in its policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The policy file.
    pub file: PathBuf,
    /// Where in it.
    pub span: Span,
    /// Why.
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.span.line,
            self.span.col,
            self.reason
        )
    }
}

/// Every refusal of a policy set.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct CompileError(pub Vec<Refusal>);

/// What the running kernel offers, as far as compiling needs to know.
pub trait Kernel {
    /// The format of a tracepoint.
    fn format(&self, category: &str, name: &str) -> Result<Format, FormatError>;
    /// Whether the kernel offers `need` (None: veto could not tell).
    fn has(&self, need: KernelNeed) -> bool;
}

/// How one of a policy's declared arguments is reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgReport {
    /// Slot in the hook's table.
    pub slot: usize,
    /// Declared type.
    pub ty: ArgType,
    /// Label, if any.
    pub label: Option<String>,
}

/// One attached tracepoint with every policy on it.
#[derive(Debug, Clone)]
pub struct CompiledHook {
    /// Tracepoint category (`syscalls`).
    pub category: String,
    /// Tracepoint event (`sys_enter_execve`).
    pub name: String,
    /// The table the program reads (its key is the tracepoint id).
    pub table: HookTable,
    /// The hooks-map key: the syscall number for syscalls/sys_enter_*, the
    /// tracepoint id | TP_KEY otherwise.
    pub key: u32,
    /// Attached with the syscall program (keyed by syscall number).
    pub syscall: bool,
    /// The i386 number | COMPAT_KEY under which the same table serves the
    /// 32-bit compat entry (raw_syscalls/sys_enter), when the syscall has one.
    pub compat_key: Option<u32>,
    /// Reported as Tetragon's `function_name` (`__x64_sys_execve`) for a
    /// syscall kprobe; `None` for a tracepoint hook.
    pub function_name: Option<String>,
    /// Per policy entry of `table.policies`: its declared arguments.
    pub policy_args: Vec<Vec<ArgReport>>,
}

/// A compiled policy set.
#[derive(Debug, Clone, Default)]
pub struct Compiled {
    /// Policy names by policy id.
    pub policies: Vec<String>,
    /// Hooks by hook id.
    pub hooks: Vec<CompiledHook>,
    /// Value sets.
    pub sets: Sets,
    /// followChildren slots: (op, set id).
    pub bin_follow: Vec<(u32, u32)>,
    /// followForks slots: pid set ids.
    pub pid_follow: Vec<u32>,
    /// Known gaps to state when running if the compat entry cannot be
    /// covered on this kernel (the 32-bit compat entry).
    pub gaps: Vec<String>,
}

struct Ctx<'k, K: Kernel> {
    kernel: &'k K,
    out: Compiled,
    refusals: Vec<Refusal>,
    by_tp: BTreeMap<(String, String), usize>,
}

/// Compiles `policies` for `kernel`.
pub fn compile<K: Kernel>(policies: &[Policy], kernel: &K) -> Result<Compiled, CompileError> {
    let mut cx = Ctx {
        kernel,
        out: Compiled::default(),
        refusals: Vec::new(),
        by_tp: BTreeMap::new(),
    };
    for (pid, policy) in policies.iter().enumerate() {
        cx.out.policies.push(policy.name.value.clone());
        let plan = veto_policy::plan::plan(policy);
        for (hook, hp) in policy.hooks.iter().zip(&plan.hooks) {
            let refuse = |reason: String| Refusal {
                file: policy.file.clone(),
                span: hook.span,
                reason,
            };
            // Capabilities first: a hook that needs what the kernel lacks is
            // refused as such, never as "not implemented".
            let lacking: Vec<_> = hp
                .needs
                .iter()
                .filter(|n| !kernel.has(**n))
                .map(|n| n.describe())
                .collect();
            if !lacking.is_empty() {
                cx.refusals.push(refuse(format!(
                    "{} needs {} ({}), which the running kernel lacks; nothing was loaded",
                    hp.hook,
                    lacking.join(" and "),
                    hp.attach
                )));
                continue;
            }
            let AttachPoint::Tracepoint { category, name } = &hp.attach else {
                cx.refusals.push(refuse(format!(
                    "{} attaches at {}: not implemented yet (the running kernel has what it needs)",
                    hp.hook, hp.attach
                )));
                continue;
            };
            if let Some(e) = hp.enforcement.iter().find(|e| e.at != hp.attach) {
                cx.refusals.push(refuse(format!(
                    "{} enforces with {} at {}: not implemented yet",
                    hp.hook, e.action, e.at
                )));
                continue;
            }
            if let Some(gap) = &hp.compat_gap {
                cx.out
                    .gaps
                    .push(format!("{} ({}): {gap}", policy.name.value, hp.hook));
            }
            let function_name = match &hook.point {
                HookPoint::Kprobe { syscall: true, .. } => Some(format!(
                    "__x64_sys_{}",
                    name.trim_start_matches("sys_enter_")
                )),
                _ => None,
            };
            cx.add_hook(pid as u32, policy, hook, category, name, function_name);
        }
    }
    if cx.refusals.is_empty() {
        Ok(cx.out)
    } else {
        Err(CompileError(cx.refusals))
    }
}

impl<K: Kernel> Ctx<'_, K> {
    fn add_hook(
        &mut self,
        policy_id: u32,
        policy: &Policy,
        hook: &Hook,
        category: &str,
        name: &str,
        function_name: Option<String>,
    ) {
        let refuse = |span: Span, reason: String| Refusal {
            file: policy.file.clone(),
            span,
            reason,
        };
        let format = match self.kernel.format(category, name) {
            Ok(f) => f,
            Err(e) => {
                self.refusals.push(refuse(hook.span, e.to_string()));
                return;
            }
        };
        // Syscall tracepoints hand BPF a record without common_type; their
        // syscall number identifies them instead.
        let is_syscall_tp = category == "syscalls" && name.starts_with("sys_enter_");
        let key = if is_syscall_tp {
            match veto_policy::syscalls::x86_64_number(name.trim_start_matches("sys_enter_")) {
                Some(nr) => nr,
                None => {
                    self.refusals.push(refuse(
                        hook.span,
                        format!("{category}/{name}: no x86-64 syscall number known for it"),
                    ));
                    return;
                }
            }
        } else {
            format.id | TP_KEY
        };
        let tp = (category.to_string(), name.to_string());
        let hook_idx = match self.by_tp.get(&tp) {
            Some(i) => *i,
            None => {
                let idx = self.out.hooks.len();
                self.out.hooks.push(CompiledHook {
                    category: category.into(),
                    name: name.into(),
                    table: HookTable {
                        hook_id: idx as u32,
                        ..Default::default()
                    },
                    key,
                    syscall: is_syscall_tp,
                    compat_key: is_syscall_tp
                        .then(|| {
                            veto_policy::syscalls::i386_number(
                                name.trim_start_matches("sys_enter_"),
                            )
                        })
                        .flatten()
                        .map(|nr| nr | COMPAT_KEY),
                    function_name,
                    policy_args: Vec::new(),
                });
                self.by_tp.insert(tp, idx);
                idx
            }
        };
        let is_syscall = matches!(hook.point, HookPoint::Kprobe { syscall: true, .. });

        // Declared arguments → slots of the hook's table, shared between
        // policies that read the same field the same way.
        let mut reports = Vec::new();
        let mut slot_of = BTreeMap::new();
        for arg in &hook.args {
            let field = if is_syscall {
                format.syscall_args().get(arg.index as usize)
            } else {
                format.fields.get(arg.index as usize)
            };
            let Some(field) = field else {
                self.refusals.push(refuse(
                    arg.span,
                    format!(
                        "argument index {} does not exist in {category}/{name} on this kernel",
                        arg.index
                    ),
                ));
                continue;
            };
            let spec = match arg.ty {
                ArgType::String if field.size == 8 && field.ty.contains('*') => ArgSpec {
                    kind: arg_kind::STR,
                    size: 8,
                    ..Default::default()
                },
                t if t.is_integer() => {
                    let (size, signed) = match t {
                        ArgType::Int | ArgType::Int32 => (4, 1),
                        ArgType::Uint32 => (4, 0),
                        ArgType::Int64 => (8, 1),
                        _ => (8, 0),
                    };
                    ArgSpec {
                        kind: arg_kind::INT,
                        size: size.min(field.size as u8),
                        signed,
                        ..Default::default()
                    }
                }
                t => {
                    self.refusals.push(refuse(
                        arg.span,
                        format!(
                            "argument type {} on field `{} {}` of {category}/{name}: not implemented yet",
                            t.name(),
                            field.ty,
                            field.name
                        ),
                    ));
                    continue;
                }
            };
            let spec = ArgSpec {
                offset: field.offset,
                index: arg.index,
                ..spec
            };
            let table = &mut self.out.hooks[hook_idx].table;
            let used = table
                .args
                .iter()
                .take_while(|a| a.kind != arg_kind::NONE)
                .count();
            let slot = match table.args[..used].iter().position(|a| {
                (a.kind, a.size, a.signed, a.offset)
                    == (spec.kind, spec.size, spec.signed, spec.offset)
            }) {
                Some(s) => s,
                None if used < MAX_ARGS => {
                    table.args[used] = spec;
                    used
                }
                None => {
                    self.refusals.push(refuse(
                        arg.span,
                        format!("more than {MAX_ARGS} distinct arguments on {category}/{name} across the policies"),
                    ));
                    continue;
                }
            };
            slot_of.insert(arg.index, slot);
            reports.push(ArgReport {
                slot,
                ty: arg.ty,
                label: arg.label.clone(),
            });
        }

        let mut hp = HookPolicy {
            policy_id,
            n_selectors: hook.selectors.len() as u32,
            ..Default::default()
        };
        for (i, sel) in hook.selectors.iter().enumerate() {
            match self.selector(policy, hook, sel, &slot_of, hook_idx) {
                Ok(t) => hp.selectors[i] = t,
                Err(r) => self.refusals.extend(r),
            }
        }
        let h = &mut self.out.hooks[hook_idx];
        let n = h.table.n_policies as usize;
        if n >= MAX_POLICIES_PER_HOOK {
            self.refusals.push(refuse(
                hook.span,
                format!(
                    "more than {MAX_POLICIES_PER_HOOK} policies on {category}/{name} in one run"
                ),
            ));
            return;
        }
        h.table.policies[n] = hp;
        h.table.n_policies += 1;
        h.policy_args.push(reports);
    }

    fn selector(
        &mut self,
        policy: &Policy,
        hook: &Hook,
        sel: &Selector,
        slot_of: &BTreeMap<u32, usize>,
        hook_idx: usize,
    ) -> Result<SelectorTable, Vec<Refusal>> {
        let mut errs = Vec::new();
        let refuse = |span: Span, reason: String| Refusal {
            file: policy.file.clone(),
            span,
            reason,
        };
        let mut t = SelectorTable::default();
        let sets = &mut self.out.sets;

        if let Some(mb) = &sel.match_binaries {
            let values = mb.values.iter().map(|v| v.value.as_str());
            if let Some(v) = mb.values.iter().find(|v| v.value.len() >= STR_LEN) {
                errs.push(refuse(
                    v.span,
                    format!("a matchBinaries value of {} bytes: veto compares paths of at most {} bytes", v.value.len(), STR_LEN - 1),
                ));
            }
            if matches!(
                mb.op,
                BinaryOp::Prefix | BinaryOp::NotPrefix | BinaryOp::Postfix | BinaryOp::NotPostfix
            ) && let Some(v) = mb.values.iter().find(|v| v.value.len() > LPM_STR_LEN)
            {
                errs.push(refuse(
                    v.span,
                    format!(
                        "a prefix or postfix of {} bytes: veto compares at most {LPM_STR_LEN}",
                        v.value.len()
                    ),
                ));
            }
            let (code, set_id) = match mb.op {
                BinaryOp::In => (op::IN, sets.add_strs(values)),
                BinaryOp::NotIn => (op::NOT_IN, sets.add_strs(values)),
                BinaryOp::Prefix => (op::PREFIX, sets.add_prefixes(values, false)),
                BinaryOp::NotPrefix => (op::NOT_PREFIX, sets.add_prefixes(values, false)),
                BinaryOp::Postfix => (op::POSTFIX, sets.add_prefixes(values, true)),
                BinaryOp::NotPostfix => (op::NOT_POSTFIX, sets.add_prefixes(values, true)),
            };
            let mut follow_bit = NO_FOLLOW;
            if mb.follow_children {
                if self.out.bin_follow.len() >= MAX_BIN_FOLLOW {
                    errs.push(refuse(
                        mb.span,
                        format!("more than {MAX_BIN_FOLLOW} followChildren entries in one run"),
                    ));
                } else {
                    follow_bit = self.out.bin_follow.len() as u32;
                    self.out.bin_follow.push((code, set_id));
                }
            }
            t.bin = BinFilter {
                op: code,
                set_id,
                follow_bit,
            };
        }

        if sel.match_pids.len() > MAX_MATCH_PIDS {
            errs.push(refuse(
                sel.match_pids[MAX_MATCH_PIDS].span,
                format!("veto supports at most {MAX_MATCH_PIDS} matchPIDs entries per selector"),
            ));
        }
        for (i, mp) in sel.match_pids.iter().take(MAX_MATCH_PIDS).enumerate() {
            if mp.is_namespace_pid {
                errs.push(refuse(
                    mp.span,
                    "matchPIDs with isNamespacePID: not implemented yet".into(),
                ));
            }
            let set_id = self.out.sets.add_pids(mp.values.iter().map(|v| v.value));
            let mut follow_bit = NO_FOLLOW;
            if mp.follow_forks {
                if self.out.pid_follow.len() >= MAX_PID_FOLLOW {
                    errs.push(refuse(
                        mp.span,
                        format!("more than {MAX_PID_FOLLOW} followForks entries in one run"),
                    ));
                } else {
                    follow_bit = self.out.pid_follow.len() as u32;
                    self.out.pid_follow.push(set_id);
                }
            }
            t.pids[i] = PidFilter {
                op: match mp.op {
                    PidOp::In => op::IN,
                    PidOp::NotIn => op::NOT_IN,
                },
                set_id,
                follow_bit,
            };
        }

        for (i, ma) in sel.match_args.iter().enumerate() {
            let Some(&slot) = slot_of.get(&ma.index) else {
                errs.push(refuse(
                    ma.span,
                    format!("matchArgs index {} has no readable argument", ma.index),
                ));
                continue;
            };
            let ty = hook.arg(ma.index).map(|a| a.ty).unwrap_or(ArgType::Int64);
            let sets = &mut self.out.sets;
            let mut f = ArgFilter {
                slot: slot as u32,
                ..Default::default()
            };
            match (&ma.values, ma.op) {
                (ArgValues::Strings(v), o) => {
                    if let Some(long) = v.iter().find(|s| s.value.len() >= STR_LEN) {
                        errs.push(refuse(long.span, format!("a string value of {} bytes: veto reads at most {} bytes of an argument", long.value.len(), STR_LEN - 1)));
                    }
                    if matches!(
                        o,
                        ArgOp::Prefix | ArgOp::NotPrefix | ArgOp::Postfix | ArgOp::NotPostfix
                    ) && let Some(long) = v.iter().find(|s| s.value.len() > LPM_STR_LEN)
                    {
                        errs.push(refuse(long.span, format!("a prefix or postfix of {} bytes: veto compares at most {LPM_STR_LEN}", long.value.len())));
                    }
                    let vals = v.iter().map(|s| s.value.as_str());
                    (f.op, f.set_id) = match o {
                        ArgOp::Equal => (op::IN, sets.add_strs(vals)),
                        ArgOp::NotEqual => (op::NOT_IN, sets.add_strs(vals)),
                        ArgOp::Prefix => (op::PREFIX, sets.add_prefixes(vals, false)),
                        ArgOp::NotPrefix => (op::NOT_PREFIX, sets.add_prefixes(vals, false)),
                        ArgOp::Postfix => (op::POSTFIX, sets.add_prefixes(vals, true)),
                        ArgOp::NotPostfix => (op::NOT_POSTFIX, sets.add_prefixes(vals, true)),
                        other => {
                            errs.push(refuse(
                                ma.span,
                                format!("operator {other:?} on a string: not implemented"),
                            ));
                            continue;
                        }
                    };
                    if matches!(o, ArgOp::Postfix | ArgOp::NotPostfix) {
                        self.out.hooks[hook_idx].table.args[slot].needs_rev = 1;
                    }
                }
                (ArgValues::Ints(v), o) => {
                    let norm = |x: i128| -> u64 {
                        match ty {
                            ArgType::Int | ArgType::Int32 => (x as i32) as i64 as u64,
                            ArgType::Uint32 => (x as u32) as u64,
                            ArgType::Int64 => (x as i64) as u64,
                            _ => x as u64,
                        }
                    };
                    match o {
                        ArgOp::Equal => {
                            (f.op, f.set_id) =
                                (op::IN, sets.add_ints(v.iter().map(|x| norm(x.value))))
                        }
                        ArgOp::NotEqual => {
                            (f.op, f.set_id) =
                                (op::NOT_IN, sets.add_ints(v.iter().map(|x| norm(x.value))))
                        }
                        ArgOp::GreaterThan => (f.op, f.value) = (op::GT, norm(v[0].value)),
                        ArgOp::LessThan => (f.op, f.value) = (op::LT, norm(v[0].value)),
                        // Any value with a common bit is the same as the OR of all.
                        ArgOp::Mask => {
                            (f.op, f.value) = (op::MASK, v.iter().fold(0, |m, x| m | norm(x.value)))
                        }
                        other => {
                            errs.push(refuse(
                                ma.span,
                                format!("operator {other:?} on an integer: not implemented"),
                            ));
                            continue;
                        }
                    }
                }
            }
            t.args[i] = f;
        }

        for (i, a) in sel.actions.iter().enumerate() {
            t.actions[i] = match a.kind {
                ActionKind::Post => ActionSpec {
                    kind: action::POST,
                    sig: 0,
                },
                ActionKind::NoPost => ActionSpec {
                    kind: action::NOPOST,
                    sig: 0,
                },
                ActionKind::Sigkill => ActionSpec {
                    kind: action::SIGKILL,
                    sig: 9,
                },
                ActionKind::Signal { sig } => ActionSpec {
                    kind: action::SIGNAL,
                    sig: sig as u32,
                },
                other => {
                    errs.push(refuse(
                        a.span,
                        format!("action {}: not implemented yet", other.name()),
                    ));
                    continue;
                }
            };
        }
        t.n_actions = sel.actions.len() as u32;
        if errs.is_empty() { Ok(t) } else { Err(errs) }
    }
}

#[cfg(test)]
mod tests;
