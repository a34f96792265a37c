//! Machine setup: filesystems, loopback, kernel modules.

use std::ffi::CString;
use std::fs;
use std::os::fd::AsRawFd;

/// Filesystems every test may rely on: (source, target, type). A kernel without one
/// of them (e.g. no securityfs) still runs the tests; those that need it report
/// unsupported.
const MOUNTS: &[(&str, &str, &str)] = &[
    ("proc", "/proc", "proc"),
    ("sysfs", "/sys", "sysfs"),
    ("devtmpfs", "/dev", "devtmpfs"),
    ("tmpfs", "/tmp", "tmpfs"),
    ("tmpfs", "/run", "tmpfs"),
    ("bpffs", "/sys/fs/bpf", "bpf"),
    ("tracefs", "/sys/kernel/tracing", "tracefs"),
    ("debugfs", "/sys/kernel/debug", "debugfs"),
    ("securityfs", "/sys/kernel/security", "securityfs"),
    ("cgroup2", "/sys/fs/cgroup", "cgroup2"),
];

/// Mounts [`MOUNTS`]; returns the failures as "target: reason".
pub fn mount_all() -> Vec<String> {
    let mut errors = Vec::new();
    for &(source, target, fstype) in MOUNTS {
        let _ = fs::create_dir_all(target);
        if fstype == "tmpfs" && is_populated(target) {
            // The image put files here (host paths of a checkout under /tmp,
            // such as CI's clone): a tmpfs on top would hide them. The
            // initramfs root is itself writable memory, so /tmp stays a
            // writable, memory-only folder either way.
            continue;
        }
        if let Err(e) = mount(source, target, fstype) {
            // devtmpfs may already be mounted by the kernel (CONFIG_DEVTMPFS_MOUNT).
            if !(fstype == "devtmpfs" && e.contains("busy")) {
                errors.push(format!("{target} ({fstype}): {e}"));
            }
        }
    }
    if fs::metadata("/dev/ttyS1").is_err() {
        errors.push("/dev/ttyS1 missing after mounting /dev".into());
    }
    errors
}

/// True when the initramfs holds something under `dir`.
fn is_populated(dir: &str) -> bool {
    fs::read_dir(dir)
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false)
}

/// Mounts the host's root read-only over 9p (virtio transport).
pub fn mount_host_root() -> Result<(), String> {
    use veto_guest::protocol::{HOST_ROOT, HOST_ROOT_TAG};
    let _ = fs::create_dir_all(HOST_ROOT);
    mount_with(
        HOST_ROOT_TAG,
        HOST_ROOT,
        "9p",
        libc::MS_RDONLY,
        "trans=virtio,version=9p2000.L,msize=262144",
    )
    .map_err(|e| format!("{HOST_ROOT} (9p): {e}"))
}

fn mount(source: &str, target: &str, fstype: &str) -> Result<(), String> {
    mount_with(source, target, fstype, 0, "")
}

fn mount_with(
    source: &str,
    target: &str,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> Result<(), String> {
    let c = |s: &str| CString::new(s).expect("no NUL in a mount table entry");
    let (s, t, f, d) = (c(source), c(target), c(fstype), c(data));
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the call.
    let rc = unsafe { libc::mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), flags, d.as_ptr().cast()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().to_string())
    }
}

/// Seconds since the kernel started, from /proc/uptime (0 if unreadable).
pub fn uptime() -> f64 {
    // /proc is not mounted yet when the init starts: mount it just for this.
    let _ = fs::create_dir_all("/proc");
    let _ = mount("proc", "/proc", "proc");
    let up = fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    // SAFETY: the target is a valid C string.
    unsafe { libc::umount(c"/proc".as_ptr()) };
    up
}

/// `uname -r`.
pub fn release() -> String {
    // SAFETY: utsname is plain data filled by the kernel.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    let bytes: Vec<u8> = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Sets IFF_UP on `lo`, so tests can talk over 127.0.0.1.
pub fn loopback_up() -> Result<(), String> {
    // SAFETY: a socket used only for the interface ioctls below, closed at the end.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if sock < 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *s as libc::c_char;
        }
        let mut result = Ok(());
        if libc::ioctl(sock, libc::SIOCGIFFLAGS as _, &mut req) < 0 {
            result = Err(std::io::Error::last_os_error().to_string());
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(sock, libc::SIOCSIFFLAGS as _, &req) < 0 {
                result = Err(std::io::Error::last_os_error().to_string());
            }
        }
        libc::close(sock);
        result
    }
}

/// Loads one module with finit_module. The host has already decompressed `.ko.xz`
/// files and ordered the list so dependencies come first. Already loaded is fine.
pub fn load_module(path: &str) -> Result<(), String> {
    let file = fs::File::open(path).map_err(|e| e.to_string())?;
    // SAFETY: a valid fd and an empty, NUL-terminated parameter string.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            file.as_raw_fd(),
            c"".as_ptr(),
            0 as libc::c_int,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EEXIST) {
        Ok(())
    } else {
        Err(err.to_string())
    }
}
