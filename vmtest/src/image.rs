//! What goes into a guest's initramfs: the static init and guest programs, veto
//! with every shared library it needs, busybox for /bin/sh and tools, the
//! scenario's policy, the kernel's modules and the manifest.

use std::path::{Path, PathBuf};
use std::process::Command;

use veto_guest::protocol::{MANIFEST_PATH, Manifest, TestSpec};

use crate::elf::needed_libraries;
use crate::initramfs::{Initramfs, Node};
use crate::modules::LoadableModule;
use crate::registry::GuestTest;
use crate::suite::HostSuite;

/// The guest programs built from vmtest/guest-init, which must be static.
pub const GUEST_PROGRAMS: &[&str] = &[
    "veto-guest-init",
    "veto-guest-probe",
    "veto-guest-scenario",
    "veto-exec-sh",
    "veto-guest-libtest",
];

/// Debian's busybox-static.
pub const BUSYBOX: &str = "/bin/busybox";

/// The seed policy the default scenario enforces, relative to the repository.
pub const SEED_SIGKILL_POLICY: &str = "testdata/seed-policies/block-log4shell-sigkill.yaml";

/// The binary the seed policy names, replaced by a regular test binary in the guest
/// (not /usr/bin/java, which is a symlink there and absent here).
const SEED_BINARY: &str = "\"/usr/bin/java\"";

/// An image problem.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct ImageError {
    /// The file or part concerned.
    pub what: String,
    /// Why.
    pub reason: String,
}

fn err(what: impl std::fmt::Display, reason: impl std::fmt::Display) -> ImageError {
    ImageError {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

/// The part of the image every kernel shares.
pub fn base_image(
    repo: &Path,
    guest_bin_dir: &Path,
    veto: Option<&Path>,
    suite: Option<&HostSuite>,
    log4shell: Option<&Path>,
) -> Result<Initramfs, ImageError> {
    let mut img = Initramfs::new();
    for d in [
        "/proc",
        "/sys",
        "/dev",
        "/tmp",
        "/run",
        "/etc",
        "/root",
        "/lib/modules",
    ] {
        img.dir(d);
    }
    img.add("/dev/console", Node::CharDev { major: 5, minor: 1 });
    img.file(
        "/etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\n".to_vec(),
        0o644,
    );
    img.file("/etc/group", b"root:x:0:\n".to_vec(), 0o644);

    for name in GUEST_PROGRAMS {
        let path = guest_bin_dir.join(name);
        let libs = needed_libraries(&path).map_err(|e| err(path.display(), e))?;
        if !libs.is_empty() {
            return Err(err(
                path.display(),
                "must be linked statically (it runs before any library exists)",
            ));
        }
        let dest = if *name == "veto-guest-init" {
            "/init".to_string()
        } else {
            format!("/veto/bin/{name}")
        };
        img.copy(&dest, &path).map_err(|e| err(path.display(), e))?;
    }

    img.copy(BUSYBOX, Path::new(BUSYBOX))
        .map_err(|e| err(BUSYBOX, format!("{e} (apt-get install busybox-static)")))?;
    let list = Command::new(BUSYBOX)
        .arg("--list-full")
        .output()
        .map_err(|e| err(BUSYBOX, e))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let path = format!("/{applet}");
        if !img.contains(&path) {
            img.symlink(&path, BUSYBOX);
        }
    }

    if let Some(veto) = veto {
        add_with_libraries(&mut img, "/veto/bin/veto", veto)?;
    }

    if let Some(suite) = suite {
        add_suite(&mut img, suite)?;
    }
    if let Some(program) = log4shell {
        add_log4shell(&mut img, repo, program)?;
    }

    let policy_file = repo.join(SEED_SIGKILL_POLICY);
    let policy =
        std::fs::read_to_string(&policy_file).map_err(|e| err(policy_file.display(), e))?;
    if policy.matches(SEED_BINARY).count() != 1 {
        return Err(err(
            policy_file.display(),
            format!("expected exactly one {SEED_BINARY} to point at the test binary"),
        ));
    }
    let policy = policy.replace(SEED_BINARY, "\"/veto/bin/veto-exec-sh\"");
    img.file(
        "/veto/policies/enforce-exec-sh.yaml",
        policy.into_bytes(),
        0o644,
    );
    Ok(img)
}

/// Debian programs veto's end-to-end suite and the Log4Shell scenario run by
/// absolute path, copied to the same paths with their libraries. They replace
/// busybox's applets of the same name: the suite asserts what Debian's own
/// programs do (a copy of `env` must exec by the name it was given; `/bin/sh`
/// resolves to `/usr/bin/dash`), and the Log4Shell payload needs bash's /dev/tcp.
pub const DEBIAN_PROGRAMS: &[&str] = &[
    "/usr/bin/env",
    "/usr/bin/true",
    "/usr/bin/dash",
    "/usr/bin/bash",
];

/// Links as Debian's merged /usr has them (`/bin` is `/usr/bin` there).
const DEBIAN_LINKS: &[(&str, &str)] = &[
    ("/bin/sh", "/usr/bin/dash"),
    ("/usr/bin/sh", "/usr/bin/dash"),
    ("/bin/bash", "/usr/bin/bash"),
    ("/bin/true", "/usr/bin/true"),
    ("/bin/env", "/usr/bin/env"),
];

/// [`DEBIAN_PROGRAMS`] and their links.
fn add_debian_programs(img: &mut Initramfs) -> Result<(), ImageError> {
    for p in DEBIAN_PROGRAMS {
        add_with_libraries(img, p, Path::new(p))?;
    }
    for (link, target) in DEBIAN_LINKS {
        img.symlink(link, target);
    }
    Ok(())
}

/// The suite's binary, the veto it runs and the seed policies it reads, all at
/// their host paths (compiled into the test binary), plus the Debian programs it
/// runs.
fn add_suite(img: &mut Initramfs, suite: &HostSuite) -> Result<(), ImageError> {
    for program in [&suite.test_binary, &suite.veto] {
        let dest = program.to_string_lossy().into_owned();
        add_with_libraries(img, &dest, program)?;
    }
    add_debian_programs(img)?;
    // CARGO_MANIFEST_DIR/../testdata/seed-policies: the folder must exist for `..`.
    img.dir(&suite.repo.join("userland").to_string_lossy());
    let seeds = suite.repo.join("testdata/seed-policies");
    let entries = std::fs::read_dir(&seeds).map_err(|e| err(seeds.display(), e))?;
    for entry in entries {
        let path = entry.map_err(|e| err(seeds.display(), e))?.path();
        if path.is_file() {
            img.copy(&path.to_string_lossy(), &path)
                .map_err(|e| err(path.display(), e))?;
        }
    }
    Ok(())
}

/// The Log4Shell scenario's program, and links into the host root (mounted at
/// /host on generic-flavour kernels) for what it reads there: the JDK (whose
/// configuration is absolute links into /etc/java-17-openjdk) and the scenario's
/// Java sources at their host path (the program finds them through its
/// compiled-in `CARGO_MANIFEST_DIR`).
fn add_log4shell(img: &mut Initramfs, repo: &Path, program: &Path) -> Result<(), ImageError> {
    add_with_libraries(img, crate::registry::LOG4SHELL_BINARY, program)?;
    add_debian_programs(img)?;
    img.symlink("/usr/lib/jvm", "/host/usr/lib/jvm");
    img.symlink("/etc/java-17-openjdk", "/host/etc/java-17-openjdk");
    let scenario = repo.join("scenarios/log4shell");
    let host = Path::new(veto_guest::protocol::HOST_ROOT)
        .join(scenario.strip_prefix("/").unwrap_or(&scenario));
    img.symlink(&scenario.to_string_lossy(), &host.to_string_lossy());
    Ok(())
}

/// Copies a dynamic program and the libraries it needs to the same paths.
fn add_with_libraries(img: &mut Initramfs, dest: &str, program: &Path) -> Result<(), ImageError> {
    img.copy(dest, program)
        .map_err(|e| err(program.display(), e))?;
    for lib in needed_libraries(program).map_err(|e| err(program.display(), e))? {
        let at = lib.to_string_lossy().into_owned();
        img.copy(&at, &lib).map_err(|e| err(lib.display(), e))?;
    }
    Ok(())
}

/// The image for one kernel: the base plus its modules and the manifest
/// (`host_root`: mount the host's root over 9p in the guest).
pub fn kernel_image(
    base: &Initramfs,
    modules: &[LoadableModule],
    tests: &[GuestTest],
    host_root: bool,
) -> Initramfs {
    let mut img = base.clone();
    let mut manifest = Manifest {
        host_root,
        ..Manifest::default()
    };
    for m in modules {
        let path = format!("/lib/modules/{}.ko", m.name);
        img.file(&path, m.bytes.clone(), 0o644);
        manifest.modules.push(path);
    }
    manifest.tests = tests
        .iter()
        .map(|t| TestSpec {
            name: t.name.to_string(),
            argv: t.argv.iter().map(|a| a.to_string()).collect(),
            timeout_s: t.timeout_s,
            env: t.env.clone(),
        })
        .collect();
    img.file(
        MANIFEST_PATH,
        serde_json::to_vec_pretty(&manifest).expect("manifest serializes"),
        0o644,
    );
    img
}

/// The veto binary to put in the guest: `explicit`, else the release or debug
/// build in `target_dirs`, else none (tests needing it then fail with that reason).
pub fn find_veto(explicit: Option<&Path>, target_dirs: &[PathBuf]) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    target_dirs
        .iter()
        .flat_map(|t| [t.join("release/veto"), t.join("debug/veto")])
        .find(|p| p.is_file())
}
