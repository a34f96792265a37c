//! The engine: select kernels and tests, fetch, build images, boot in parallel,
//! judge, write the outputs. Progress goes out as [`Progress`] events; nothing here
//! prints.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::config::{ConfigError, Flavour, Kernel, Matrix, Source};
use crate::fetch::{FetchError, FetchEvent, Fetcher, KernelFiles};
use crate::image::{ImageError, base_image, kernel_image};
use crate::initramfs::Initramfs;
use crate::lock::{Lock, LockError};
use crate::modules::{ModuleError, ModuleIndex};
use crate::qemu::{BootSpec, QemuError, boot};
use crate::registry::{GuestTest, SelectError, select};
use crate::verdict::{KernelRun, judge};
use crate::{report, results};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Repository root (kernels.toml, kernels.lock, testdata/).
    pub repo: PathBuf,
    /// Where results go (target/vmtest).
    pub out_dir: PathBuf,
    /// Kernel cache.
    pub cache_dir: PathBuf,
    /// `--kernel` names; empty means the default matrix.
    pub kernels: Vec<String>,
    /// `--test` substring.
    pub test_filter: Option<String>,
    /// `--scenario` name.
    pub scenario: Option<String>,
    /// VMs at once.
    pub jobs: usize,
    /// `--shard K/N` as (K, N), K from 1.
    pub shard: Option<(usize, usize)>,
    /// Re-resolve kernels.lock first.
    pub update_kernels: bool,
    /// Folder with the static guest programs.
    pub guest_bin_dir: PathBuf,
    /// veto binary for the guest, if any.
    pub veto: Option<PathBuf>,
    /// veto's host end-to-end suite, built, when the selection includes it.
    pub suite: Option<crate::suite::HostSuite>,
    /// The Log4Shell scenario's program (veto-log4shell), when it is selected.
    pub log4shell: Option<PathBuf>,
    /// Override of the per-kernel deadline (normally boot allowance + test timeouts).
    pub deadline: Option<Duration>,
}

/// A progress event.
#[derive(Debug, Clone)]
pub enum Progress {
    /// Kernel fetching.
    Fetch(FetchEvent),
    /// kernels.lock was rewritten.
    LockUpdated(PathBuf),
    /// Another run holds this folder (output or cache); this one waits for it.
    Waiting(PathBuf),
    /// A VM starts.
    Boot {
        /// Kernel name.
        kernel: String,
    },
    /// A line arrived on a VM's results channel.
    Line {
        /// Kernel name.
        kernel: String,
        /// The raw JSON line.
        line: String,
    },
    /// A VM finished and was judged.
    Finished(Box<KernelRun>),
}

/// A run that could not happen (as opposed to tests that failed).
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    /// kernels.toml.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// kernels.lock.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Fetching.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Test selection.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// Building an image.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Modules.
    #[error("kernel {kernel:?}: {error}")]
    Modules {
        /// Kernel.
        kernel: String,
        /// Error.
        error: ModuleError,
    },
    /// QEMU could not start.
    #[error("kernel {kernel:?}: {error}")]
    Qemu {
        /// Kernel.
        kernel: String,
        /// Error.
        error: QemuError,
    },
    /// Bad selection.
    #[error("{0}")]
    Usage(String),
    /// Writing outputs.
    #[error("{path}: {error}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Error.
        error: std::io::Error,
    },
}

/// The finished run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// One entry per kernel, in matrix order.
    pub kernels: Vec<KernelRun>,
    /// Wall seconds of the whole run (fetch included).
    pub wall_s: f64,
    /// The terminal table.
    pub table: String,
    /// Whether anything failed.
    pub failed: bool,
}

/// Kernels chosen by `--kernel` (any kernel of the file) or the default matrix,
/// then cut to the shard.
pub fn select_kernels<'m>(
    matrix: &'m Matrix,
    names: &[String],
    shard: Option<(usize, usize)>,
) -> Result<Vec<&'m Kernel>, MatrixError> {
    let mut chosen: Vec<&Kernel> = if names.is_empty() {
        matrix.kernels.iter().filter(|k| k.default).collect()
    } else {
        let mut v = Vec::new();
        for n in names {
            let k = matrix
                .kernels
                .iter()
                .find(|k| &k.name == n)
                .ok_or_else(|| {
                    let known: Vec<&str> = matrix.kernels.iter().map(|k| k.name.as_str()).collect();
                    MatrixError::Usage(format!(
                        "--kernel {n}: no such kernel in {}; known: {}",
                        matrix.file.display(),
                        known.join(", ")
                    ))
                })?;
            v.push(k);
        }
        v
    };
    if let Some((k, n)) = shard {
        if n == 0 || k == 0 || k > n {
            return Err(MatrixError::Usage(format!(
                "--shard {k}/{n}: need 1 <= K <= N"
            )));
        }
        chosen = chosen
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % n == k - 1)
            .map(|(_, k)| k)
            .collect();
    }
    Ok(chosen)
}

/// Boot allowance before the first test, generous for the slowest TCG kernel.
const BOOT_ALLOWANCE: Duration = Duration::from_secs(120);

/// Runs the matrix.
pub fn run(opts: &Options, progress: &(dyn Fn(Progress) + Sync)) -> Result<Summary, MatrixError> {
    let started = Instant::now();
    let toml = opts.repo.join("kernels.toml");
    let lock_file = opts.repo.join("kernels.lock");
    let matrix = Matrix::load(&toml)?;
    let tests = select(
        opts.scenario.as_deref(),
        opts.test_filter.as_deref(),
        opts.suite.as_ref(),
    )?;
    let kernels = select_kernels(&matrix, &opts.kernels, opts.shard)?;

    let suites: BTreeSet<String> = matrix
        .kernels
        .iter()
        .filter_map(|k| match &k.source {
            Source::Debian { suite, .. } => Some(suite.clone()),
            Source::Local { .. } => None,
        })
        .collect();
    let fetch_progress = |e: FetchEvent| progress(Progress::Fetch(e));
    let mut fetcher = Fetcher::new(&opts.cache_dir, suites, &fetch_progress);
    let mut lock = Lock::load(&lock_file)?;
    if opts.update_kernels {
        let targets: Vec<&Kernel> = if opts.kernels.is_empty() {
            matrix.kernels.iter().collect()
        } else {
            kernels.clone()
        };
        lock = fetcher.update_lock(&matrix.file, &targets, &lock)?;
        lock.save(&lock_file)?;
        progress(Progress::LockUpdated(lock_file.clone()));
    }
    let names: Vec<&str> = kernels.iter().map(|k| k.name.as_str()).collect();
    lock.check(&lock_file, &matrix, &names)?;

    let mut prepared: Vec<(&Kernel, KernelFiles)> = Vec::new();
    {
        // Two runs unpacking the same kernel at once would trip over each other.
        let _cache_lock = lock_dir(&opts.cache_dir, progress)?;
        for k in &kernels {
            prepared.push((k, fetcher.prepare(k, &lock)?));
        }
    }

    // The suite's files (its binary, its veto, Debian's shells) only when it runs.
    let suite = opts
        .suite
        .as_ref()
        .filter(|_| tests.iter().any(|t| t.is_e2e()));
    let log4shell = opts
        .log4shell
        .as_deref()
        .filter(|_| tests.iter().any(|t| t.name == crate::registry::LOG4SHELL));
    let base = base_image(
        &opts.repo,
        &opts.guest_bin_dir,
        opts.veto.as_deref(),
        suite,
        log4shell,
    )?;
    let _out_lock = lock_dir(&opts.out_dir, progress)?;

    let runs: Mutex<Vec<Option<KernelRun>>> = Mutex::new(vec![None; prepared.len()]);
    let first_error: Mutex<Option<MatrixError>> = Mutex::new(None);
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1).min(prepared.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((k, files)) = prepared.get(i) else {
                        break;
                    };
                    if first_error.lock().expect("lock").is_some() {
                        break;
                    }
                    match run_kernel(opts, k, files, &base, &tests, progress) {
                        Ok(r) => {
                            progress(Progress::Finished(Box::new(r.clone())));
                            runs.lock().expect("lock")[i] = Some(r);
                        }
                        Err(e) => {
                            first_error.lock().expect("lock").get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().expect("lock") {
        return Err(e);
    }
    let runs: Vec<KernelRun> = runs
        .into_inner()
        .expect("lock")
        .into_iter()
        .flatten()
        .collect();
    let wall_s = started.elapsed().as_secs_f64();
    write_outputs(&opts.out_dir, &runs, wall_s)?;
    Ok(Summary {
        failed: results::any_failure(&runs),
        table: report::terminal(&runs, wall_s),
        kernels: runs,
        wall_s,
    })
}

/// Builds the image, boots and judges one kernel; saves its console tail and each
/// test's output beside the results.
fn run_kernel(
    opts: &Options,
    kernel: &Kernel,
    files: &KernelFiles,
    base: &Initramfs,
    tests: &[GuestTest],
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<KernelRun, MatrixError> {
    let dir = opts.out_dir.join(&kernel.name);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| MatrixError::Io { path, error }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let modules = match (&files.modules_dir, kernel.modules.is_empty()) {
        (_, true) => Vec::new(),
        (Some(m), false) => ModuleIndex::new(m)
            .and_then(|idx| idx.load_order(&kernel.modules))
            .map_err(|error| MatrixError::Modules {
                kernel: kernel.name.clone(),
                error,
            })?,
        (None, false) => {
            return Err(MatrixError::Modules {
                kernel: kernel.name.clone(),
                error: ModuleError::NoModules(kernel.modules.clone()),
            });
        }
    };
    // Generic kernels have 9p: give them the host root read-only, for scenarios
    // that need the host's programs (Java). Cloud kernels have no 9p at all.
    let host_root = kernel.flavour == Flavour::Generic;
    let image = kernel_image(base, &modules, tests, host_root);
    let initrd = dir.join("initramfs.cpio");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&initrd).map_err(io(&initrd))?);
    image.write(&mut f).map_err(io(&initrd))?;
    drop(f);

    let deadline = opts.deadline.unwrap_or_else(|| {
        BOOT_ALLOWANCE + Duration::from_secs(tests.iter().map(|t| t.timeout_s).sum::<u64>() + 60)
    });
    let spec = BootSpec {
        kernel: files.vmlinuz.clone(),
        initrd,
        append: kernel.append.clone(),
        memory_mb: kernel.memory_mb,
        console_log: dir.join("console.log"),
        results_log: dir.join("results.jsonl"),
        deadline,
        extra_args: if host_root {
            host_root_args()
        } else {
            Vec::new()
        },
    };
    progress(Progress::Boot {
        kernel: kernel.name.clone(),
    });
    let outcome = boot(&spec, |line| {
        progress(Progress::Line {
            kernel: kernel.name.clone(),
            line: line.to_string(),
        })
    })
    .map_err(|error| MatrixError::Qemu {
        kernel: kernel.name.clone(),
        error,
    })?;
    let console = std::fs::read_to_string(&spec.console_log).unwrap_or_default();
    let run = judge(kernel, &files.release, tests, &outcome, &console);
    let lines: Vec<&str> = console.lines().collect();
    let tail = lines[lines.len().saturating_sub(50)..].join("\n");
    let tail_file = dir.join("console-tail.log");
    std::fs::write(&tail_file, tail + "\n").map_err(io(&tail_file))?;
    for r in &run.results {
        let f = dir.join(format!("{}.log", r.test));
        std::fs::write(&f, &r.output).map_err(io(&f))?;
    }
    Ok(run)
}

/// Holds `dir` (the output folder, or the cache while fetching) for this run: two
/// runs writing the same kernel's files would corrupt each other's, so a second
/// run waits for the first.
fn lock_dir(
    dir: &Path,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<std::fs::File, MatrixError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| MatrixError::Io { path, error }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(".lock");
    let file = std::fs::File::create(&path).map_err(io(&path))?;
    if file.try_lock().is_err() {
        progress(Progress::Waiting(dir.to_path_buf()));
        file.lock().map_err(io(&path))?;
    }
    Ok(file)
}

/// QEMU arguments exporting the host's root read-only over virtio-9p.
fn host_root_args() -> Vec<String> {
    vec![
        "-virtfs".into(),
        format!(
            "local,path=/,mount_tag={},security_model=none,readonly=on",
            veto_guest::protocol::HOST_ROOT_TAG
        ),
    ]
}

fn write_outputs(dir: &Path, runs: &[KernelRun], wall_s: f64) -> Result<(), MatrixError> {
    for (name, text) in [
        ("results.json", results::results_json(runs, wall_s)),
        ("junit.xml", results::junit_xml(runs)),
        ("report.md", report::markdown_report(runs, wall_s)),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|error| MatrixError::Io { path, error })?;
    }
    Ok(())
}
