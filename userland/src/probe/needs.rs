//! Holding a policy's plan against the kernel's capabilities: what is missing,
//! and whether the kernel lacks it or veto does not implement it yet. The two
//! must never be confused: a refusal that blames the kernel for what veto has
//! not written sends the user hunting for a kernel that does not help.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use veto_policy::plan::{KernelNeed, PolicyPlan};
use veto_policy::spec::Span;

use super::{Capabilities, Check};

/// Every kernel need a plan can name, in the order they are reported.
pub const ALL_NEEDS: [KernelNeed; 5] = [
    KernelNeed::Tracepoint,
    KernelNeed::SendSignal,
    KernelNeed::Kprobe,
    KernelNeed::BpfLsm,
    KernelNeed::FmodRet,
];

/// The needs whose hooks and actions veto's programs implement today: syscall
/// and other tracepoints, and signals sent from them. LSM hooks, fmod_ret
/// (Override, NotifyEnforcer with argError) and plain kprobes come later.
pub const IMPLEMENTED: &[KernelNeed] = &[KernelNeed::Tracepoint, KernelNeed::SendSignal];

/// Why something a policy needs is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MissingReason {
    /// The running kernel does not offer it.
    KernelLacks {
        /// What the probe found, in plain words.
        detail: String,
    },
    /// The kernel offers it, veto does not implement it yet.
    NotImplemented,
}

/// One thing a policy needs that cannot be had here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// The policy (`metadata.name`); `None` for what veto itself needs.
    pub policy: Option<String>,
    /// The policy file.
    pub file: Option<PathBuf>,
    /// The hook as written.
    pub hook: Option<String>,
    /// Where the hook is written.
    pub span: Option<Span>,
    /// What is needed, in words (`BPF LSM`).
    pub need: String,
    /// Why it is missing.
    pub reason: MissingReason,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, &self.span) {
            (Some(file), Some(span)) => {
                write!(f, "{}:{}:{}: ", file.display(), span.line, span.col)?
            }
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            _ => {}
        }
        match (&self.policy, &self.hook) {
            (Some(p), Some(h)) => write!(f, "policy `{p}`, hook `{h}`: ")?,
            (Some(p), None) => write!(f, "policy `{p}`: ")?,
            _ => f.write_str("veto: ")?,
        }
        match &self.reason {
            MissingReason::KernelLacks { detail } => {
                write!(f, "needs {}, which this kernel lacks ({detail})", self.need)
            }
            MissingReason::NotImplemented => write!(
                f,
                "needs {}: the kernel has it, but it is not implemented yet in veto",
                self.need
            ),
        }
    }
}

/// Whether one kernel need can be met here, for `veto probe`'s summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeedStatus {
    /// The need.
    pub need: KernelNeed,
    /// In words.
    pub describe: &'static str,
    /// Whether the kernel offers it.
    pub kernel: bool,
    /// Why not, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Whether veto implements hooks that need it.
    pub implemented: bool,
}

impl Capabilities {
    /// What every policy need amounts to on this kernel.
    pub fn need_statuses(&self) -> Vec<NeedStatus> {
        ALL_NEEDS
            .iter()
            .map(|&need| {
                let kernel = self.check_need(need);
                NeedStatus {
                    need,
                    describe: need.describe(),
                    kernel: kernel.is_ok(),
                    detail: kernel.err(),
                    implemented: IMPLEMENTED.contains(&need),
                }
            })
            .collect()
    }

    /// What the hooks of `plan` need that cannot be had: the kernel lacks it,
    /// or veto does not implement it yet (a need the kernel lacks is reported
    /// as lacking, whatever veto implements). Empty when the policy can run.
    pub fn missing_for(&self, plan: &PolicyPlan) -> Vec<Missing> {
        self.missing_with(plan, IMPLEMENTED)
    }

    /// [`Capabilities::missing_for`] with an explicit list of implemented needs.
    pub fn missing_with(&self, plan: &PolicyPlan, implemented: &[KernelNeed]) -> Vec<Missing> {
        let mut out = Vec::new();
        for hook in &plan.hooks {
            for &need in &hook.needs {
                let reason = match self.check_need(need) {
                    Err(detail) => MissingReason::KernelLacks { detail },
                    Ok(()) if !implemented.contains(&need) => MissingReason::NotImplemented,
                    Ok(()) => continue,
                };
                out.push(Missing {
                    policy: Some(plan.policy.clone()),
                    file: Some(plan.file.clone()),
                    hook: Some(hook.hook.clone()),
                    span: Some(hook.span),
                    need: need.describe().to_owned(),
                    reason,
                });
            }
        }
        out
    }

    /// What veto itself needs on every run, whatever the policies: BTF and the
    /// exec-path offsets, tracepoints for exec tracking, the ring buffer for
    /// events, and the helpers its exec tracker and `--cgroup` filter call
    /// (cgroup2 itself is checked where `--cgroup` is given).
    pub fn missing_base(&self) -> Vec<Missing> {
        let base: [(&str, &Check); 7] = [
            ("the kernel's BTF", &self.btf),
            (
                "the exec-path struct offsets from BTF",
                &self.kernel_offsets,
            ),
            ("tracepoint programs", &self.programs.tracepoint),
            ("tracefs", &self.tracefs),
            ("the BPF ring buffer", &self.ringbuf),
            ("bpf_probe_read_kernel", &self.helpers.probe_read_kernel),
            (
                "bpf_get_current_cgroup_id",
                &self.helpers.get_current_cgroup_id,
            ),
        ];
        base.iter()
            .filter(|(_, c)| !c.available)
            .map(|(need, c)| Missing {
                policy: None,
                file: None,
                hook: None,
                span: None,
                need: (*need).to_owned(),
                reason: MissingReason::KernelLacks {
                    detail: c.detail.clone().unwrap_or_else(|| "no".to_owned()),
                },
            })
            .collect()
    }
}
