use std::path::Path;

use super::*;
use crate::tpformat;

/// A kernel with execve's real format and a chosen set of capabilities.
struct FakeKernel {
    lsm: bool,
}

const EXECVE: &str = include_str!("../../../testdata/tracefs/syscalls/sys_enter_execve/format");

impl Kernel for FakeKernel {
    fn format(&self, category: &str, name: &str) -> Result<Format, FormatError> {
        if (category, name) == ("syscalls", "sys_enter_execve") {
            Ok(tpformat::parse(Path::new("format"), EXECVE).unwrap())
        } else {
            Err(FormatError::Missing {
                category: category.into(),
                name: name.into(),
                path: "format".into(),
            })
        }
    }
    fn has(&self, need: KernelNeed) -> bool {
        match need {
            KernelNeed::Tracepoint | KernelNeed::SendSignal => true,
            KernelNeed::BpfLsm => self.lsm,
            _ => false,
        }
    }
}

fn policy(file: &str) -> Policy {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/seed-policies")
        .join(file);
    veto_policy::load_file(&path).unwrap()
}

#[test]
fn seed_sigkill_policy_compiles_to_one_execve_hook() {
    let c = compile(
        &[policy("block-log4shell-sigkill.yaml")],
        &FakeKernel { lsm: false },
    )
    .unwrap();
    assert_eq!(c.hooks.len(), 1);
    let h = &c.hooks[0];
    assert_eq!(
        (h.key, h.syscall, h.function_name.as_deref()),
        (59, true, Some("__x64_sys_execve"))
    );
    assert_eq!(h.table.args[0].kind, arg_kind::STR);
    assert_eq!(h.table.args[0].offset, 16);
    let sel = &h.table.policies[0].selectors[0];
    assert_eq!(sel.bin.op, op::IN);
    assert_eq!(sel.args[0].op, op::IN);
    assert_eq!(sel.actions[0].kind, action::SIGKILL);
    assert!(
        c.sets
            .strs
            .iter()
            .any(|(id, v)| *id == sel.bin.set_id && v == b"/usr/bin/java")
    );
    assert!(
        c.sets
            .strs
            .iter()
            .any(|(id, v)| *id == sel.args[0].set_id && v == b"/bin/sh")
    );
    assert_eq!(c.gaps.len(), 1, "the int 0x80 gap is stated");
}

#[test]
fn lsm_policy_is_refused_as_lacking_when_the_kernel_lacks_bpf_lsm() {
    let err = compile(
        &[policy("block-log4shell-lsm.yaml")],
        &FakeKernel { lsm: false },
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("block-log4shell-lsm.yaml:"), "{msg}");
    assert!(msg.contains("BPF LSM") && msg.contains("lacks"), "{msg}");
}

#[test]
fn lsm_policy_is_refused_as_not_implemented_when_the_kernel_has_bpf_lsm() {
    let err = compile(
        &[policy("block-log4shell-lsm.yaml")],
        &FakeKernel { lsm: true },
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("not implemented yet"), "{msg}");
    assert!(!msg.contains("lacks"), "{msg}");
}

#[test]
fn two_policies_on_one_hook_share_the_table_and_act_independently() {
    let p = policy("block-log4shell-sigkill.yaml");
    let c = compile(&[p.clone(), p], &FakeKernel { lsm: false }).unwrap();
    assert_eq!(c.hooks.len(), 1);
    assert_eq!(c.hooks[0].table.n_policies, 2);
    assert_eq!(c.hooks[0].table.policies[1].policy_id, 1);
    assert_eq!(
        c.hooks[0].table.args.iter().filter(|a| a.kind != 0).count(),
        1
    );
}
