//! The struct member offsets veto's eBPF programs need, read from the running
//! kernel's BTF in one call.
//!
//! The programs cannot rely on compiled-in layouts (no CO-RE in Rust eBPF), so
//! each offset here is looked up by name and handed to them at load time. The
//! walk they perform at exec time, from the current task to the absolute path of
//! its executable file:
//!
//! ```text
//! task  = current task
//! file  = *(*(task + task_mm) + mm_exe_file)
//! d     = *(file + file_path_dentry)      vfsmnt = *(file + file_path_mnt)
//! mnt   = vfsmnt - mount_mnt              (container_of: struct mount holds the vfsmount)
//! loop:
//!   if d == *(vfsmnt + vfsmount_mnt_root):        at the root of this mount
//!       parent = *(mnt + mount_mnt_parent)
//!       if parent == mnt: stop                    the root of the namespace
//!       d = *(mnt + mount_mnt_mountpoint); mnt = parent; vfsmnt = mnt + mount_mnt
//!       continue
//!   if d == *(d + dentry_d_parent): stop           a root that is not a mount root
//!   name = *(d + dentry_d_name_name), length u32 at d + dentry_d_name_len
//!   d = *(d + dentry_d_parent)
//! ```
//!
//! All fields are u32 byte offsets in one `#[repr(C)]` struct with no padding, so
//! the struct can be copied as is into an eBPF global or map value.

use super::{Btf, BtfError};

/// Member offsets (in bytes) of kernel structs, for the running kernel.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct KernelOffsets {
    /// `task_struct.mm`: pointer to the task's `mm_struct` (NULL for kernel threads).
    pub task_mm: u32,
    /// `task_struct.real_parent`: pointer to the parent task (not the ptracer).
    pub task_real_parent: u32,
    /// `task_struct.group_leader`: the thread-group leader task.
    pub task_group_leader: u32,
    /// `task_struct.pid` (pid_t, 4 bytes): the thread id.
    pub task_pid: u32,
    /// `task_struct.tgid` (pid_t, 4 bytes): the process id.
    pub task_tgid: u32,
    /// `task_struct.flags` (4 bytes): PF_* flags, e.g. PF_KTHREAD.
    pub task_flags: u32,
    /// `task_struct.start_time` (u64): monotonic start time in ns.
    pub task_start_time: u32,
    /// `task_struct.start_boottime` (u64; `real_start_time` before Linux 5.5):
    /// start time in ns since boot, suspend included.
    pub task_start_boottime: u32,
    /// `task_struct.comm` (16 bytes): the task's command name.
    pub task_comm: u32,
    /// `task_struct.fs`: pointer to the task's `fs_struct` (cwd and root).
    pub task_fs: u32,
    /// `mm_struct.exe_file`: pointer to the `file` of the executable.
    pub mm_exe_file: u32,
    /// `mm_struct.arg_start` (unsigned long): user address of argv strings.
    pub mm_arg_start: u32,
    /// `mm_struct.arg_end` (unsigned long): end of argv strings.
    pub mm_arg_end: u32,
    /// `file.f_path.dentry`: the file's dentry pointer.
    pub file_path_dentry: u32,
    /// `file.f_path.mnt`: the file's `vfsmount` pointer.
    pub file_path_mnt: u32,
    /// `fs_struct.pwd.dentry`: the working directory's dentry pointer.
    pub fs_pwd_dentry: u32,
    /// `fs_struct.pwd.mnt`: the working directory's `vfsmount` pointer.
    pub fs_pwd_mnt: u32,
    /// `fs_struct.root.dentry`: the task's root directory dentry (chroot).
    pub fs_root_dentry: u32,
    /// `fs_struct.root.mnt`: the task's root directory `vfsmount`.
    pub fs_root_mnt: u32,
    /// `dentry.d_parent`: the parent dentry (itself at a root).
    pub dentry_d_parent: u32,
    /// `dentry.d_name.name`: pointer to the name bytes.
    pub dentry_d_name_name: u32,
    /// `dentry.d_name.len` (u32): name length; inside an anonymous struct of `qstr`.
    pub dentry_d_name_len: u32,
    /// `mount.mnt`: where the `vfsmount` sits inside `struct mount`; subtract it
    /// from a `vfsmount` pointer to get the `mount` (container_of).
    pub mount_mnt: u32,
    /// `mount.mnt_parent`: the mount this one is mounted on (itself at the top).
    pub mount_mnt_parent: u32,
    /// `mount.mnt_mountpoint`: the dentry, in the parent mount, this one covers.
    pub mount_mnt_mountpoint: u32,
    /// `vfsmount.mnt_root`: the root dentry of the mounted tree.
    pub vfsmount_mnt_root: u32,
}

impl KernelOffsets {
    /// Looks every offset up in `btf`. Fails on the first member that is missing,
    /// a bitfield, or of a size the programs would misread.
    pub fn from_btf(btf: &Btf) -> Result<KernelOffsets, BtfError> {
        let ptr = std::mem::size_of::<usize>() as u32;
        let at = |ty: &str, path: &[&str], size: u32| -> Result<u32, BtfError> {
            let m = btf.member(ty, path)?;
            if m.size != size {
                return Err(BtfError::UnexpectedSize {
                    ty: ty.to_owned(),
                    member: path.join("."),
                    size: m.size,
                    expected: size,
                });
            }
            Ok(m.offset)
        };
        let start_boottime = match at("task_struct", &["start_boottime"], 8) {
            Err(BtfError::NoSuchMember { .. }) => at("task_struct", &["real_start_time"], 8),
            other => other,
        }?;
        Ok(KernelOffsets {
            task_mm: at("task_struct", &["mm"], ptr)?,
            task_real_parent: at("task_struct", &["real_parent"], ptr)?,
            task_group_leader: at("task_struct", &["group_leader"], ptr)?,
            task_pid: at("task_struct", &["pid"], 4)?,
            task_tgid: at("task_struct", &["tgid"], 4)?,
            task_flags: at("task_struct", &["flags"], 4)?,
            task_start_time: at("task_struct", &["start_time"], 8)?,
            task_start_boottime: start_boottime,
            task_comm: at("task_struct", &["comm"], 16)?,
            task_fs: at("task_struct", &["fs"], ptr)?,
            mm_exe_file: at("mm_struct", &["exe_file"], ptr)?,
            mm_arg_start: at("mm_struct", &["arg_start"], ptr)?,
            mm_arg_end: at("mm_struct", &["arg_end"], ptr)?,
            file_path_dentry: at("file", &["f_path", "dentry"], ptr)?,
            file_path_mnt: at("file", &["f_path", "mnt"], ptr)?,
            fs_pwd_dentry: at("fs_struct", &["pwd", "dentry"], ptr)?,
            fs_pwd_mnt: at("fs_struct", &["pwd", "mnt"], ptr)?,
            fs_root_dentry: at("fs_struct", &["root", "dentry"], ptr)?,
            fs_root_mnt: at("fs_struct", &["root", "mnt"], ptr)?,
            dentry_d_parent: at("dentry", &["d_parent"], ptr)?,
            dentry_d_name_name: at("dentry", &["d_name", "name"], ptr)?,
            dentry_d_name_len: at("dentry", &["d_name", "len"], 4)?,
            mount_mnt: btf.member_offset("mount", &["mnt"])?,
            mount_mnt_parent: at("mount", &["mnt_parent"], ptr)?,
            mount_mnt_mountpoint: at("mount", &["mnt_mountpoint"], ptr)?,
            vfsmount_mnt_root: at("vfsmount", &["mnt_root"], ptr)?,
        })
    }

    /// Every offset with its `struct.member` name, in declaration order (for
    /// display and for cross-checking against other tools).
    pub fn fields(&self) -> [(&'static str, u32); 26] {
        [
            ("task_struct.mm", self.task_mm),
            ("task_struct.real_parent", self.task_real_parent),
            ("task_struct.group_leader", self.task_group_leader),
            ("task_struct.pid", self.task_pid),
            ("task_struct.tgid", self.task_tgid),
            ("task_struct.flags", self.task_flags),
            ("task_struct.start_time", self.task_start_time),
            ("task_struct.start_boottime", self.task_start_boottime),
            ("task_struct.comm", self.task_comm),
            ("task_struct.fs", self.task_fs),
            ("mm_struct.exe_file", self.mm_exe_file),
            ("mm_struct.arg_start", self.mm_arg_start),
            ("mm_struct.arg_end", self.mm_arg_end),
            ("file.f_path.dentry", self.file_path_dentry),
            ("file.f_path.mnt", self.file_path_mnt),
            ("fs_struct.pwd.dentry", self.fs_pwd_dentry),
            ("fs_struct.pwd.mnt", self.fs_pwd_mnt),
            ("fs_struct.root.dentry", self.fs_root_dentry),
            ("fs_struct.root.mnt", self.fs_root_mnt),
            ("dentry.d_parent", self.dentry_d_parent),
            ("dentry.d_name.name", self.dentry_d_name_name),
            ("dentry.d_name.len", self.dentry_d_name_len),
            ("mount.mnt", self.mount_mnt),
            ("mount.mnt_parent", self.mount_mnt_parent),
            ("mount.mnt_mountpoint", self.mount_mnt_mountpoint),
            ("vfsmount.mnt_root", self.vfsmount_mnt_root),
        ]
    }
}
