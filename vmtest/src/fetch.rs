//! Fetch and cache: locked .debs downloaded once, checked, unpacked once.
//!
//! A warm cache (every .deb present with its locked checksum, every kernel unpacked)
//! never runs apt at all, so warm runs need no network.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::apt::{Apt, AptError, machine_mirror};
use crate::config::{Kernel, Source};
use crate::lock::{Lock, LockedDeb, LockedKernel, UPDATE_COMMAND};

/// A fetch error.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// apt failed.
    #[error("kernel {kernel:?}: {error}")]
    Apt {
        /// The kernel.
        kernel: String,
        /// The apt error.
        error: AptError,
    },
    /// A .deb does not match the lock.
    #[error(
        "kernel {kernel:?}: {file} has SHA256 {actual}, kernels.lock says {expected}; the archive changed under the lock: run `{UPDATE_COMMAND}`"
    )]
    Checksum {
        /// The kernel.
        kernel: String,
        /// The .deb.
        file: PathBuf,
        /// Locked.
        expected: String,
        /// Computed.
        actual: String,
    },
    /// Unpacking or locating failed.
    #[error("kernel {kernel:?}: {reason}")]
    Unpack {
        /// The kernel.
        kernel: String,
        /// Why.
        reason: String,
    },
    /// A kernels.toml entry could not be resolved in its suite.
    #[error("{file}:{line}: kernel {kernel:?}: {error}")]
    Resolve {
        /// kernels.toml path.
        file: PathBuf,
        /// Line of the entry.
        line: usize,
        /// The kernel.
        kernel: String,
        /// The apt error.
        error: Box<AptError>,
    },
    /// No lock entry (checked earlier; kept for direct library use).
    #[error("kernel {0:?} is not in kernels.lock; run `{UPDATE_COMMAND}`")]
    NotLocked(String),
}

/// What booting a kernel needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFiles {
    /// `uname -r` of the kernel (from its modules folder or image name).
    pub release: String,
    /// The bootable image.
    pub vmlinuz: PathBuf,
    /// `lib/modules/RELEASE`, if present.
    pub modules_dir: Option<PathBuf>,
}

/// Progress of a fetch, for whatever displays it.
#[derive(Debug, Clone)]
pub enum FetchEvent {
    /// Refreshing the private package lists.
    Updating,
    /// About to download `count` .debs of `bytes` in total.
    Downloads {
        /// Number of .debs.
        count: usize,
        /// Total size.
        bytes: u64,
    },
    /// One .deb arrived.
    Downloaded {
        /// Package.
        package: String,
        /// Its size.
        bytes: u64,
    },
    /// A kernel was unpacked into the cache.
    Unpacked {
        /// Kernel name.
        kernel: String,
    },
}

/// The kernel cache.
pub struct Fetcher<'a> {
    cache: PathBuf,
    apt: Option<Apt>,
    updated: bool,
    suites: BTreeSet<String>,
    progress: &'a (dyn Fn(FetchEvent) + Sync),
}

impl<'a> Fetcher<'a> {
    /// A cache under `cache` serving kernels from `suites`.
    pub fn new(
        cache: &Path,
        suites: BTreeSet<String>,
        progress: &'a (dyn Fn(FetchEvent) + Sync),
    ) -> Self {
        Fetcher {
            cache: cache.to_path_buf(),
            apt: None,
            updated: false,
            suites,
            progress,
        }
    }

    fn apt(&mut self, kernel: &str) -> Result<&Apt, FetchError> {
        let wrap = |error| FetchError::Apt {
            kernel: kernel.into(),
            error,
        };
        if self.apt.is_none() {
            let mirror = machine_mirror().map_err(wrap)?;
            self.apt =
                Some(Apt::new(&self.cache.join("apt"), &mirror, &self.suites).map_err(wrap)?);
        }
        Ok(self.apt.as_ref().expect("set above"))
    }

    /// Refreshes the private lists once per run (network).
    fn updated_apt(&mut self, kernel: &str) -> Result<&Apt, FetchError> {
        if !self.updated {
            (self.progress)(FetchEvent::Updating);
            self.apt(kernel)?
                .update()
                .map_err(|error| FetchError::Apt {
                    kernel: kernel.into(),
                    error,
                })?;
            self.updated = true;
        }
        self.apt(kernel)
    }

    /// Re-resolves every Debian kernel of `kernels` (network) into a new lock,
    /// keeping entries of kernels not named.
    pub fn update_lock(
        &mut self,
        file: &Path,
        kernels: &[&Kernel],
        old: &Lock,
    ) -> Result<Lock, FetchError> {
        let mut lock = old.clone();
        for k in kernels {
            let Source::Debian { suite, package } = &k.source else {
                continue;
            };
            let apt = self.updated_apt(&k.name)?;
            let (version, deb) =
                apt.resolve(suite, package)
                    .map_err(|error| FetchError::Resolve {
                        file: file.to_path_buf(),
                        line: k.line,
                        kernel: k.name.clone(),
                        error: Box::new(error),
                    })?;
            lock.kernel.retain(|l| l.name != k.name);
            lock.kernel.push(LockedKernel {
                name: k.name.clone(),
                suite: suite.clone(),
                package: package.clone(),
                version,
                deb,
            });
        }
        let order: Vec<&str> = kernels.iter().map(|k| k.name.as_str()).collect();
        lock.kernel.sort_by_key(|l| {
            order
                .iter()
                .position(|n| *n == l.name)
                .unwrap_or(usize::MAX)
        });
        Ok(lock)
    }

    /// The unpacked kernel for `kernel`, fetching what is missing.
    pub fn prepare(&mut self, kernel: &Kernel, lock: &Lock) -> Result<KernelFiles, FetchError> {
        let unpack = |reason: String| FetchError::Unpack {
            kernel: kernel.name.clone(),
            reason,
        };
        match &kernel.source {
            Source::Local { image, modules_dir } => {
                if !image.is_file() {
                    return Err(unpack(format!("image {} does not exist", image.display())));
                }
                let release = match modules_dir {
                    Some(m) if m.is_dir() => m
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    Some(m) => {
                        return Err(unpack(format!(
                            "modules_dir {} does not exist",
                            m.display()
                        )));
                    }
                    None => "local".into(),
                };
                Ok(KernelFiles {
                    release,
                    vmlinuz: image.clone(),
                    modules_dir: modules_dir.clone(),
                })
            }
            Source::Debian { suite, .. } => {
                let locked = lock
                    .get(&kernel.name)
                    .ok_or_else(|| FetchError::NotLocked(kernel.name.clone()))?;
                let root = self
                    .cache
                    .join("kernels")
                    .join(format!("{}_{}", kernel.name, locked.version));
                // Fetchers in other processes or threads (parallel tests, two
                // vmtest runs) share this cache and its private apt state, and
                // apt-get refuses a second concurrent update: take turns.
                let _turn = self.take_turn().map_err(|e| unpack(e.to_string()))?;
                if !root.join(".complete").exists() {
                    let debs = self.debs(&kernel.name, suite, &locked.deb)?;
                    unpack_debs(&debs, &root).map_err(unpack)?;
                    (self.progress)(FetchEvent::Unpacked {
                        kernel: kernel.name.clone(),
                    });
                }
                locate(&root).map_err(unpack)
            }
        }
    }

    /// An exclusive lock on the cache, held while a kernel is fetched and unpacked.
    fn take_turn(&self) -> std::io::Result<std::fs::File> {
        std::fs::create_dir_all(&self.cache)?;
        let file = std::fs::File::create(self.cache.join(".fetch.lock"))?;
        file.lock()?;
        Ok(file)
    }

    /// The checked .debs of a kernel, downloading those missing or damaged.
    fn debs(
        &mut self,
        kernel: &str,
        suite: &str,
        debs: &[LockedDeb],
    ) -> Result<Vec<PathBuf>, FetchError> {
        let apt = self.apt(kernel)?;
        let missing: Vec<&LockedDeb> = debs
            .iter()
            .filter(|d| sha256_file(&apt.deb_path(d)).ok().as_deref() != Some(d.sha256.as_str()))
            .collect();
        if !missing.is_empty() {
            (self.progress)(FetchEvent::Downloads {
                count: missing.len(),
                bytes: missing.iter().map(|d| d.size).sum(),
            });
        }
        for d in missing {
            let apt = self.updated_apt(kernel)?;
            let wrap = |error| FetchError::Apt {
                kernel: kernel.into(),
                error,
            };
            apt.check_present(suite, d).map_err(wrap)?;
            let path = apt.download(d).map_err(wrap)?;
            let actual = sha256_file(&path).map_err(|e| FetchError::Unpack {
                kernel: kernel.into(),
                reason: format!("{}: {e}", path.display()),
            })?;
            if actual != d.sha256 {
                let _ = std::fs::remove_file(&path);
                return Err(FetchError::Checksum {
                    kernel: kernel.into(),
                    file: path,
                    expected: d.sha256.clone(),
                    actual,
                });
            }
            (self.progress)(FetchEvent::Downloaded {
                package: d.package.clone(),
                bytes: d.size,
            });
        }
        let apt = self.apt(kernel)?;
        Ok(debs.iter().map(|d| apt.deb_path(d)).collect())
    }
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Unpacks every .deb into `root` through a scratch folder, so an interrupted
/// unpack never looks complete.
fn unpack_debs(debs: &[PathBuf], root: &Path) -> Result<(), String> {
    let scratch = root.with_extension("partial");
    let _ = std::fs::remove_dir_all(&scratch);
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    for deb in debs {
        let out = Command::new("dpkg-deb")
            .arg("-x")
            .arg(deb)
            .arg(&scratch)
            .output()
            .map_err(|e| format!("dpkg-deb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "dpkg-deb -x {}: {}",
                deb.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    std::fs::write(scratch.join(".complete"), "").map_err(|e| e.to_string())?;
    std::fs::rename(&scratch, root).map_err(|e| format!("{}: {e}", root.display()))
}

/// Finds the image and modules in an unpacked kernel: /boot/vmlinuz-RELEASE before
/// 7.x, /usr/lib/modules/RELEASE/vmlinuz from 7.x on.
fn locate(root: &Path) -> Result<KernelFiles, String> {
    let mut module_dirs = Vec::new();
    for base in ["usr/lib/modules", "lib/modules"] {
        if let Ok(d) = std::fs::read_dir(root.join(base)) {
            module_dirs.extend(d.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
    }
    let modules_dir = module_dirs.into_iter().next();
    if let Some(m) = &modules_dir
        && m.join("vmlinuz").is_file()
    {
        return Ok(KernelFiles {
            release: m.file_name().expect("dir").to_string_lossy().into_owned(),
            vmlinuz: m.join("vmlinuz"),
            modules_dir: modules_dir.clone(),
        });
    }
    let boot = std::fs::read_dir(root.join("boot"))
        .map_err(|e| format!("{}: {e}", root.join("boot").display()))?;
    let image = boot
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .ok_or_else(|| format!("no vmlinuz under {}", root.display()))?;
    let release = image
        .file_name()
        .expect("file")
        .to_string_lossy()
        .trim_start_matches("vmlinuz-")
        .to_string();
    Ok(KernelFiles {
        release,
        vmlinuz: image,
        modules_dir,
    })
}
