//! Host packages the runner needs, installed when missing (CI is a fresh machine).

use std::process::Command;

/// Debian packages the runner uses: QEMU, Debian's static busybox for the guest's
/// /bin/sh and tools, the archive keyring for signature checks, GNU cpio (the
/// independent reader in the tests), dpkg-deb to unpack kernels.
pub const HOST_PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "busybox-static",
    "debian-archive-keyring",
    "cpio",
    "dpkg",
];

/// A host setup problem.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HostError(pub String);

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// Installs the [`HOST_PACKAGES`] that are missing with apt-get (as root); returns
/// what it installed. Does nothing, and touches no network, when all are present.
pub fn ensure_host_packages() -> Result<Vec<String>, HostError> {
    // Tests call this from parallel threads; apt must run once at a time.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let missing: Vec<String> = HOST_PACKAGES
        .iter()
        .filter(|p| !installed(p))
        .map(|p| p.to_string())
        .collect();
    if missing.is_empty() {
        return Ok(missing);
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        return Err(HostError(format!(
            "missing Debian packages {}: run `sudo apt-get install -y {}`",
            missing.join(" "),
            missing.join(" ")
        )));
    }
    let run = |args: &[&str]| -> Result<(), HostError> {
        let st = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| HostError(format!("apt-get: {e}")))?;
        if st.success() {
            Ok(())
        } else {
            Err(HostError(format!(
                "apt-get {} failed: {st}",
                args.join(" ")
            )))
        }
    };
    run(&["update", "-q"])?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(missing.iter().map(String::as_str));
    run(&args)?;
    Ok(missing)
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
