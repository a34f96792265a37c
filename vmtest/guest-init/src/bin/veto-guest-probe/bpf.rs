//! Raw bpf(2) loads of tiny programs: a kernel "can" do a program type or helper
//! exactly when its verifier accepts a program that uses it.

/// One eBPF instruction.
#[derive(Clone, Copy)]
pub struct Insn(u64);

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn(
            code as u64
                | ((dst as u64 | (src as u64) << 4) << 8)
                | ((off as u16 as u64) << 16)
                | ((imm as u32 as u64) << 32),
        )
    }
    /// r`dst` = imm
    pub const fn mov(dst: u8, imm: i32) -> Insn {
        Insn::new(0xb7, dst, 0, 0, imm)
    }
    /// r`dst` = r`src`
    pub const fn mov_reg(dst: u8, src: u8) -> Insn {
        Insn::new(0xbf, dst, src, 0, 0)
    }
    /// r`dst` += imm
    pub const fn add(dst: u8, imm: i32) -> Insn {
        Insn::new(0x07, dst, 0, 0, imm)
    }
    /// call helper `id`
    pub const fn call(id: i32) -> Insn {
        Insn::new(0x85, 0, 0, 0, id)
    }
    /// exit
    pub const EXIT: Insn = Insn::new(0x95, 0, 0, 0, 0);
}

/// `r0 = 0; exit`.
pub const RETURN_0: &[Insn] = &[Insn::mov(0, 0), Insn::EXIT];

fn sys_bpf(cmd: i32, attr: &mut [u8; 128]) -> Result<i32, String> {
    // SAFETY: attr is a zero-padded bpf_attr of the size passed; the kernel accepts a
    // larger attr as long as the tail it does not know is zero.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len() as u32) };
    if fd < 0 {
        Err(std::io::Error::last_os_error().to_string())
    } else {
        // SAFETY: we own the fd just returned.
        unsafe { libc::close(fd as i32) };
        Ok(fd as i32)
    }
}

/// What a load needs besides the instructions.
#[derive(Default, Clone, Copy)]
pub struct Target {
    /// BPF_PROG_TYPE_*.
    pub prog_type: u32,
    /// BPF_* attach type (LSM and tracing programs).
    pub attach_type: u32,
    /// BTF id of the attach function (LSM and tracing programs).
    pub attach_btf_id: u32,
}

/// Loads `insns` as a GPL program of `target`; Err carries errno text and the
/// verifier's first complaint.
pub fn prog_load(target: Target, insns: &[Insn]) -> Result<(), String> {
    let code: Vec<u64> = insns.iter().map(|i| i.0).collect();
    let mut log = vec![0u8; 8192];
    let mut attr = [0u8; 128];
    let put32 =
        |a: &mut [u8; 128], off: usize, v: u32| a[off..off + 4].copy_from_slice(&v.to_le_bytes());
    let put64 =
        |a: &mut [u8; 128], off: usize, v: u64| a[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put32(&mut attr, 0, target.prog_type);
    put32(&mut attr, 4, code.len() as u32);
    put64(&mut attr, 8, code.as_ptr() as u64);
    put64(&mut attr, 16, c"GPL".as_ptr() as u64);
    put32(&mut attr, 24, 1);
    put32(&mut attr, 28, log.len() as u32);
    put64(&mut attr, 32, log.as_mut_ptr() as u64);
    put32(&mut attr, 68, target.attach_type);
    put32(&mut attr, 108, target.attach_btf_id);
    sys_bpf(5, &mut attr).map(|_| ()).map_err(|e| {
        let text =
            String::from_utf8_lossy(log.split(|&b| b == 0).next().unwrap_or(&[])).into_owned();
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_string();
        if last.is_empty() {
            e
        } else {
            format!("{e}: {last}")
        }
    })
}

/// Creates and closes a map of `map_type`.
pub fn map_create(map_type: u32, key: u32, value: u32, entries: u32) -> Result<(), String> {
    let mut attr = [0u8; 128];
    for (i, v) in [map_type, key, value, entries].into_iter().enumerate() {
        attr[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    sys_bpf(0, &mut attr).map(|_| ())
}
