//! What the running kernel can do for veto, found by trying it.
//!
//! Every program type and helper is probed by really loading a minimal program
//! that uses it ([`bpf`]), because config files, version numbers and the mere
//! presence of a name in a list all lie in some setup: on the development host
//! "bpf" is in the active LSM list yet LSM programs fail to load with EPERM, and
//! a kernel without kprobes still accepts kprobe-type programs it can never
//! attach. The result, [`Capabilities`], is plain data (serde) that `veto probe`
//! prints and `veto run` checks each policy's plan against ([`Capabilities::missing_for`]).

pub mod bpf;
mod needs;

use std::path::Path;

use serde::Serialize;
use veto_policy::plan::KernelNeed;

use crate::btf::{Btf, FromBtf, KernelOffsets, offset_fields};
use crate::mounts;
use bpf::{AttachType, Insn, ProgSpec, ProgType, helper};

pub use needs::{IMPLEMENTED, Missing, MissingReason, NeedStatus};

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Whether the kernel offers it.
    pub available: bool,
    /// The errno of the failed load or call, by name (`EPERM`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno: Option<String>,
    /// In plain words: why not, or where/what when it is there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Check {
    fn yes(detail: Option<String>) -> Check {
        Check {
            available: true,
            errno: None,
            detail,
        }
    }

    fn no(detail: impl Into<String>) -> Check {
        Check {
            available: false,
            errno: None,
            detail: Some(detail.into()),
        }
    }

    fn load_failed(failure: &bpf::BpfFailure) -> Check {
        Check {
            available: false,
            errno: Some(failure.errno_name()),
            detail: Some(format!("load failed: {failure}")),
        }
    }

    /// `yes`, `yes (detail)` or `no (detail)`.
    pub fn describe(&self) -> String {
        let word = if self.available { "yes" } else { "no" };
        match &self.detail {
            Some(d) => format!("{word} ({d})"),
            None => word.to_owned(),
        }
    }
}

/// Program types veto may use, each probed by loading a two-instruction program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Programs {
    /// BPF_PROG_TYPE_TRACEPOINT.
    pub tracepoint: Check,
    /// BPF_PROG_TYPE_RAW_TRACEPOINT.
    pub raw_tracepoint: Check,
    /// BPF_PROG_TYPE_KPROBE (loading only; attaching is [`Capabilities::kprobe_attach`]).
    pub kprobe: Check,
    /// BPF_PROG_TYPE_LSM on `bprm_check_security`.
    pub lsm: Check,
    /// BPF_PROG_TYPE_TRACING, fentry.
    pub fentry: Check,
    /// BPF_PROG_TYPE_TRACING, fmod_ret.
    pub fmod_ret: Check,
}

/// Helpers veto may call, each probed by loading a program that calls it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Helpers {
    /// `bpf_send_signal` (Sigkill, Signal), in a tracepoint program.
    pub send_signal: Check,
    /// `bpf_override_return` (Override through a kprobe), in a kprobe program.
    pub override_return: Check,
    /// `bpf_get_current_cgroup_id` (`--cgroup`), in a tracepoint program.
    pub get_current_cgroup_id: Check,
    /// `bpf_probe_read_kernel` (the exec-path walk), in a tracepoint program.
    pub probe_read_kernel: Check,
}

/// What the running kernel can do for veto.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// `uname -r`.
    pub kernel_release: String,
    /// Whether veto runs as root (without it every load fails with EPERM).
    pub root: bool,
    /// The kernel's BTF at /sys/kernel/btf/vmlinux.
    pub btf: Check,
    /// Whether every struct offset of the exec-path walk was found in BTF.
    pub kernel_offsets: Check,
    /// tracefs (tracepoint formats), mounted by the probe if missing.
    pub tracefs: Check,
    /// securityfs (the active LSM list), mounted by the probe if missing.
    pub securityfs: Check,
    /// The cgroup2 mount (`--cgroup`).
    pub cgroup2: Check,
    /// Program types.
    pub programs: Programs,
    /// Whether kprobes can be attached at all (a kprobe event source exists).
    pub kprobe_attach: Check,
    /// Helpers.
    pub helpers: Helpers,
    /// BPF_MAP_TYPE_RINGBUF (the event stream).
    pub ringbuf: Check,
    /// "bpf" in the active LSM list; loading an LSM program alone proves nothing,
    /// since it attaches but never runs when BPF LSM is not active.
    pub bpf_lsm_active: Check,
    /// The active LSMs, in order, from securityfs.
    pub active_lsms: Vec<String>,
    /// The kernel lockdown mode (`none`, `integrity`, `confidentiality`) from
    /// securityfs, when the lockdown LSM is built in. Reported because it
    /// restricts some BPF helpers and explains some refused loads.
    pub lockdown: Option<String>,
}

const RET0: [Insn; 2] = [Insn::mov64_imm(0, 0), Insn::exit()];

fn load_check(spec: &ProgSpec<'_>) -> Check {
    match bpf::load(spec) {
        Ok(_fd) => Check::yes(None),
        Err(f) => Check::load_failed(&f),
    }
}

fn simple(prog_type: ProgType, insns: &[Insn]) -> Check {
    load_check(&ProgSpec {
        prog_type,
        attach_type: None,
        attach_btf_id: 0,
        insns,
    })
}

/// Loads a BTF-attached program on the first of `targets` present in BTF.
fn btf_attached(
    btf: Option<&Btf>,
    prog_type: ProgType,
    attach_type: AttachType,
    targets: &[&str],
) -> Check {
    let Some(btf) = btf else {
        return Check::no("needs the kernel's BTF, which is missing");
    };
    let Some((name, id)) = targets
        .iter()
        .find_map(|t| btf.func_id(t).ok().map(|id| (*t, id)))
    else {
        return Check::no(format!("none of {targets:?} is in the kernel's BTF"));
    };
    let mut check = load_check(&ProgSpec {
        prog_type,
        attach_type: Some(attach_type),
        attach_btf_id: id,
        insns: &RET0,
    });
    if let Some(d) = &mut check.detail {
        *d = format!("{d}, on {name}");
    }
    check
}

fn helper_check(prog_type: ProgType, insns: &[Insn], prog_type_check: &Check) -> Check {
    if !prog_type_check.available {
        return Check::no(format!(
            "its program type cannot be loaded: {}",
            prog_type_check
                .detail
                .as_deref()
                .unwrap_or("unknown reason")
        ));
    }
    simple(prog_type, insns)
}

fn mount_check(result: Result<mounts::Mounted, mounts::MountError>) -> Check {
    match result {
        Ok(mounts::Mounted::Found(p)) => Check::yes(Some(p.display().to_string())),
        Ok(mounts::Mounted::MountedNow(p)) => {
            Check::yes(Some(format!("{}, mounted by veto", p.display())))
        }
        Err(e) => Check::no(e.to_string()),
    }
}

/// Whether kprobes can be attached: the kprobe event source (perf, Linux
/// 4.17+) or tracefs' kprobe_events exists only in kernels built with kprobes.
fn kprobe_attach() -> Check {
    let pmu = Path::new("/sys/bus/event_source/devices/kprobe");
    let events = mounts::find("tracefs")
        .ok()
        .flatten()
        .map(|t| t.join("kprobe_events"));
    if pmu.exists() || events.as_ref().is_some_and(|e| e.exists()) {
        return Check::yes(None);
    }
    Check::no(format!(
        "no kprobe event source at {} nor kprobe_events in tracefs: the kernel is built without kprobes",
        pmu.display()
    ))
}

/// The bracketed word of securityfs' `lockdown` file: `none [integrity] confidentiality`.
fn active_lockdown(text: &str) -> Option<String> {
    let start = text.find('[')? + 1;
    let end = start + text[start..].find(']')?;
    Some(text[start..end].to_owned())
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

/// Probes the running kernel. Never fails: what cannot be probed is reported
/// as unavailable, with the reason. Mounts tracefs and securityfs if missing.
pub fn probe() -> Capabilities {
    let (btf, btf_check) = match Btf::from_sys_fs() {
        Ok(b) => {
            let detail = format!("{}, {} types", crate::btf::VMLINUX_BTF, b.type_count());
            (Some(b), Check::yes(Some(detail)))
        }
        Err(e) => (None, Check::no(e.to_string())),
    };
    let kernel_offsets = match btf.as_ref().map(KernelOffsets::from_btf) {
        Some(Ok(o)) => Check::yes(Some(format!(
            "{} members of the exec-path walk found",
            offset_fields(&o).len()
        ))),
        Some(Err(e)) => Check::no(e.to_string()),
        None => Check::no("needs the kernel's BTF, which is missing"),
    };

    let tracepoint = simple(ProgType::Tracepoint, &RET0);
    let kprobe = simple(ProgType::Kprobe, &RET0);
    let programs = Programs {
        raw_tracepoint: simple(ProgType::RawTracepoint, &RET0),
        lsm: btf_attached(
            btf.as_ref(),
            ProgType::Lsm,
            AttachType::LsmMac,
            &["bpf_lsm_bprm_check_security"],
        ),
        fentry: btf_attached(
            btf.as_ref(),
            ProgType::Tracing,
            AttachType::Fentry,
            &["security_bprm_check", "do_exit"],
        ),
        // fmod_ret is allowed on error-injectable functions (every syscall) and
        // on security_* functions; veto's plan uses the syscall.
        fmod_ret: btf_attached(
            btf.as_ref(),
            ProgType::Tracing,
            AttachType::ModifyReturn,
            &[
                "__x64_sys_execve",
                "__arm64_sys_execve",
                "security_bprm_check",
            ],
        ),
        tracepoint: tracepoint.clone(),
        kprobe: kprobe.clone(),
    };

    // tracefs first: the kprobe check looks into it.
    let tracefs = mount_check(mounts::ensure_tracefs());
    let kprobe_attach = kprobe_attach();

    let helpers = Helpers {
        send_signal: helper_check(
            ProgType::Tracepoint,
            &[
                Insn::mov64_imm(1, libc::SIGKILL),
                Insn::call(helper::SEND_SIGNAL),
                Insn::mov64_imm(0, 0),
                Insn::exit(),
            ],
            &tracepoint,
        ),
        // r1 still holds the context (pt_regs) at entry, as the helper wants.
        override_return: helper_check(
            ProgType::Kprobe,
            &[
                Insn::mov64_imm(2, -1),
                Insn::call(helper::OVERRIDE_RETURN),
                Insn::mov64_imm(0, 0),
                Insn::exit(),
            ],
            &kprobe,
        ),
        get_current_cgroup_id: helper_check(
            ProgType::Tracepoint,
            &[
                Insn::call(helper::GET_CURRENT_CGROUP_ID),
                Insn::mov64_imm(0, 0),
                Insn::exit(),
            ],
            &tracepoint,
        ),
        // probe_read_kernel(fp - 8, 8, NULL): reads nothing when run; loading
        // is what is probed.
        probe_read_kernel: helper_check(
            ProgType::Tracepoint,
            &[
                Insn::mov64_reg(1, 10),
                Insn::add64_imm(1, -8),
                Insn::mov64_imm(2, 8),
                Insn::mov64_imm(3, 0),
                Insn::call(helper::PROBE_READ_KERNEL),
                Insn::mov64_imm(0, 0),
                Insn::exit(),
            ],
            &tracepoint,
        ),
    };

    let ringbuf = match bpf::create_map(bpf::MAP_TYPE_RINGBUF, 0, 0, 4096) {
        Ok(_fd) => Check::yes(None),
        Err(f) => Check {
            available: false,
            errno: Some(f.errno_name()),
            detail: Some(format!("map creation failed: {f}")),
        },
    };

    let securityfs_result = mounts::ensure_securityfs();
    let lsm_file = securityfs_result
        .as_ref()
        .ok()
        .map(|m| m.path().join("lsm"));
    let securityfs = mount_check(securityfs_result);
    let lockdown = lsm_file
        .as_ref()
        .and_then(|f| std::fs::read_to_string(f.with_file_name("lockdown")).ok())
        .and_then(|text| active_lockdown(&text));
    let (active_lsms, bpf_lsm_active) = match lsm_file.map(|f| (std::fs::read_to_string(&f), f)) {
        Some((Ok(text), _)) => {
            let list: Vec<String> = text
                .trim()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let detail = format!("active LSMs: {}", list.join(","));
            let check = if list.iter().any(|l| l == "bpf") {
                Check::yes(Some(detail))
            } else {
                Check::no(format!(
                    "{detail}; add bpf to the kernel's lsm= boot parameter"
                ))
            };
            (list, check)
        }
        Some((Err(e), f)) => (
            Vec::new(),
            Check::no(format!("cannot read {}: {e}", f.display())),
        ),
        None => (Vec::new(), Check::no("securityfs is not available")),
    };

    Capabilities {
        kernel_release: kernel_release(),
        // SAFETY: geteuid has no preconditions.
        root: unsafe { libc::geteuid() } == 0,
        btf: btf_check,
        kernel_offsets,
        tracefs,
        securityfs,
        cgroup2: match mounts::cgroup2() {
            Ok(p) => Check::yes(Some(p.display().to_string())),
            Err(e) => Check::no(e.to_string()),
        },
        programs,
        kprobe_attach,
        helpers,
        ringbuf,
        bpf_lsm_active,
        active_lsms,
        lockdown,
    }
}

impl Capabilities {
    /// Whether the kernel offers what `need` stands for; if not, why.
    pub fn check_need(&self, need: KernelNeed) -> Result<(), String> {
        let all = |checks: &[(&str, &Check)]| -> Result<(), String> {
            let missing: Vec<String> = checks
                .iter()
                .filter(|(_, c)| !c.available)
                .map(|(name, c)| format!("{name}: {}", c.detail.as_deref().unwrap_or("no")))
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(missing.join("; "))
            }
        };
        match need {
            KernelNeed::Tracepoint => all(&[
                ("tracepoint programs", &self.programs.tracepoint),
                ("tracefs", &self.tracefs),
            ]),
            KernelNeed::Kprobe => all(&[
                ("kprobe programs", &self.programs.kprobe),
                ("kprobe attach", &self.kprobe_attach),
            ]),
            KernelNeed::BpfLsm => all(&[
                ("lsm programs", &self.programs.lsm),
                ("bpf lsm active", &self.bpf_lsm_active),
            ]),
            KernelNeed::FmodRet => all(&[("fmod_ret programs", &self.programs.fmod_ret)]),
            KernelNeed::SendSignal => all(&[("bpf_send_signal", &self.helpers.send_signal)]),
        }
    }

    /// One line per capability: label and `yes`/`no (why)`, for people.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        vec![
            ("kernel release", self.kernel_release.clone()),
            (
                "running as root",
                if self.root {
                    "yes"
                } else {
                    "no (every bpf load needs root or CAP_BPF + CAP_PERFMON)"
                }
                .to_owned(),
            ),
            ("btf", self.btf.describe()),
            ("kernel offsets", self.kernel_offsets.describe()),
            ("tracefs", self.tracefs.describe()),
            ("securityfs", self.securityfs.describe()),
            ("cgroup2", self.cgroup2.describe()),
            ("tracepoint programs", self.programs.tracepoint.describe()),
            (
                "raw_tracepoint programs",
                self.programs.raw_tracepoint.describe(),
            ),
            ("kprobe programs", self.programs.kprobe.describe()),
            ("kprobe attach", self.kprobe_attach.describe()),
            ("lsm programs", self.programs.lsm.describe()),
            ("fentry programs", self.programs.fentry.describe()),
            ("fmod_ret programs", self.programs.fmod_ret.describe()),
            ("bpf_send_signal", self.helpers.send_signal.describe()),
            (
                "bpf_override_return",
                self.helpers.override_return.describe(),
            ),
            (
                "bpf_get_current_cgroup_id",
                self.helpers.get_current_cgroup_id.describe(),
            ),
            (
                "bpf_probe_read_kernel",
                self.helpers.probe_read_kernel.describe(),
            ),
            ("ring buffer", self.ringbuf.describe()),
            ("bpf lsm active", self.bpf_lsm_active.describe()),
            (
                "kernel lockdown",
                self.lockdown
                    .clone()
                    .unwrap_or_else(|| "unknown (no lockdown LSM)".to_owned()),
            ),
        ]
    }
}

#[cfg(test)]
mod tests;
