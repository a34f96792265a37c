//! Exact fork/exec/exit events of the app's process tree, from the kernel's process events
//! connector (netlink, `NETLINK_CONNECTOR` / `CN_IDX_PROC`).
//!
//! Polling /proc can miss a program that lives less than a poll interval (jspawnhelper
//! execs into /bin/sh within a millisecond); the connector reports every fork and exec
//! with the kernel's monotonic timestamp. It needs CAP_NET_ADMIN; without it the scenario
//! falls back to polling alone and says so in the outcome.
//!
//! The event only names the pid: the image is read from /proc when the event arrives, so
//! a process that execs again at once may already show its next image. The count and
//! timing of execs per pid are exact; the images are best effort.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::journal::{Event, Journal};
use crate::procfs;

const NETLINK_CONNECTOR: i32 = 11;
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const NLMSG_DONE: u16 = 3;
const PROC_EVENT_FORK: u32 = 0x0000_0001;
const PROC_EVENT_EXEC: u32 = 0x0000_0002;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
/// nlmsghdr (16 bytes) + cn_msg (20 bytes).
const HEADERS: usize = 36;

/// Why the connector could not be used.
#[derive(Debug, Error)]
#[error("process events connector unavailable ({what}): {source}")]
pub struct ProcEventsError {
    what: &'static str,
    source: std::io::Error,
}

/// One process event, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcEvent {
    /// `parent_tgid`'s thread `parent_pid` created `child_pid` (a process when it equals
    /// `child_tgid`, else a thread).
    Fork {
        /// The creating thread.
        parent_pid: i32,
        /// Its process.
        parent_tgid: i32,
        /// The new task.
        child_pid: i32,
        /// The new task's process.
        child_tgid: i32,
    },
    /// `tgid` (thread `pid`) completed an execve.
    Exec {
        /// The thread.
        pid: i32,
        /// Its process.
        tgid: i32,
    },
    /// Thread `pid` of `tgid` exited.
    Exit {
        /// The thread.
        pid: i32,
        /// Its process.
        tgid: i32,
        /// Exit code (wait status form).
        code: u32,
    },
    /// Another kind (uid, comm, ...), ignored.
    Other(u32),
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Decodes one netlink message carrying a `proc_event`: (event, kernel timestamp in ns).
pub fn decode(msg: &[u8]) -> Option<(ProcEvent, u64)> {
    let what = u32_at(msg, HEADERS)?;
    let ts = u64::from_ne_bytes(msg.get(HEADERS + 8..HEADERS + 16)?.try_into().ok()?);
    let d = HEADERS + 16;
    let i = |n: usize| u32_at(msg, d + 4 * n).map(|v| v as i32);
    let event = match what {
        PROC_EVENT_FORK => ProcEvent::Fork {
            parent_pid: i(0)?,
            parent_tgid: i(1)?,
            child_pid: i(2)?,
            child_tgid: i(3)?,
        },
        PROC_EVENT_EXEC => ProcEvent::Exec {
            pid: i(0)?,
            tgid: i(1)?,
        },
        PROC_EVENT_EXIT => ProcEvent::Exit {
            pid: i(0)?,
            tgid: i(1)?,
            code: u32_at(msg, d + 8)?,
        },
        other => ProcEvent::Other(other),
    };
    Some((event, ts))
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A subscription to process events, following one process tree into the journal.
#[derive(Debug)]
pub struct ProcEvents {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Fd(i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: closing the socket this struct owns.
        unsafe { libc::close(self.0) };
    }
}

fn last_error(what: &'static str) -> ProcEventsError {
    ProcEventsError {
        what,
        source: std::io::Error::last_os_error(),
    }
}

fn subscribe() -> Result<Fd, ProcEventsError> {
    // SAFETY: plain socket syscalls on a descriptor owned by `Fd`; every struct passed is
    // fully initialised and its size is given.
    unsafe {
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_CONNECTOR,
        );
        if fd < 0 {
            return Err(last_error("socket"));
        }
        let fd = Fd(fd);
        let mut addr: libc::sockaddr_nl = std::mem::zeroed();
        addr.nl_family = libc::AF_NETLINK as u16;
        addr.nl_groups = CN_IDX_PROC;
        // nl_pid 0: the kernel picks a unique port, so several subscribers can coexist.
        let r = libc::bind(
            fd.0,
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        );
        if r != 0 {
            return Err(last_error("bind"));
        }
        let rcvbuf: i32 = 4 << 20;
        libc::setsockopt(
            fd.0,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&rcvbuf as *const i32).cast(),
            4,
        );
        // Wake up regularly so the stop flag is seen.
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 50_000,
        };
        libc::setsockopt(
            fd.0,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        );
        let mut msg = Vec::with_capacity(40);
        msg.extend_from_slice(&40u32.to_ne_bytes()); // nlmsg_len
        msg.extend_from_slice(&NLMSG_DONE.to_ne_bytes()); // nlmsg_type
        msg.extend_from_slice(&0u16.to_ne_bytes()); // nlmsg_flags
        msg.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_seq
        msg.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid
        msg.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        msg.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
        msg.extend_from_slice(&0u32.to_ne_bytes()); // ack
        msg.extend_from_slice(&4u16.to_ne_bytes()); // len
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
        if libc::send(fd.0, msg.as_ptr().cast(), msg.len(), 0) != msg.len() as isize {
            return Err(last_error("subscribe"));
        }
        Ok(fd)
    }
}

impl ProcEvents {
    /// Subscribes and follows `root` and every process forked under it.
    pub fn start(root: i32, journal: Journal) -> Result<Self, ProcEventsError> {
        let fd = subscribe()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            // Move the whole owner in (a closure would otherwise capture only `fd.0` and
            // the socket would be closed when `start` returns).
            let fd = fd;
            let mut tracked: HashSet<i32> = HashSet::from([root]);
            let mut buf = vec![0u8; 64 * 1024];
            while !flag.load(Ordering::Relaxed) {
                // SAFETY: recv into a buffer we own, with its length.
                let n = unsafe { libc::recv(fd.0, buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.raw_os_error() == Some(libc::ENOBUFS) {
                        journal.record(Event::ProcEventsLost);
                    }
                    continue;
                }
                let (now_ns, now) = (monotonic_ns(), Instant::now());
                let mut rest = &buf[..n as usize];
                while rest.len() >= 16 {
                    let len = u32_at(rest, 0).unwrap_or(0) as usize;
                    if len < 16 || len > rest.len() {
                        break;
                    }
                    if let Some((event, ts)) = decode(&rest[..len]) {
                        let at = now
                            .checked_sub(Duration::from_nanos(now_ns.saturating_sub(ts)))
                            .unwrap_or(now);
                        follow(event, at, &mut tracked, &journal);
                    }
                    rest = &rest[(len + 3) & !3..];
                }
            }
        });
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

fn follow(event: ProcEvent, at: Instant, tracked: &mut HashSet<i32>, journal: &Journal) {
    match event {
        ProcEvent::Fork {
            parent_tgid,
            child_pid,
            child_tgid,
            ..
        } if tracked.contains(&parent_tgid) && child_pid == child_tgid => {
            tracked.insert(child_tgid);
            journal.record_at(
                at,
                Event::Fork {
                    parent: parent_tgid,
                    child: child_tgid,
                },
            );
        }
        ProcEvent::Exec { tgid, .. } if tracked.contains(&tgid) => {
            journal.record_at(
                at,
                Event::Exec {
                    pid: tgid,
                    exe: procfs::exe(tgid).unwrap_or_default(),
                    cmdline: procfs::cmdline(tgid),
                },
            );
        }
        ProcEvent::Exit { pid, tgid, code } if pid == tgid && tracked.contains(&tgid) => {
            journal.record_at(at, Event::Exit { pid, code });
        }
        _ => {}
    }
}

impl Drop for ProcEvents {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(what: u32, ts: u64, data: &[u32]) -> Vec<u8> {
        let mut m = vec![0u8; HEADERS];
        m.extend_from_slice(&what.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&ts.to_ne_bytes());
        for d in data {
            m.extend_from_slice(&d.to_ne_bytes());
        }
        m
    }

    #[test]
    fn decodes_fork_exec_exit() {
        let fork = message(PROC_EVENT_FORK, 7, &[10, 11, 12, 12]);
        assert_eq!(
            decode(&fork),
            Some((
                ProcEvent::Fork {
                    parent_pid: 10,
                    parent_tgid: 11,
                    child_pid: 12,
                    child_tgid: 12
                },
                7
            ))
        );
        let exec = message(PROC_EVENT_EXEC, 8, &[12, 12]);
        assert_eq!(
            decode(&exec),
            Some((ProcEvent::Exec { pid: 12, tgid: 12 }, 8))
        );
        let exit = message(PROC_EVENT_EXIT, 9, &[12, 12, 256, 17]);
        assert_eq!(
            decode(&exit),
            Some((
                ProcEvent::Exit {
                    pid: 12,
                    tgid: 12,
                    code: 256
                },
                9
            ))
        );
        assert_eq!(decode(&fork[..40]), None);
    }

    /// A real fork and exec under this process, seen through the kernel's connector.
    #[test]
    fn follows_a_real_child_through_fork_and_exec() {
        let journal = Journal::default();
        let me = std::process::id() as i32;
        let events = match ProcEvents::start(me, journal.clone()) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("skipping: {e} (needs CAP_NET_ADMIN)");
                return;
            }
        };
        let mut child = std::process::Command::new("/bin/true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        drop(events);
        let seen: Vec<Event> = journal.snapshot().into_iter().map(|e| e.event).collect();
        assert!(
            seen.iter().any(
                |e| matches!(e, Event::Fork { parent, child } if *parent == me && *child == pid)
            ),
            "{seen:?}"
        );
        assert!(
            seen.iter()
                .any(|e| matches!(e, Event::Exec { pid: p, .. } if *p == pid)),
            "{seen:?}"
        );
        assert!(
            seen.iter()
                .any(|e| matches!(e, Event::Exit { pid: p, .. } if *p == pid)),
            "{seen:?}"
        );
    }
}
