//! The guest's root filesystem: an uncompressed cpio archive in the "newc" format,
//! which every Linux kernel unpacks into its rootfs before running /init.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

/// One node of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir,
    /// A regular file with its permission bits.
    File {
        /// Contents.
        data: Vec<u8>,
        /// Permission bits, e.g. 0o755.
        mode: u32,
    },
    /// A symbolic link.
    Symlink(String),
    /// A character device (for /dev/console before devtmpfs is mounted).
    CharDev {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
}

/// An archive being assembled; paths are absolute, parents are made as needed, and
/// entries come out sorted so the same inputs give the same bytes.
#[derive(Debug, Default, Clone)]
pub struct Initramfs {
    nodes: BTreeMap<String, Node>,
}

impl Initramfs {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `node` at absolute `path`, with its parent folders.
    pub fn add(&mut self, path: &str, node: Node) {
        let path = path.trim_start_matches('/').trim_end_matches('/');
        let mut parent = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for p in &parts[..parts.len() - 1] {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(p);
            self.nodes.entry(parent.clone()).or_insert(Node::Dir);
        }
        self.nodes.insert(path.to_string(), node);
    }

    /// Adds a regular file.
    pub fn file(&mut self, path: &str, data: Vec<u8>, mode: u32) {
        self.add(path, Node::File { data, mode });
    }

    /// Copies host file `from` to `path`, keeping its permission bits (following
    /// symlinks: the guest gets the content).
    pub fn copy(&mut self, path: &str, from: &Path) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let data = std::fs::read(from)?;
        let mode = std::fs::metadata(from)?.permissions().mode() & 0o7777;
        self.file(path, data, mode);
        Ok(())
    }

    /// Adds a symlink.
    pub fn symlink(&mut self, path: &str, target: &str) {
        self.add(path, Node::Symlink(target.to_string()));
    }

    /// Adds a folder.
    pub fn dir(&mut self, path: &str) {
        self.add(path, Node::Dir);
    }

    /// Whether `path` exists.
    pub fn contains(&self, path: &str) -> bool {
        self.nodes.contains_key(path.trim_start_matches('/'))
    }

    /// Writes the archive.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let mut w = CpioWriter { out, written: 0 };
        for (ino, (name, node)) in self.nodes.iter().enumerate() {
            let ino = ino as u32 + 1;
            match node {
                Node::Dir => w.entry(name, ino, 0o040755, 2, &[], (0, 0))?,
                Node::File { data, mode } => {
                    w.entry(name, ino, 0o100000 | mode, 1, data, (0, 0))?
                }
                Node::Symlink(t) => w.entry(name, ino, 0o120777, 1, t.as_bytes(), (0, 0))?,
                Node::CharDev { major, minor } => {
                    w.entry(name, ino, 0o020600, 1, &[], (*major, *minor))?
                }
            }
        }
        w.entry("TRAILER!!!", 0, 0, 1, &[], (0, 0))?;
        Ok(())
    }

    /// The archive as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write(&mut v).expect("writing to a Vec cannot fail");
        v
    }
}

struct CpioWriter<'a, W: Write> {
    out: &'a mut W,
    written: usize,
}

impl<W: Write> CpioWriter<'_, W> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.written += b.len();
        Ok(())
    }

    /// newc pads the header+name and the data each to a multiple of 4 bytes.
    fn pad(&mut self) -> io::Result<()> {
        let n = (4 - self.written % 4) % 4;
        self.put(&[0u8; 3][..n])
    }

    fn entry(
        &mut self,
        name: &str,
        ino: u32,
        mode: u32,
        nlink: u32,
        data: &[u8],
        rdev: (u32, u32),
    ) -> io::Result<()> {
        let fields = [
            ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime: fixed, for reproducible archives
            data.len() as u32,
            0, // devmajor
            0, // devminor
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0, // check
        ];
        let mut header = String::from("070701");
        for f in fields {
            header.push_str(&format!("{f:08x}"));
        }
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn sample() -> Initramfs {
        let mut i = Initramfs::new();
        i.file("/init", b"#!/bin/sh\necho hi\n".to_vec(), 0o755);
        i.file("/veto/manifest.json", b"{}".to_vec(), 0o644);
        i.file("/odd/three", b"abc".to_vec(), 0o600);
        i.symlink("/bin/sh", "busybox");
        i.dir("/tmp");
        i.add("/dev/console", Node::CharDev { major: 5, minor: 1 });
        i
    }

    /// The independent reader: GNU cpio, which must list and extract what we wrote.
    #[test]
    fn the_archive_round_trips_through_gnu_cpio() {
        crate::host::ensure_host_packages().expect("GNU cpio");
        let bytes = sample().to_bytes();
        assert_eq!(bytes.len() % 4, 0);
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("cpio")
            .args([
                "-i",
                "--make-directories",
                "--no-absolute-filenames",
                "--quiet",
            ])
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("GNU cpio is installed (cargo xtask vmtest installs it)");
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        // Creating /dev/console needs root; the listing test below covers it.
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() || err.contains("console"), "{err}");
        let p = dir.path();
        assert_eq!(
            std::fs::read(p.join("init")).unwrap(),
            b"#!/bin/sh\necho hi\n"
        );
        assert_eq!(std::fs::read(p.join("veto/manifest.json")).unwrap(), b"{}");
        assert_eq!(std::fs::read(p.join("odd/three")).unwrap(), b"abc");
        assert_eq!(
            std::fs::read_link(p.join("bin/sh")).unwrap(),
            Path::new("busybox")
        );
        assert!(p.join("tmp").is_dir());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(p.join("init"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o755
        );
        assert_eq!(
            std::fs::metadata(p.join("odd/three"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }

    #[test]
    fn gnu_cpio_lists_every_entry_with_parents_made() {
        crate::host::ensure_host_packages().expect("GNU cpio");
        let bytes = sample().to_bytes();
        let mut child = Command::new("cpio")
            .args(["-t", "-v", "--quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let listing = String::from_utf8(out.stdout).unwrap();
        // The name column ("bin/sh -> busybox" for the link).
        let names: Vec<String> = listing
            .lines()
            .map(|l| {
                // A device shows "major, minor" where a file shows its size.
                let skip = if l.starts_with('c') { 9 } else { 8 };
                l.split_whitespace()
                    .skip(skip)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        for want in [
            "bin",
            "bin/sh -> busybox",
            "dev",
            "dev/console",
            "init",
            "odd",
            "odd/three",
            "tmp",
            "veto",
            "veto/manifest.json",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "{want} missing from {listing}"
            );
        }
        assert_eq!(names.len(), 10, "{listing}");
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with('c') && l.contains("5,") && l.ends_with("dev/console")),
            "{listing}"
        );
    }

    #[test]
    fn the_same_inputs_give_the_same_bytes() {
        assert_eq!(sample().to_bytes(), sample().to_bytes());
    }
}
