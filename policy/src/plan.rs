//! Where veto attaches each hook of a policy and what it needs from the kernel.
//!
//! The plan is data, not text: `veto policy check` prints it, and the enforcer's
//! capability check compares [`HookPlan::needs`] with what the running kernel can do
//! before loading anything. Both read the same decisions from here.
//!
//! The decisions, and why:
//! - A kprobe with `syscall: true` attaches to the syscall's entry tracepoint
//!   `syscalls/sys_enter_<name>`: it sees the same argument values as the syscall
//!   entry and its format is a stable ABI on every kernel, where a kprobe on
//!   `__x64_sys_<name>` depends on kprobes being built in (they are not on every
//!   kernel veto runs on) and on internal function names.
//! - Signals (Sigkill, Signal, NotifyEnforcer with argSig) are sent from the hook's
//!   program with `bpf_send_signal`.
//! - A changed return value (Override, NotifyEnforcer with argError) needs a program
//!   whose return value is the call's result. At a `security_*` function that is the
//!   matching BPF-LSM hook. Elsewhere it is an fmod_ret program on the function
//!   (for a syscall `__x64_sys_<name>`), chosen over a kprobe with
//!   `bpf_override_return` because it uses the same BPF trampolines as BPF LSM and no
//!   kprobes; both require the function to be on the kernel's error-injection list,
//!   which every syscall is.
//! - A `syscall: false` kprobe on a `security_*` function that enforces (Override,
//!   or NotifyEnforcer where the function is one of `spec.enforcers`) becomes the
//!   matching BPF-LSM hook (`security_bprm_check` → `bprm_check_security`).
//! - Any other kprobe stays a kprobe.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::spec::{ActionKind, Hook, HookPoint, Policy, Selector, Span};
use crate::{lsm, syscalls};

/// What a hook needs from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelNeed {
    /// Tracepoint programs (BPF_PROG_TYPE_TRACEPOINT) and tracefs.
    Tracepoint,
    /// kprobes (CONFIG_KPROBES) for BPF_PROG_TYPE_KPROBE.
    Kprobe,
    /// BPF LSM: BPF_PROG_TYPE_LSM with "bpf" in the active LSM list.
    BpfLsm,
    /// fmod_ret programs (BPF_PROG_TYPE_TRACING with BPF trampolines).
    FmodRet,
    /// The `bpf_send_signal` helper.
    SendSignal,
}

impl KernelNeed {
    /// How the need is spelled for people.
    pub fn describe(self) -> &'static str {
        match self {
            KernelNeed::Tracepoint => "tracepoint programs",
            KernelNeed::Kprobe => "kprobes",
            KernelNeed::BpfLsm => "BPF LSM",
            KernelNeed::FmodRet => "fmod_ret (BPF trampolines)",
            KernelNeed::SendSignal => "bpf_send_signal",
        }
    }
}

impl fmt::Display for KernelNeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A place a program attaches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AttachPoint {
    /// A tracepoint, `category/name` (`syscalls/sys_enter_execve`).
    Tracepoint {
        /// The tracefs category (`syscalls`).
        category: String,
        /// The event (`sys_enter_execve`).
        name: String,
    },
    /// A kprobe on a kernel function.
    Kprobe {
        /// The function.
        function: String,
    },
    /// A BPF-LSM hook.
    Lsm {
        /// The hook (`bprm_check_security`).
        hook: String,
    },
    /// An fmod_ret program on a kernel function (its return value replaces the
    /// function's result).
    FmodRet {
        /// The function (`__x64_sys_linkat`).
        function: String,
    },
}

impl fmt::Display for AttachPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachPoint::Tracepoint { category, name } => write!(f, "tracepoint {category}/{name}"),
            AttachPoint::Kprobe { function } => write!(f, "kprobe {function}"),
            AttachPoint::Lsm { hook } => write!(f, "lsm/{hook}"),
            AttachPoint::FmodRet { function } => write!(f, "fmod_ret {function}"),
        }
    }
}

/// What an enforcing action does to the calling task or call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// The task gets a signal (from the program, with `bpf_send_signal`).
    Signal {
        /// Signal number (9 for Sigkill).
        sig: i32,
    },
    /// The call returns this value instead of running.
    ReturnError {
        /// The value (`argError`).
        error: i32,
    },
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Effect::Signal { sig } => write!(f, "send signal {sig}"),
            Effect::ReturnError { error } => write!(f, "return {error}"),
        }
    }
}

/// How one enforcing action of a hook is carried out.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Enforcement {
    /// The action as the policy spells it (`Sigkill`, `NotifyEnforcer`).
    pub action: &'static str,
    /// What happens.
    pub effect: Effect,
    /// Where it happens (the hook itself, or an enforcer's hook).
    pub at: AttachPoint,
}

/// The plan of one hook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HookPlan {
    /// The hook as written (`sys_execve`, `security_bprm_check`, `syscalls/sys_enter_openat`).
    pub hook: String,
    /// Position of the hook in the policy.
    pub span: Span,
    /// Where veto attaches the hook's program.
    pub attach: AttachPoint,
    /// Why there.
    pub reason: String,
    /// Every enforcing action and where it takes effect (empty: the hook only reports).
    pub enforcement: Vec<Enforcement>,
    /// What the kernel must offer for this hook, sorted, without duplicates.
    pub needs: Vec<KernelNeed>,
    /// The hook's selectors, as validated.
    pub selectors: Vec<Selector>,
    /// A known way around the hook that the attach point alone does not cover: a
    /// syscall tracepoint never sees the 32-bit compat entry of the same syscall
    /// (`int 0x80`). The enforcer sets this to `None` when it covers the gap (for
    /// example with raw_syscalls/sys_enter).
    pub compat_gap: Option<String>,
    /// Other facts the reader should know (e.g. what cannot be checked without a kernel).
    pub notes: Vec<String>,
}

/// The plan of one policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyPlan {
    /// `metadata.name`.
    pub policy: String,
    /// The file it came from.
    pub file: PathBuf,
    /// One plan per hook, in the order of [`Policy::hooks`].
    pub hooks: Vec<HookPlan>,
}

impl PolicyPlan {
    /// Every kernel need of the policy, sorted, without duplicates.
    pub fn needs(&self) -> Vec<KernelNeed> {
        let mut v: Vec<_> = self
            .hooks
            .iter()
            .flat_map(|h| h.needs.iter().copied())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Plans every hook of `policy`.
pub fn plan(policy: &Policy) -> PolicyPlan {
    PolicyPlan {
        policy: policy.name.value.clone(),
        file: policy.file.clone(),
        hooks: policy.hooks.iter().map(|h| plan_hook(policy, h)).collect(),
    }
}

/// The syscall's tracepoint and fmod_ret targets, by table name (`execve`).
fn syscall_tracepoint(name: &str) -> AttachPoint {
    AttachPoint::Tracepoint {
        category: "syscalls".into(),
        name: format!("sys_enter_{name}"),
    }
}

fn syscall_fmod_ret(name: &str) -> AttachPoint {
    AttachPoint::FmodRet {
        function: format!("__x64_sys_{name}"),
    }
}

/// Every enforcing action of a hook, in selector order.
fn actions(hook: &Hook) -> impl Iterator<Item = &ActionKind> {
    hook.selectors
        .iter()
        .flat_map(|s| s.actions.iter().map(|a| &a.kind))
}

/// Whether `call` (as written in a hook) is one of the policy's enforcer calls.
fn is_enforcer_call(policy: &Policy, call: &str) -> bool {
    policy
        .enforcers
        .iter()
        .flat_map(|e| &e.calls)
        .any(|c| c.value == call)
}

fn plan_hook(policy: &Policy, hook: &Hook) -> HookPlan {
    let mut notes = Vec::new();
    let mut compat_gap = None;
    let has_notify = actions(hook).any(|a| matches!(a, ActionKind::NotifyEnforcer { .. }));
    let has_override = actions(hook).any(|a| matches!(a, ActionKind::Override { .. }));

    // Where the hook's own program goes, and where an Override takes effect.
    let (attach, reason, override_at): (AttachPoint, String, Option<AttachPoint>) = match &hook
        .point
    {
        HookPoint::Kprobe {
            call,
            syscall: true,
        } => {
            // Validation guarantees the name resolves.
            let name = syscalls::resolve(call).unwrap_or(call);
            compat_gap = compat_note(name);
            (
                syscall_tracepoint(name),
                format!(
                    "syscall hook: the syscall's entry tracepoint carries the same argument values \
                     as the syscall entry and its format is a stable ABI on every kernel \
                     (x86-64 syscall {})",
                    syscalls::x86_64_number(name).unwrap_or(0)
                ),
                Some(syscall_fmod_ret(name)),
            )
        }
        HookPoint::Kprobe {
            call,
            syscall: false,
        } => match lsm::hook_for_function(call) {
            Some(lsm_hook) if has_override || (has_notify && is_enforcer_call(policy, call)) => {
                let at = AttachPoint::Lsm {
                    hook: lsm_hook.to_string(),
                };
                (
                    at.clone(),
                    format!(
                        "{call} enforces here, so veto attaches to the matching BPF-LSM hook \
                         {lsm_hook}: it runs at the same point of the same operation and its \
                         return value (argError) is the operation's verdict, with no kprobe and \
                         no bpf_override_return"
                    ),
                    Some(at),
                )
            }
            _ => {
                notes.push(format!(
                    "{call} must exist in the running kernel's symbols; this is checked at load time"
                ));
                if has_override {
                    notes.push(format!(
                        "Override needs {call} on the kernel's error-injection list; this is checked at load time"
                    ));
                }
                (
                    AttachPoint::Kprobe {
                        function: call.clone(),
                    },
                    format!("kernel function {call}: a kprobe"),
                    Some(AttachPoint::FmodRet {
                        function: call.clone(),
                    }),
                )
            }
        },
        HookPoint::Tracepoint { subsystem, event } => {
            if subsystem == "syscalls"
                && let Some(name) = event
                    .strip_prefix("sys_enter_")
                    .or_else(|| event.strip_prefix("sys_exit_"))
            {
                compat_gap = compat_note(name);
            }
            notes.push(format!(
                "tracepoint {subsystem}/{event} and its argument fields are checked against the \
                 kernel's tracefs format at load time"
            ));
            (
                AttachPoint::Tracepoint {
                    category: subsystem.clone(),
                    name: event.clone(),
                },
                "tracepoint, as written".to_string(),
                None,
            )
        }
        HookPoint::Lsm { hook: h } => {
            let at = AttachPoint::Lsm { hook: h.clone() };
            (
                at.clone(),
                "LSM hook, as written: its return value is the operation's verdict".to_string(),
                Some(at),
            )
        }
    };

    let mut needs = vec![attach_need(&attach)];
    let mut enforcement = Vec::new();
    let mut push = |e: Enforcement, needs: &mut Vec<KernelNeed>| {
        // The program at `at` must load, and a signal needs the helper.
        needs.push(attach_need(&e.at));
        if let Effect::Signal { .. } = e.effect {
            needs.push(KernelNeed::SendSignal);
        }
        if !enforcement.contains(&e) {
            enforcement.push(e);
        }
    };
    for a in actions(hook) {
        let name = a.name();
        match *a {
            ActionKind::Post | ActionKind::NoPost => {}
            ActionKind::Sigkill => push(
                Enforcement {
                    action: name,
                    effect: Effect::Signal { sig: 9 },
                    at: attach.clone(),
                },
                &mut needs,
            ),
            ActionKind::Signal { sig } => push(
                Enforcement {
                    action: name,
                    effect: Effect::Signal { sig },
                    at: attach.clone(),
                },
                &mut needs,
            ),
            ActionKind::Override { error } => {
                // Validation refuses Override at tracepoints, so a target exists.
                if let Some(at) = override_at.clone() {
                    push(
                        Enforcement {
                            action: name,
                            effect: Effect::ReturnError { error },
                            at,
                        },
                        &mut needs,
                    );
                }
            }
            ActionKind::NotifyEnforcer { error, sig } => {
                for target in enforcer_targets(policy, hook, &attach) {
                    if let Some(sig) = sig {
                        push(
                            Enforcement {
                                action: name,
                                effect: Effect::Signal { sig },
                                at: target.signal_at.clone(),
                            },
                            &mut needs,
                        );
                    }
                    if let Some(error) = error {
                        push(
                            Enforcement {
                                action: name,
                                effect: Effect::ReturnError { error },
                                at: target.error_at.clone(),
                            },
                            &mut needs,
                        );
                    }
                }
            }
        }
    }
    needs.sort();
    needs.dedup();
    HookPlan {
        hook: hook.point.trace_name(),
        span: hook.span,
        attach,
        reason,
        enforcement,
        needs,
        selectors: hook.selectors.clone(),
        compat_gap,
        notes,
    }
}

/// The kernel feature a program at `at` needs to load.
fn attach_need(at: &AttachPoint) -> KernelNeed {
    match at {
        AttachPoint::Tracepoint { .. } => KernelNeed::Tracepoint,
        AttachPoint::Kprobe { .. } => KernelNeed::Kprobe,
        AttachPoint::Lsm { .. } => KernelNeed::BpfLsm,
        AttachPoint::FmodRet { .. } => KernelNeed::FmodRet,
    }
}

/// The compat note of a hook on syscall `name`'s 64-bit tracepoint, if the syscall
/// also has a 32-bit entry.
fn compat_note(name: &str) -> Option<String> {
    let nr32 = syscalls::i386_number(name)?;
    Some(format!(
        "a 32-bit entry of {name} (int 0x80 or a 32-bit process, i386 syscall {nr32}) \
         never reaches syscalls/sys_enter_{name}; only raw_syscalls/sys_enter sees it"
    ))
}

/// Where a NotifyEnforcer decision takes effect for one enforcer call.
struct EnforcerTarget {
    signal_at: AttachPoint,
    error_at: AttachPoint,
}

fn enforcer_targets(policy: &Policy, hook: &Hook, attach: &AttachPoint) -> Vec<EnforcerTarget> {
    let own_call = match &hook.point {
        HookPoint::Kprobe { call, .. } => Some(call.as_str()),
        _ => None,
    };
    let mut out = Vec::new();
    for call in policy.enforcers.iter().flat_map(|e| &e.calls) {
        let call = call.value.as_str();
        // The hook enforces its own decision: one program does both.
        if own_call == Some(call)
            && let AttachPoint::Lsm { .. } = attach
        {
            out.push(EnforcerTarget {
                signal_at: attach.clone(),
                error_at: attach.clone(),
            });
            continue;
        }
        if let Some(lsm_hook) = lsm::hook_for_function(call) {
            let at = AttachPoint::Lsm {
                hook: lsm_hook.to_string(),
            };
            out.push(EnforcerTarget {
                signal_at: at.clone(),
                error_at: at,
            });
        } else if let Ok(name) = syscalls::resolve(call) {
            out.push(EnforcerTarget {
                signal_at: syscall_tracepoint(name),
                error_at: syscall_fmod_ret(name),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGKILL: &str = r#"
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: "sigkill"
spec:
  kprobes:
  - call: "sys_execve"
    syscall: true
    args:
    - index: 0
      type: "string"
    selectors:
    - matchArgs:
      - index: 0
        operator: "Equal"
        values: ["/bin/sh"]
      matchActions:
      - action: "Sigkill"
"#;

    /// The seed LSM policy: NotifyEnforcer on security_bprm_check.
    const LSM: &str = include_str!("../../testdata/seed-policies/block-log4shell-lsm.yaml");

    #[test]
    fn syscall_kprobe_attaches_to_the_sys_enter_tracepoint_and_signals() {
        let p = crate::load_str("sigkill.yaml", SIGKILL).unwrap();
        let plan = plan(&p);
        let h = &plan.hooks[0];
        assert_eq!(
            h.attach,
            AttachPoint::Tracepoint {
                category: "syscalls".into(),
                name: "sys_enter_execve".into()
            }
        );
        assert_eq!(
            h.needs,
            vec![KernelNeed::Tracepoint, KernelNeed::SendSignal]
        );
        assert_eq!(h.enforcement[0].effect, Effect::Signal { sig: 9 });
        assert!(h.compat_gap.as_deref().unwrap().contains("i386 syscall 11"));
    }

    #[test]
    fn security_kprobe_named_in_enforcers_becomes_the_lsm_hook() {
        let p = crate::load_str("lsm.yaml", LSM).unwrap();
        let plan = plan(&p);
        let h = &plan.hooks[0];
        let lsm = AttachPoint::Lsm {
            hook: "bprm_check_security".into(),
        };
        assert_eq!(h.attach, lsm);
        assert_eq!(h.needs, vec![KernelNeed::BpfLsm]);
        assert_eq!(
            h.enforcement,
            vec![Enforcement {
                action: "NotifyEnforcer",
                effect: Effect::ReturnError { error: -1 },
                at: lsm
            }]
        );
        assert_eq!(h.compat_gap, None);
    }

    #[test]
    fn override_on_a_syscall_is_an_fmod_ret_on_the_syscall_function() {
        let text = SIGKILL.replace(
            "      - action: \"Sigkill\"",
            "      - action: \"Override\"\n        argError: -1",
        );
        let p = crate::load_str("o.yaml", &text).unwrap();
        let h = &plan(&p).hooks[0];
        assert_eq!(
            h.enforcement[0].at,
            AttachPoint::FmodRet {
                function: "__x64_sys_execve".into()
            }
        );
        assert_eq!(h.needs, vec![KernelNeed::Tracepoint, KernelNeed::FmodRet]);
    }

    #[test]
    fn plain_kprobe_needs_kprobes() {
        let text = LSM
            .replace(
                "security_bprm_check\"\n    syscall",
                "fd_install\"\n    syscall",
            )
            .replace(
                "      - action: \"NotifyEnforcer\"\n        argError: -1",
                "      - action: \"Sigkill\"",
            );
        let p = crate::load_str("k.yaml", &text).unwrap();
        let h = &plan(&p).hooks[0];
        assert_eq!(
            h.attach,
            AttachPoint::Kprobe {
                function: "fd_install".into()
            }
        );
        assert_eq!(h.needs, vec![KernelNeed::Kprobe, KernelNeed::SendSignal]);
    }
}
