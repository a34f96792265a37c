//! Debian's archive through apt with a private configuration in the cache folder.
//!
//! The machine's own sources are never touched: apt is pointed at a sources.list,
//! lists and cache of our own with `-o Dir::...` options. The mirror is the one the
//! machine's own sources use (it is the one this machine is known to reach); the
//! signatures are checked with the Debian archive keyring.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::lock::{LockedDeb, UPDATE_COMMAND};

/// Keyring the archive's Release files are checked against.
pub const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// An apt error.
#[derive(Debug, thiserror::Error)]
pub enum AptError {
    /// No Debian mirror in the machine's sources.
    #[error(
        "no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d/: cannot fetch kernels"
    )]
    NoMirror,
    /// File system trouble in the cache.
    #[error("{path}: {error}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// An apt command failed.
    #[error("{command} failed: {detail}")]
    Command {
        /// What ran.
        command: String,
        /// stderr's tail or the spawn error.
        detail: String,
    },
    /// A package is not in a suite.
    #[error("package {package} not found in {suite}")]
    NotFound {
        /// Suite.
        suite: String,
        /// Package.
        package: String,
    },
    /// A locked version is gone from the archive.
    #[error(
        "locked {package} {version} is no longer in {suite}; run `{UPDATE_COMMAND}` to re-resolve"
    )]
    Vanished {
        /// Suite.
        suite: String,
        /// Package.
        package: String,
        /// Version.
        version: String,
    },
}

/// The mirror URL of the machine's Debian sources (e.g. `http://deb.debian.org/debian`).
pub fn machine_mirror() -> Result<String, AptError> {
    let mut texts = Vec::new();
    if let Ok(t) = std::fs::read_to_string("/etc/apt/sources.list") {
        texts.push(t);
    }
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<_> = dir.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let name = p.to_string_lossy().to_string();
            if (name.ends_with(".list") || name.ends_with(".sources"))
                && let Ok(t) = std::fs::read_to_string(&p)
            {
                texts.push(t);
            }
        }
    }
    mirror_in(&texts.join("\n")).ok_or(AptError::NoMirror)
}

/// The first main-archive Debian URL in sources text (one-line or deb822 format).
fn mirror_in(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.split_whitespace())
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(|w| w.trim_end_matches('/').to_string())
        .find(|u| u.ends_with("/debian"))
}

/// One stanza of a Packages index (only the fields we use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stanza {
    /// Package.
    pub package: String,
    /// Version.
    pub version: String,
    /// Depends (raw).
    pub depends: String,
    /// Filename in the pool.
    pub filename: String,
    /// Size.
    pub size: u64,
    /// SHA256.
    pub sha256: String,
}

/// apt with a private configuration rooted at `dir`.
pub struct Apt {
    dir: PathBuf,
}

impl Apt {
    /// A private apt under `dir` (created if needed) for `suites` from `mirror`.
    pub fn new(dir: &Path, mirror: &str, suites: &BTreeSet<String>) -> Result<Apt, AptError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |error| AptError::Io { path, error }
        };
        for sub in ["lists/partial", "cache/archives/partial", "debs"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(io(&dir.join(sub)))?;
        }
        let status = dir.join("status");
        if !status.exists() {
            std::fs::write(&status, "").map_err(io(&status))?;
        }
        let sources: String = suites
            .iter()
            .map(|s| format!("deb [signed-by={KEYRING}] {mirror} {s} main\n"))
            .collect();
        let list = dir.join("sources.list");
        std::fs::write(&list, sources).map_err(io(&list))?;
        Ok(Apt {
            dir: dir.to_path_buf(),
        })
    }

    fn command(&self, program: &str) -> Command {
        let d = |sub: &str| self.dir.join(sub).display().to_string();
        let mut cmd = Command::new(program);
        for (k, v) in [
            ("Dir::Etc::SourceList", d("sources.list")),
            ("Dir::Etc::SourceParts", "/dev/null".into()),
            ("Dir::Etc::Preferences", "/dev/null".into()),
            ("Dir::Etc::PreferencesParts", "/dev/null".into()),
            ("Dir::State::Lists", d("lists")),
            ("Dir::State::status", d("status")),
            ("Dir::Cache", d("cache")),
            // Plain-text indexes, whatever the machine's apt.conf.d prefers, so the
            // resolver can read them.
            ("Acquire::GzipIndexes", "false".into()),
            ("Acquire::Languages", "none".into()),
            ("APT::Architectures", "amd64".into()),
            ("APT::Get::Assume-Yes", "true".into()),
        ] {
            cmd.arg("-o").arg(format!("{k}={v}"));
        }
        cmd
    }

    fn run(&self, mut cmd: Command, cwd: Option<&Path>) -> Result<(), AptError> {
        if let Some(c) = cwd {
            cmd.current_dir(c);
        }
        let shown = format!("{cmd:?}");
        let out = cmd.output().map_err(|e| AptError::Command {
            command: shown.clone(),
            detail: e.to_string(),
        })?;
        let err = String::from_utf8_lossy(&out.stderr);
        // apt-get update exits 0 on some fetch errors; "W:"/"E:" lines about our
        // sources are real problems here.
        let bad = err
            .lines()
            .filter(|l| {
                l.starts_with("E:") || (l.starts_with("W:") && l.contains("Failed to fetch"))
            })
            .collect::<Vec<_>>();
        if !out.status.success() || !bad.is_empty() {
            return Err(AptError::Command {
                command: shown,
                detail: if bad.is_empty() {
                    err.trim().to_string()
                } else {
                    bad.join("; ")
                },
            });
        }
        Ok(())
    }

    /// `apt-get update` of the private lists (network).
    pub fn update(&self) -> Result<(), AptError> {
        let mut cmd = self.command("apt-get");
        cmd.arg("update").arg("-q");
        self.run(cmd, None)
    }

    /// Whether the private lists were ever updated.
    pub fn has_lists(&self) -> bool {
        std::fs::read_dir(self.dir.join("lists"))
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with("_Packages"))
            })
            .unwrap_or(false)
    }

    /// Every stanza of `suite`'s Packages index.
    pub fn index(&self, suite: &str) -> Result<Vec<Stanza>, AptError> {
        let lists = self.dir.join("lists");
        let needle = format!("_dists_{suite}_main_binary-amd64_Packages");
        let dir = std::fs::read_dir(&lists).map_err(|error| AptError::Io {
            path: lists.clone(),
            error,
        })?;
        let mut out = Vec::new();
        for e in dir.flatten() {
            if e.file_name().to_string_lossy().ends_with(&needle) {
                let text = std::fs::read_to_string(e.path()).map_err(|error| AptError::Io {
                    path: e.path(),
                    error,
                })?;
                out.extend(parse_packages(&text));
            }
        }
        Ok(out)
    }

    /// Resolves `package` in `suite` and the kernel packages it depends on (image,
    /// binary, modules: Debian 7.x splits the kernel over those), each at the exact
    /// version the dependency names.
    pub fn resolve(
        &self,
        suite: &str,
        package: &str,
    ) -> Result<(String, Vec<LockedDeb>), AptError> {
        let index = self.index(suite)?;
        let mut by_name: BTreeMap<&str, Vec<&Stanza>> = BTreeMap::new();
        for s in &index {
            by_name.entry(s.package.as_str()).or_default().push(s);
        }
        let pick = |name: &str, version: Option<&str>| -> Result<Stanza, AptError> {
            let cands = by_name.get(name).cloned().unwrap_or_default();
            let chosen = match version {
                Some(v) => cands.into_iter().find(|s| s.version == v),
                None => cands.into_iter().reduce(|a, b| {
                    if version_gt(&b.version, &a.version) {
                        b
                    } else {
                        a
                    }
                }),
            };
            chosen.cloned().ok_or_else(|| AptError::NotFound {
                suite: suite.into(),
                package: match version {
                    Some(v) => format!("{name} (= {v})"),
                    None => name.into(),
                },
            })
        };
        let root = pick(package, None)?;
        let version = root.version.clone();
        let mut todo = vec![root];
        let mut debs: Vec<LockedDeb> = Vec::new();
        while let Some(s) = todo.pop() {
            if debs.iter().any(|d| d.package == s.package) {
                continue;
            }
            for (dep, ver) in kernel_depends(&s.depends) {
                todo.push(pick(&dep, ver.as_deref())?);
            }
            debs.push(LockedDeb {
                package: s.package,
                version: s.version,
                filename: s.filename,
                size: s.size,
                sha256: s.sha256,
            });
        }
        debs.sort_by(|a, b| a.package.cmp(&b.package));
        Ok((version, debs))
    }

    /// Fails with [`AptError::Vanished`] if `deb` is no longer in `suite`.
    pub fn check_present(&self, suite: &str, deb: &LockedDeb) -> Result<(), AptError> {
        let found = self
            .index(suite)?
            .iter()
            .any(|s| s.package == deb.package && s.version == deb.version);
        if found {
            Ok(())
        } else {
            Err(AptError::Vanished {
                suite: suite.into(),
                package: deb.package.clone(),
                version: deb.version.clone(),
            })
        }
    }

    /// `apt-get download PACKAGE=VERSION` into the private debs folder; returns the
    /// file apt wrote.
    pub fn download(&self, deb: &LockedDeb) -> Result<PathBuf, AptError> {
        let dir = self.dir.join("debs");
        let mut cmd = self.command("apt-get");
        cmd.arg("download")
            .arg("-q")
            .arg(format!("{}={}", deb.package, deb.version));
        self.run(cmd, Some(&dir))?;
        let path = dir.join(deb_file_name(deb));
        if path.exists() {
            Ok(path)
        } else {
            Err(AptError::Command {
                command: format!("apt-get download {}={}", deb.package, deb.version),
                detail: format!("{} was not written", path.display()),
            })
        }
    }

    /// Where a downloaded .deb is kept.
    pub fn deb_path(&self, deb: &LockedDeb) -> PathBuf {
        self.dir.join("debs").join(deb_file_name(deb))
    }
}

/// The name apt-get download gives a .deb (the pool file's name).
fn deb_file_name(deb: &LockedDeb) -> String {
    deb.filename
        .rsplit('/')
        .next()
        .unwrap_or(&deb.filename)
        .to_string()
}

/// The kernel packages a Depends line names: (package, exact version if pinned).
fn kernel_depends(depends: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for group in depends.split(',') {
        for alt in group.split('|') {
            let alt = alt.trim();
            let name = alt.split_whitespace().next().unwrap_or("");
            let name = name.split(':').next().unwrap_or(name);
            let kernel = ["linux-image-", "linux-binary-", "linux-modules-"]
                .iter()
                .any(|p| name.starts_with(p));
            if !kernel {
                continue;
            }
            let version = alt
                .split_once("(=")
                .map(|(_, v)| v.trim_end_matches(')').trim().to_string());
            out.push((name.to_string(), version));
            break;
        }
    }
    out
}

/// Parses a Packages index.
fn parse_packages(text: &str) -> Vec<Stanza> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let field = |name: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let package = field("Package");
        if package.is_empty() {
            continue;
        }
        out.push(Stanza {
            package,
            version: field("Version"),
            depends: field("Depends"),
            filename: field("Filename"),
            size: field("Size").parse().unwrap_or(0),
            sha256: field("SHA256"),
        });
    }
    out
}

/// Debian version order, through dpkg itself (the rules are subtle: ~, epochs).
fn version_gt(a: &str, b: &str) -> bool {
    Command::new("dpkg")
        .args(["--compare-versions", a, "gt", b])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mirror_is_read_from_deb822_and_one_line_sources() {
        let deb822 = "Types: deb\n# http://snapshot.debian.org/archive/debian/x\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n";
        assert_eq!(
            mirror_in(deb822).as_deref(),
            Some("http://deb.debian.org/debian")
        );
        let one = "deb http://deb.debian.org/debian-security bookworm-security main\ndeb [arch=amd64] http://ftp.example.org/debian/ bookworm main\n";
        assert_eq!(
            mirror_in(one).as_deref(),
            Some("http://ftp.example.org/debian")
        );
        assert_eq!(
            mirror_in("deb https://deb.nodesource.com/node_20.x nodistro main"),
            None
        );
    }

    #[test]
    fn kernel_dependencies_follow_the_7x_split_and_skip_the_rest() {
        let d = "dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, kmod, \
                 linux-base-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1), \
                 linux-binary-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1), \
                 linux-modules-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1)";
        assert_eq!(
            kernel_depends(d),
            vec![
                (
                    "linux-binary-7.3.4+deb13-cloud-amd64".into(),
                    Some("7.3.4-1~bpo13+1".into())
                ),
                (
                    "linux-modules-7.3.4+deb13-cloud-amd64".into(),
                    Some("7.3.4-1~bpo13+1".into())
                ),
            ]
        );
    }

    #[test]
    fn packages_stanzas_are_parsed() {
        let t = "Package: a\nVersion: 1\nDepends: linux-image-x (= 1)\nFilename: pool/a.deb\nSize: 5\nSHA256: ab\nDescription: x\n continued\n\nPackage: b\nVersion: 2\n";
        let s = parse_packages(t);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].filename, "pool/a.deb");
        assert_eq!(s[0].size, 5);
        assert_eq!(s[1].version, "2");
    }

    /// A private apt whose lists hold one fake bookworm index (no network).
    fn fake_apt(dir: &Path) -> Apt {
        let apt = Apt::new(
            dir,
            "http://deb.debian.org/debian",
            &["bookworm".to_string()].into(),
        )
        .unwrap();
        let index = "Package: linux-image-cloud-amd64\nVersion: 6.1.176-1\n\
                     Depends: linux-image-6.1.0-50-cloud-amd64 (= 6.1.176-1)\n\
                     Filename: pool/main/l/meta.deb\nSize: 1500\nSHA256: aa\n\n\
                     Package: linux-image-6.1.0-50-cloud-amd64\nVersion: 6.1.176-1\n\
                     Depends: kmod, linux-base (>= 4.3~)\nFilename: pool/main/l/image.deb\nSize: 26484304\nSHA256: bb\n";
        std::fs::write(
            dir.join("lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"),
            index,
        )
        .unwrap();
        apt
    }

    #[test]
    fn a_meta_package_resolves_to_itself_and_its_pinned_image() {
        let dir = tempfile::tempdir().unwrap();
        let (version, debs) = fake_apt(dir.path())
            .resolve("bookworm", "linux-image-cloud-amd64")
            .unwrap();
        assert_eq!(version, "6.1.176-1");
        let names: Vec<&str> = debs.iter().map(|d| d.package.as_str()).collect();
        assert_eq!(
            names,
            [
                "linux-image-6.1.0-50-cloud-amd64",
                "linux-image-cloud-amd64"
            ]
        );
        assert_eq!(debs[0].filename, "pool/main/l/image.deb");
    }

    #[test]
    fn a_package_missing_from_the_suite_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = fake_apt(dir.path())
            .resolve("bookworm", "linux-image-nope")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "package linux-image-nope not found in bookworm"
        );
    }

    #[test]
    fn a_locked_version_gone_from_the_archive_names_the_update_command() {
        let dir = tempfile::tempdir().unwrap();
        let deb = LockedDeb {
            package: "linux-image-6.1.0-50-cloud-amd64".into(),
            version: "6.1.170-1".into(),
            filename: "pool/main/l/old.deb".into(),
            size: 1,
            sha256: "cc".into(),
        };
        let e = fake_apt(dir.path())
            .check_present("bookworm", &deb)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "locked linux-image-6.1.0-50-cloud-amd64 6.1.170-1 is no longer in bookworm; \
             run `cargo xtask vmtest --update-kernels` to re-resolve"
        );
    }
}
