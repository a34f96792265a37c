//! Kernel struct member offsets, read from the running kernel's BTF in user space
//! and handed to the programs through the config map.
//!
//! Rust eBPF has no CO-RE relocations, so a program cannot name `task_struct.mm`;
//! it reads `*(task + mm)` with the number found here. Every field is a byte
//! offset of a member within its struct (through anonymous structs and unions).

/// Offsets the exec tracker needs to resolve a task's executable path.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    /// `task_struct.mm`.
    pub task_mm: u32,
    /// `mm_struct.exe_file` (inside an anonymous struct).
    pub mm_exe_file: u32,
    /// `mm_struct.arg_start`.
    pub mm_arg_start: u32,
    /// `mm_struct.arg_end`.
    pub mm_arg_end: u32,
    /// `file.f_path`.
    pub file_f_path: u32,
    /// `path.mnt`.
    pub path_mnt: u32,
    /// `path.dentry`.
    pub path_dentry: u32,
    /// `dentry.d_parent`.
    pub dentry_d_parent: u32,
    /// `dentry.d_name`.
    pub dentry_d_name: u32,
    /// `qstr.len` (inside the hash_len union).
    pub qstr_len: u32,
    /// `qstr.name`.
    pub qstr_name: u32,
    /// `mount.mnt` (the embedded `vfsmount`).
    pub mount_mnt: u32,
    /// `mount.mnt_parent`.
    pub mount_mnt_parent: u32,
    /// `mount.mnt_mountpoint`.
    pub mount_mnt_mountpoint: u32,
    /// `vfsmount.mnt_root`.
    pub vfsmount_mnt_root: u32,
    /// `task_struct.real_parent`.
    pub task_real_parent: u32,
    /// `task_struct.tgid`.
    pub task_tgid: u32,
    /// `task_struct.exit_code`: the wait status (exit code << 8, or the
    /// killing signal), set before sched_process_exit fires.
    pub task_exit_code: u32,
    /// 1 once filled in; the programs resolve nothing while it is 0.
    pub valid: u32,
    /// Keeps the struct a multiple of 8 bytes (no implicit padding in the
    /// config record that follows it).
    pub pad: u32,
}
