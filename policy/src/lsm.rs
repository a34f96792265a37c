//! `security_*` kernel functions and the BPF-LSM hooks that stand for them.
//!
//! A Tetragon policy that enforces at `security_bprm_check` attaches a kprobe there
//! and overrides its return value. veto attaches a BPF-LSM program to the matching
//! hook instead (`bprm_check_security`): it runs at the same point of the same
//! operation and its return value is the operation's verdict, so no kprobe and no
//! `bpf_override_return` are needed. Most hooks are the function name without
//! `security_`; the few the kernel names differently are listed explicitly.

/// Functions whose hook name is not simply the function name without `security_`.
const RENAMED: &[(&str, &str)] = &[
    ("security_bprm_check", "bprm_check_security"),
    ("security_prepare_creds", "cred_prepare"),
    ("security_transfer_creds", "cred_transfer"),
    ("security_settime64", "settime"),
    ("security_create_user_ns", "userns_create"),
    ("security_file_alloc", "file_alloc_security"),
    ("security_inode_alloc", "inode_alloc_security"),
    ("security_sb_alloc", "sb_alloc_security"),
    ("security_task_alloc", "task_alloc"),
    ("security_socket_post_create", "socket_post_create"),
];

/// BPF-LSM hooks veto knows (the ones a policy plausibly enforces at). A hook not
/// listed here is refused rather than guessed.
pub const HOOKS: &[&str] = &[
    "bpf",
    "bpf_map",
    "bpf_prog",
    "bprm_check_security",
    "bprm_committed_creds",
    "bprm_committing_creds",
    "bprm_creds_for_exec",
    "bprm_creds_from_file",
    "capable",
    "cred_prepare",
    "cred_transfer",
    "file_alloc_security",
    "file_ioctl",
    "file_lock",
    "file_mprotect",
    "file_open",
    "file_permission",
    "file_receive",
    "file_truncate",
    "inode_alloc_security",
    "inode_create",
    "inode_follow_link",
    "inode_getattr",
    "inode_link",
    "inode_mkdir",
    "inode_mknod",
    "inode_permission",
    "inode_rename",
    "inode_rmdir",
    "inode_setattr",
    "inode_setxattr",
    "inode_symlink",
    "inode_unlink",
    "kernel_load_data",
    "kernel_module_request",
    "kernel_read_file",
    "mmap_addr",
    "mmap_file",
    "path_chmod",
    "path_chown",
    "path_chroot",
    "path_link",
    "path_mkdir",
    "path_mknod",
    "path_rename",
    "path_rmdir",
    "path_symlink",
    "path_truncate",
    "path_unlink",
    "ptrace_access_check",
    "ptrace_traceme",
    "sb_alloc_security",
    "sb_mount",
    "sb_pivotroot",
    "sb_remount",
    "sb_umount",
    "settime",
    "socket_accept",
    "socket_bind",
    "socket_connect",
    "socket_create",
    "socket_listen",
    "socket_post_create",
    "socket_recvmsg",
    "socket_sendmsg",
    "task_alloc",
    "task_fix_setuid",
    "task_kill",
    "task_prctl",
    "userns_create",
];

/// The BPF-LSM hook for a `security_*` function, if veto knows one.
pub fn hook_for_function(function: &str) -> Option<&'static str> {
    if let Some((_, hook)) = RENAMED.iter().find(|(f, _)| *f == function) {
        return Some(hook);
    }
    let bare = function.strip_prefix("security_")?;
    HOOKS.iter().find(|h| **h == bare).copied()
}

/// True when `hook` is a BPF-LSM hook veto knows.
pub fn is_known_hook(hook: &str) -> bool {
    HOOKS.contains(&hook)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renamed_and_plain_hooks() {
        assert_eq!(
            hook_for_function("security_bprm_check"),
            Some("bprm_check_security")
        );
        assert_eq!(hook_for_function("security_file_open"), Some("file_open"));
        assert_eq!(
            hook_for_function("security_socket_connect"),
            Some("socket_connect")
        );
        assert_eq!(
            hook_for_function("security_inode_follow_link"),
            Some("inode_follow_link")
        );
        assert_eq!(hook_for_function("security_nonsense"), None);
        assert_eq!(hook_for_function("fd_install"), None);
    }

    #[test]
    fn every_renamed_target_is_a_known_hook() {
        for (_, hook) in RENAMED {
            assert!(is_known_hook(hook), "{hook}");
        }
    }
}
