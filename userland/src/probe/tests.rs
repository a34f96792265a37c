//! Tests of capability probing: the real kernel for what every kernel veto
//! supports must offer, and hand-set capabilities for the verdicts on plans.

use super::*;
use veto_policy::plan::plan;

const SIGKILL_POLICY: &str = r#"apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: "sigkill-sh"
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
const LSM_POLICY: &str = include_str!("../../../testdata/seed-policies/block-log4shell-lsm.yaml");

fn plan_of(yaml: &str) -> veto_policy::plan::PolicyPlan {
    let policy = veto_policy::load_str("test.yaml", yaml).expect("test policy is valid");
    plan(&policy)
}

fn yes() -> Check {
    Check::yes(None)
}

/// A kernel that offers everything.
fn everything() -> Capabilities {
    Capabilities {
        kernel_release: "test".into(),
        root: true,
        btf: yes(),
        kernel_offsets: yes(),
        tracefs: yes(),
        securityfs: yes(),
        cgroup2: yes(),
        programs: Programs {
            tracepoint: yes(),
            raw_tracepoint: yes(),
            kprobe: yes(),
            lsm: yes(),
            fentry: yes(),
            fmod_ret: yes(),
        },
        kprobe_attach: yes(),
        helpers: Helpers {
            send_signal: yes(),
            override_return: yes(),
            get_current_cgroup_id: yes(),
            probe_read_kernel: yes(),
        },
        ringbuf: yes(),
        bpf_lsm_active: yes(),
        active_lsms: vec!["capability".into(), "bpf".into()],
        lockdown: None,
    }
}

fn eperm() -> Check {
    Check::load_failed(&bpf::BpfFailure {
        errno: libc::EPERM,
        log: None,
    })
}

#[test]
fn sigkill_on_a_syscall_tracepoint_needs_nothing_missing_on_a_full_kernel() {
    assert_eq!(everything().missing_for(&plan_of(SIGKILL_POLICY)), vec![]);
}

#[test]
fn lsm_hook_on_a_kernel_with_bpf_lsm_is_not_implemented_never_kernel_lacks() {
    let missing = everything().missing_for(&plan_of(LSM_POLICY));
    assert!(!missing.is_empty());
    for m in &missing {
        assert_eq!(m.reason, MissingReason::NotImplemented, "{m}");
        let text = m.to_string();
        assert!(text.contains("not implemented yet in veto"), "{text}");
        assert!(!text.contains("lacks"), "{text}");
        assert!(text.starts_with("test.yaml:"), "{text}");
    }
}

#[test]
fn lsm_hook_on_a_kernel_refusing_lsm_programs_names_the_capability_and_errno() {
    let mut caps = everything();
    caps.programs.lsm = eperm();
    let missing = caps.missing_for(&plan_of(LSM_POLICY));
    let m = missing
        .iter()
        .find(|m| m.need == "BPF LSM")
        .expect("BPF LSM is reported missing");
    assert!(
        matches!(&m.reason, MissingReason::KernelLacks { detail } if detail.contains("lsm programs: load failed: EPERM")),
        "{m}"
    );
    assert!(m.to_string().contains("which this kernel lacks"), "{m}");
}

#[test]
fn bpf_lsm_inactive_counts_as_lacking_even_when_lsm_programs_load() {
    let mut caps = everything();
    caps.bpf_lsm_active = Check::no("active LSMs: capability");
    assert!(
        caps.check_need(KernelNeed::BpfLsm)
            .unwrap_err()
            .contains("bpf lsm active")
    );
}

#[test]
fn sigkill_without_send_signal_is_kernel_lacks() {
    let mut caps = everything();
    caps.helpers.send_signal = Check::no("load failed: EINVAL");
    let missing = caps.missing_for(&plan_of(SIGKILL_POLICY));
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].need, "bpf_send_signal");
    assert!(matches!(
        missing[0].reason,
        MissingReason::KernelLacks { .. }
    ));
}

#[test]
fn base_needs_list_exactly_what_is_unavailable() {
    let mut caps = everything();
    assert_eq!(caps.missing_base(), vec![]);
    caps.ringbuf = Check::no("map creation failed: EINVAL");
    let missing = caps.missing_base();
    assert_eq!(missing.len(), 1);
    assert!(missing[0].to_string().contains("the BPF ring buffer"));
}

#[test]
fn lockdown_mode_is_the_bracketed_word() {
    assert_eq!(
        active_lockdown("none [integrity] confidentiality\n").as_deref(),
        Some("integrity")
    );
    assert_eq!(active_lockdown("none integrity"), None);
}

// ---- the running kernel ----

#[test]
fn this_kernel_offers_what_every_kernel_veto_supports_offers() {
    let caps = probe();
    assert!(caps.root, "the tests run as root");
    for (name, check) in [
        ("btf", &caps.btf),
        ("kernel_offsets", &caps.kernel_offsets),
        ("tracefs", &caps.tracefs),
        ("tracepoint", &caps.programs.tracepoint),
        ("raw_tracepoint", &caps.programs.raw_tracepoint),
        ("send_signal", &caps.helpers.send_signal),
        ("get_current_cgroup_id", &caps.helpers.get_current_cgroup_id),
        ("probe_read_kernel", &caps.helpers.probe_read_kernel),
        ("ringbuf", &caps.ringbuf),
        ("cgroup2", &caps.cgroup2),
    ] {
        assert!(check.available, "{name}: {}", check.describe());
    }
    assert_eq!(caps.missing_base(), vec![]);
}

#[test]
fn every_unavailable_capability_says_why_and_failed_loads_carry_the_errno() {
    let caps = probe();
    let p = &caps.programs;
    let h = &caps.helpers;
    for check in [
        &p.kprobe,
        &p.lsm,
        &p.fentry,
        &p.fmod_ret,
        &h.override_return,
    ] {
        if !check.available {
            let detail = check.detail.as_deref().unwrap();
            assert!(!detail.is_empty());
            if detail.starts_with("load failed") {
                assert!(check.errno.is_some(), "{detail}");
            }
        }
    }
}

#[test]
fn bpf_lsm_active_is_read_from_the_active_lsm_list() {
    let caps = probe();
    let text = std::fs::read_to_string("/sys/kernel/security/lsm").unwrap();
    assert_eq!(
        caps.bpf_lsm_active.available,
        text.trim().split(',').any(|l| l == "bpf")
    );
    assert_eq!(caps.active_lsms.join(","), text.trim());
}

#[test]
fn on_this_kernel_the_sigkill_policy_can_run_and_the_lsm_policy_cannot() {
    let caps = probe();
    assert_eq!(caps.missing_for(&plan_of(SIGKILL_POLICY)), vec![]);
    let missing = caps.missing_for(&plan_of(LSM_POLICY));
    let lsm = missing.iter().find(|m| m.need == "BPF LSM").unwrap();
    // Which refusal is right depends on the kernel; it must match the probe.
    let kernel_has_it = caps.check_need(KernelNeed::BpfLsm).is_ok();
    assert_eq!(
        lsm.reason == MissingReason::NotImplemented,
        kernel_has_it,
        "{lsm}"
    );
}
