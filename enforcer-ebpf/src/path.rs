//! The executable's absolute path, resolved in the kernel from the task's exe
//! file by walking dentries up to each mount's root and mounts up to the root
//! mount, with struct offsets read from BTF in user space.
//!
//! Shaped for the verifier: a fixed number of steps, each copying one name with
//! a single helper call into a masked offset (a byte loop inside the walk does
//! not verify in reasonable time).

use aya_ebpf::helpers::{bpf_get_current_task, bpf_probe_read_kernel, r#gen};
use veto_common::{KernelOffsets, MAX_PATH_DEPTH, STR_LEN};

use crate::maps::PATH_HALF;

/// See `opaque` in main.rs: keeps masks the compiler could prove redundant.
#[inline(always)]
fn opaque(x: usize) -> usize {
    unsafe { core::ptr::read_volatile(&x) }
}

#[inline(always)]
unsafe fn ptr_at(base: u64, off: u32) -> u64 {
    unsafe { bpf_probe_read_kernel((base + off as u64) as *const u64).unwrap_or(0) }
}

#[inline(always)]
unsafe fn u32_at(base: u64, off: u32) -> u32 {
    unsafe { bpf_probe_read_kernel((base + off as u64) as *const u32).unwrap_or(0) }
}

/// Outcome of a walk: the path occupies `buf[start..PATH_HALF]`.
pub enum Walk {
    /// Resolved; start offset.
    Done(usize),
    /// Deeper than the walk follows, or a name too long.
    TooDeep,
    /// No mm / exe file (kernel threads) or offsets missing.
    Unavailable,
}

/// The current task's `mm`.
#[inline(always)]
pub unsafe fn current_mm(o: &KernelOffsets) -> u64 {
    if o.valid == 0 {
        return 0;
    }
    unsafe { ptr_at(bpf_get_current_task(), o.task_mm) }
}

/// Walks the current task's exe file path into `buf` (2 * PATH_HALF bytes).
#[inline(always)]
pub unsafe fn resolve_exe(o: &KernelOffsets, buf: *mut u8) -> Walk {
    unsafe {
        let mm = current_mm(o);
        if mm == 0 {
            return Walk::Unavailable;
        }
        let file = ptr_at(mm, o.mm_exe_file);
        if file == 0 {
            return Walk::Unavailable;
        }
        let fpath = file + o.file_f_path as u64;
        let mut dentry = ptr_at(fpath, o.path_dentry);
        let mut vfsmnt = ptr_at(fpath, o.path_mnt);
        let mut mnt = vfsmnt.wrapping_sub(o.mount_mnt as u64);
        let mut pos: usize = PATH_HALF;
        let mut done = false;
        for _ in 0..MAX_PATH_DEPTH {
            let mnt_root = ptr_at(vfsmnt, o.vfsmount_mnt_root);
            let parent = ptr_at(dentry, o.dentry_d_parent);
            if dentry == mnt_root || dentry == parent || dentry == 0 {
                let mnt_parent = ptr_at(mnt, o.mount_mnt_parent);
                if dentry == mnt_root && mnt_parent != mnt && mnt_parent != 0 {
                    // Cross to the mount this one is mounted on.
                    dentry = ptr_at(mnt, o.mount_mnt_mountpoint);
                    mnt = mnt_parent;
                    vfsmnt = mnt + o.mount_mnt as u64;
                    continue;
                }
                done = true;
                break;
            }
            let qstr = dentry + o.dentry_d_name as u64;
            let len = u32_at(qstr, o.qstr_len) as usize;
            let name = ptr_at(qstr, o.qstr_name);
            if len == 0 || len >= STR_LEN || len + 1 > pos {
                break;
            }
            pos -= len;
            let dst = buf.add(opaque(pos) & (PATH_HALF - 1));
            r#gen::bpf_probe_read_kernel(
                dst as *mut _,
                (opaque(len) & (STR_LEN - 1)) as u32,
                name as *const _,
            );
            pos -= 1;
            *buf.add(opaque(pos) & (PATH_HALF - 1)) = b'/';
            dentry = parent;
        }
        if !done {
            return Walk::TooDeep;
        }
        if pos == PATH_HALF {
            // The executable is the root directory itself: cannot happen for a
            // regular file, but keep the result well formed.
            pos -= 1;
            *buf.add(opaque(pos) & (PATH_HALF - 1)) = b'/';
        }
        if PATH_HALF - pos >= STR_LEN {
            return Walk::TooDeep;
        }
        Walk::Done(pos)
    }
}
