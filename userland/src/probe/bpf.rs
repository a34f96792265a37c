//! The bpf(2) calls capability probing needs, made directly: load a program
//! of a few hand-assembled instructions, create a map. A probe must be able to
//! say exactly which errno and verifier message the kernel gave, for a program
//! that is minimal by construction, so it does not go through an object file.

use std::os::fd::{FromRawFd, OwnedFd};

/// bpf(2) commands (include/uapi/linux/bpf.h, `enum bpf_cmd`).
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;

/// Program types (`enum bpf_prog_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ProgType {
    /// BPF_PROG_TYPE_KPROBE.
    Kprobe = 2,
    /// BPF_PROG_TYPE_TRACEPOINT.
    Tracepoint = 5,
    /// BPF_PROG_TYPE_RAW_TRACEPOINT.
    RawTracepoint = 17,
    /// BPF_PROG_TYPE_TRACING (fentry, fexit, fmod_ret, tp_btf).
    Tracing = 26,
    /// BPF_PROG_TYPE_LSM.
    Lsm = 29,
}

/// Attach types a load must announce for BTF-attached programs (`enum bpf_attach_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum AttachType {
    /// BPF_TRACE_FENTRY.
    Fentry = 24,
    /// BPF_MODIFY_RETURN (fmod_ret).
    ModifyReturn = 26,
    /// BPF_LSM_MAC.
    LsmMac = 27,
}

/// BPF_MAP_TYPE_RINGBUF.
pub const MAP_TYPE_RINGBUF: u32 = 27;

/// Helper function ids (`enum bpf_func_id`).
pub mod helper {
    /// bpf_override_return.
    pub const OVERRIDE_RETURN: i32 = 58;
    /// bpf_get_current_cgroup_id.
    pub const GET_CURRENT_CGROUP_ID: i32 = 80;
    /// bpf_send_signal.
    pub const SEND_SIGNAL: i32 = 109;
    /// bpf_probe_read_kernel.
    pub const PROBE_READ_KERNEL: i32 = 113;
}

/// One eBPF instruction, as the kernel lays it out (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

/// Registers by number: r0 return value, r1-r5 arguments, r10 frame pointer.
pub type Reg = u8;

impl Insn {
    /// `dst = imm` (64-bit).
    pub const fn mov64_imm(dst: Reg, imm: i32) -> Insn {
        Insn {
            code: 0xb7, // BPF_ALU64 | BPF_MOV | BPF_K
            regs: dst,
            off: 0,
            imm,
        }
    }

    /// `dst = src` (64-bit).
    pub const fn mov64_reg(dst: Reg, src: Reg) -> Insn {
        Insn {
            code: 0xbf, // BPF_ALU64 | BPF_MOV | BPF_X
            regs: dst | (src << 4),
            off: 0,
            imm: 0,
        }
    }

    /// `dst += imm` (64-bit).
    pub const fn add64_imm(dst: Reg, imm: i32) -> Insn {
        Insn {
            code: 0x07, // BPF_ALU64 | BPF_ADD | BPF_K
            regs: dst,
            off: 0,
            imm,
        }
    }

    /// Call helper `id`; arguments in r1-r5, result in r0.
    pub const fn call(id: i32) -> Insn {
        Insn {
            code: 0x85, // BPF_JMP | BPF_CALL
            regs: 0,
            off: 0,
            imm: id,
        }
    }

    /// Return r0.
    pub const fn exit() -> Insn {
        Insn {
            code: 0x95, // BPF_JMP | BPF_EXIT
            regs: 0,
            off: 0,
            imm: 0,
        }
    }
}

/// `union bpf_attr` for BPF_PROG_LOAD, up to `attach_prog_fd` (the kernel
/// accepts a shorter attr than its own and zero-fills the rest).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
    attach_prog_fd: u32,
    _pad: u32,
}

/// `union bpf_attr` for BPF_MAP_CREATE, up to `map_name`.
#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
    _pad: u32,
}

/// `union bpf_attr` for BPF_PROG_TEST_RUN, up to `cpu`.
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
}

/// A failed bpf(2) call: the errno and, for loads, the verifier's last line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpfFailure {
    /// The errno.
    pub errno: i32,
    /// The verifier's message (its last non-empty line), if it wrote one.
    pub log: Option<String>,
}

impl BpfFailure {
    /// `EPERM`, `EINVAL`, … (the number for errnos without a name here).
    pub fn errno_name(&self) -> String {
        errno_name(self.errno)
    }
}

impl std::fmt::Display for BpfFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.errno_name())?;
        if let Some(log) = &self.log {
            write!(f, ": {log}")?;
        }
        Ok(())
    }
}

/// The symbolic name of an errno the bpf syscall returns.
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        // The kernel-internal ENOTSUPP leaks out of some bpf paths.
        524 => "ENOTSUPP",
        other => return format!("errno {other}"),
    };
    name.to_owned()
}

fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<libc::c_long, i32> {
    // SAFETY: `attr` is a live, initialised #[repr(C)] prefix of union bpf_attr
    // and its size is passed along, as bpf(2) requires.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL))
    } else {
        Ok(rc)
    }
}

/// What to load.
#[derive(Debug, Clone)]
pub struct ProgSpec<'a> {
    /// Program type.
    pub prog_type: ProgType,
    /// Expected attach type (BTF-attached programs only).
    pub attach_type: Option<AttachType>,
    /// BTF id of the function or hook in vmlinux (BTF-attached programs only).
    pub attach_btf_id: u32,
    /// The instructions.
    pub insns: &'a [Insn],
}

/// Loads a program; the fd closes when dropped. On failure the load is retried
/// once with the verifier log on, so the failure carries its message.
pub fn load(spec: &ProgSpec<'_>) -> Result<OwnedFd, BpfFailure> {
    match load_with_log(spec, None) {
        Ok(fd) => Ok(fd),
        Err(errno) => {
            let mut log = vec![0u8; 64 * 1024];
            match load_with_log(spec, Some(&mut log)) {
                Ok(fd) => Ok(fd),
                Err(_) => Err(BpfFailure {
                    errno,
                    log: last_line(&log),
                }),
            }
        }
    }
}

fn load_with_log(spec: &ProgSpec<'_>, log: Option<&mut [u8]>) -> Result<OwnedFd, i32> {
    let license = c"GPL";
    let mut attr = ProgLoadAttr {
        prog_type: spec.prog_type as u32,
        insn_cnt: spec.insns.len() as u32,
        insns: spec.insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type: spec.attach_type.map_or(0, |a| a as u32),
        attach_btf_id: spec.attach_btf_id,
        ..Default::default()
    };
    attr.prog_name[..10].copy_from_slice(b"veto_probe");
    if let Some(buf) = log {
        attr.log_level = 1;
        attr.log_size = buf.len() as u32;
        attr.log_buf = buf.as_mut_ptr() as u64;
    }
    let fd = sys_bpf(BPF_PROG_LOAD, &mut attr)?;
    // SAFETY: a successful BPF_PROG_LOAD returns a new fd that we alone own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The last non-empty line of a NUL-terminated verifier log.
fn last_line(log: &[u8]) -> Option<String> {
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]);
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("processed "))
        .map(str::to_owned)
}

/// Creates a map; the fd closes when dropped.
pub fn create_map(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
) -> Result<OwnedFd, BpfFailure> {
    let mut attr = MapCreateAttr {
        map_type,
        key_size,
        value_size,
        max_entries,
        ..Default::default()
    };
    attr.map_name[..10].copy_from_slice(b"veto_probe");
    let fd = sys_bpf(BPF_MAP_CREATE, &mut attr).map_err(|errno| BpfFailure { errno, log: None })?;
    // SAFETY: a successful BPF_MAP_CREATE returns a new fd that we alone own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Runs a loaded program once with BPF_PROG_TEST_RUN in the calling thread
/// and returns its r0. For raw tracepoint programs the kernel runs the program
/// right here, in the caller's task, with `ctx` as its argument array.
pub fn test_run(prog: &OwnedFd, ctx: &[u64]) -> Result<u32, BpfFailure> {
    use std::os::fd::AsRawFd;
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        ctx_size_in: std::mem::size_of_val(ctx) as u32,
        ctx_in: if ctx.is_empty() {
            0
        } else {
            ctx.as_ptr() as u64
        },
        ..Default::default()
    };
    sys_bpf(BPF_PROG_TEST_RUN, &mut attr).map_err(|errno| BpfFailure { errno, log: None })?;
    Ok(attr.retval)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RET0: [Insn; 2] = [Insn::mov64_imm(0, 0), Insn::exit()];

    #[test]
    fn attr_layouts_match_the_kernel_abi() {
        // Offsets of the last fields, from include/uapi/linux/bpf.h.
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, attach_btf_id), 108);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, attach_prog_fd), 112);
        assert_eq!(std::mem::offset_of!(TestRunAttr, ctx_in), 48);
        assert_eq!(std::mem::offset_of!(TestRunAttr, cpu), 68);
        assert_eq!(std::mem::size_of::<Insn>(), 8);
    }

    #[test]
    fn a_two_instruction_tracepoint_program_loads() {
        let spec = ProgSpec {
            prog_type: ProgType::Tracepoint,
            attach_type: None,
            attach_btf_id: 0,
            insns: &RET0,
        };
        load(&spec).expect("tracepoint programs load on every kernel veto supports");
    }

    #[test]
    fn a_program_without_exit_fails_with_einval_and_the_verifier_says_why() {
        let spec = ProgSpec {
            prog_type: ProgType::Tracepoint,
            attach_type: None,
            attach_btf_id: 0,
            insns: &[Insn::mov64_imm(0, 0)],
        };
        let err = load(&spec).unwrap_err();
        assert_eq!(err.errno_name(), "EINVAL");
        assert!(err.log.is_some(), "{err}");
    }

    #[test]
    fn a_raw_tracepoint_program_runs_in_the_callers_thread_and_returns_r0() {
        let insns = [Insn::mov64_imm(0, 42), Insn::exit()];
        let spec = ProgSpec {
            prog_type: ProgType::RawTracepoint,
            attach_type: None,
            attach_btf_id: 0,
            insns: &insns,
        };
        let fd = load(&spec).unwrap();
        assert_eq!(test_run(&fd, &[0u64; 1]).unwrap(), 42);
    }
}
