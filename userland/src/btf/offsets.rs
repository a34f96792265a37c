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
//! d     = *(file + file_f_path + path_dentry)   vfsmnt = *(file + file_f_path + path_mnt)
//! mnt   = vfsmnt - mount_mnt              (container_of: struct mount holds the vfsmount)
//! loop:
//!   if d == *(vfsmnt + vfsmount_mnt_root):        at the root of this mount
//!       parent = *(mnt + mount_mnt_parent)
//!       if parent == mnt: stop                    the root of the namespace
//!       d = *(mnt + mount_mnt_mountpoint); mnt = parent; vfsmnt = mnt + mount_mnt
//!       continue
//!   if d == *(d + dentry_d_parent): stop           a root that is not a mount root
//!   name = *(d + dentry_d_name + qstr_name), length u32 at d + dentry_d_name + qstr_len
//!   d = *(d + dentry_d_parent)
//! ```
//!
//! The struct itself, [`KernelOffsets`], lives in `veto-common` because the
//! programs read it from their config map; this module fills it.

use super::{Btf, BtfError};
pub use veto_common::KernelOffsets;

/// Filling [`KernelOffsets`] from BTF (a trait because the type lives in
/// `veto-common`, which knows nothing of BTF).
pub trait FromBtf: Sized {
    /// Looks every offset up in `btf`. Fails on the first member that is
    /// missing, a bitfield, or of a size the programs would misread.
    fn from_btf(btf: &Btf) -> Result<Self, BtfError>;
}

impl FromBtf for KernelOffsets {
    fn from_btf(btf: &Btf) -> Result<KernelOffsets, BtfError> {
        let ptr = std::mem::size_of::<usize>() as u32;
        // The programs read each member with a fixed width; a member of another
        // size (a future kernel changing a type) must stop veto, not be misread.
        let at = |ty: &str, path: &[&str], size: Option<u32>| -> Result<u32, BtfError> {
            let m = btf.member(ty, path)?;
            match size {
                Some(expected) if m.size != expected => Err(BtfError::UnexpectedSize {
                    ty: ty.to_owned(),
                    member: path.join("."),
                    size: m.size,
                    expected,
                }),
                _ => Ok(m.offset),
            }
        };
        let p = Some(ptr);
        Ok(KernelOffsets {
            task_mm: at("task_struct", &["mm"], p)?,
            mm_exe_file: at("mm_struct", &["exe_file"], p)?,
            mm_arg_start: at("mm_struct", &["arg_start"], p)?,
            mm_arg_end: at("mm_struct", &["arg_end"], p)?,
            file_f_path: at("file", &["f_path"], Some(2 * ptr))?,
            path_mnt: at("path", &["mnt"], p)?,
            path_dentry: at("path", &["dentry"], p)?,
            dentry_d_parent: at("dentry", &["d_parent"], p)?,
            dentry_d_name: at("dentry", &["d_name"], Some(16))?,
            qstr_len: at("qstr", &["len"], Some(4))?,
            qstr_name: at("qstr", &["name"], p)?,
            // An embedded struct: its size is whatever this kernel's vfsmount is.
            mount_mnt: at("mount", &["mnt"], None)?,
            mount_mnt_parent: at("mount", &["mnt_parent"], p)?,
            mount_mnt_mountpoint: at("mount", &["mnt_mountpoint"], p)?,
            vfsmount_mnt_root: at("vfsmount", &["mnt_root"], p)?,
            task_real_parent: at("task_struct", &["real_parent"], p)?,
            task_tgid: at("task_struct", &["tgid"], Some(4))?,
            task_exit_code: at("task_struct", &["exit_code"], Some(4))?,
            valid: 1,
            pad: 0,
        })
    }
}

/// Every offset of `o` with the `struct.member` it locates, in declaration
/// order (for display and for cross-checks against other tools).
pub fn offset_fields(o: &KernelOffsets) -> [(&'static str, u32); 18] {
    [
        ("task_struct.mm", o.task_mm),
        ("mm_struct.exe_file", o.mm_exe_file),
        ("mm_struct.arg_start", o.mm_arg_start),
        ("mm_struct.arg_end", o.mm_arg_end),
        ("file.f_path", o.file_f_path),
        ("path.mnt", o.path_mnt),
        ("path.dentry", o.path_dentry),
        ("dentry.d_parent", o.dentry_d_parent),
        ("dentry.d_name", o.dentry_d_name),
        ("qstr.len", o.qstr_len),
        ("qstr.name", o.qstr_name),
        ("mount.mnt", o.mount_mnt),
        ("mount.mnt_parent", o.mount_mnt_parent),
        ("mount.mnt_mountpoint", o.mount_mnt_mountpoint),
        ("vfsmount.mnt_root", o.vfsmount_mnt_root),
        ("task_struct.real_parent", o.task_real_parent),
        ("task_struct.tgid", o.task_tgid),
        ("task_struct.exit_code", o.task_exit_code),
    ]
}
