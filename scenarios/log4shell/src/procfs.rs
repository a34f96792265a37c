//! What /proc says about processes and sockets: who is a child of whom, what binary a
//! process runs, which process holds a TCP connection, which ports are still listening.
//!
//! Everything here reads the live system and tolerates processes vanishing mid-read.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use crate::journal::{Event, Journal, Sighting};

/// One process as /proc shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcInfo {
    /// Process id.
    pub pid: i32,
    /// Parent process id.
    pub ppid: i32,
    /// Process group id.
    pub pgrp: i32,
    /// State letter (R, S, Z, ...).
    pub state: char,
    /// `comm`.
    pub comm: String,
    /// The resolved executable (empty when unreadable, e.g. a zombie).
    pub exe: String,
    /// The command line.
    pub cmdline: Vec<String>,
}

/// Reads pid's `stat`: (comm, state, ppid, pgrp).
fn stat(pid: i32) -> Option<(String, char, i32, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: it ends at the last ')'.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let mut rest = text[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let pgrp = rest.next()?.parse().ok()?;
    Some((comm, state, ppid, pgrp))
}

/// The resolved executable of `pid`.
pub fn exe(pid: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| p.display().to_string())
}

/// The command line of `pid`.
pub fn cmdline(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|&b| b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Everything about `pid`, or None if it is gone.
pub fn info(pid: i32) -> Option<ProcInfo> {
    let (comm, state, ppid, pgrp) = stat(pid)?;
    Some(ProcInfo {
        pid,
        ppid,
        pgrp,
        state,
        comm,
        exe: exe(pid).unwrap_or_default(),
        cmdline: cmdline(pid),
    })
}

/// `pid` and its ancestors up to (and including) pid 1.
pub fn parent_chain(pid: i32) -> Vec<ProcInfo> {
    let mut chain = Vec::new();
    let mut next = pid;
    while next > 0 && chain.len() < 64 {
        let Some(p) = info(next) else { break };
        next = p.ppid;
        chain.push(p);
    }
    chain
}

/// Direct children of `pid`, over all its threads (a JVM forks from worker threads).
pub fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|s| s.parse::<i32>().ok()),
            );
        }
    }
    out
}

/// All descendants of `pid` (not `pid` itself).
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut queue = children(pid);
    while let Some(p) = queue.pop() {
        if !out.contains(&p) && out.len() < 4096 {
            out.push(p);
            queue.extend(children(p));
        }
    }
    out
}

fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Processes (including zombies) whose process group is `pgrp`.
pub fn group_members(pgrp: i32) -> Vec<ProcInfo> {
    all_pids()
        .into_iter()
        .filter_map(info)
        .filter(|p| p.pgrp == pgrp)
        .collect()
}

/// One row of /proc/net/tcp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRow {
    /// Local address.
    pub local: SocketAddr,
    /// Remote address.
    pub remote: SocketAddr,
    /// Kernel state code (0x0A = LISTEN, 0x01 = ESTABLISHED).
    pub state: u8,
    /// The socket's inode.
    pub inode: u64,
}

/// TCP state LISTEN.
pub const TCP_LISTEN: u8 = 0x0a;

/// Parses "ADDR:PORT" of /proc/net/tcp or tcp6. The address is the in-memory (network
/// order) bytes printed as host-order (little-endian) 32-bit words. IPv4-mapped IPv6
/// addresses (a JVM's sockets are IPv6 even when bound to 127.0.0.1) become IPv4.
fn parse_addr(field: &str) -> Option<SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| {
        ip.get(i * 8..i * 8 + 8)
            .and_then(|w| u32::from_str_radix(w, 16).ok())
            .map(|w| w.swap_bytes().to_be_bytes())
    };
    let v4 = |b: [u8; 4]| Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(b), port)));
    match ip.len() {
        8 => v4(word(0)?),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            let v6 = Ipv6Addr::from(bytes);
            match v6.to_ipv4_mapped() {
                Some(a) => v4(a.octets()),
                None => Some(SocketAddr::new(v6.into(), port)),
            }
        }
        _ => None,
    }
}

/// Parses the text of /proc/net/tcp or /proc/net/tcp6.
pub fn parse_tcp(text: &str) -> Vec<TcpRow> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(TcpRow {
                local: parse_addr(f.get(1)?)?,
                remote: parse_addr(f.get(2)?)?,
                state: u8::from_str_radix(f.get(3)?, 16).ok()?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// The current TCP sockets, IPv4 and IPv6.
pub fn tcp_rows() -> Vec<TcpRow> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|t| parse_tcp(&t))
        .collect()
}

/// True when something listens on 127.0.0.1:`port` (or on any address with that port).
pub fn is_listening(port: u16) -> bool {
    tcp_rows()
        .iter()
        .any(|r| r.state == TCP_LISTEN && r.local.port() == port)
}

/// The processes holding the connection whose local end is `local` and remote end `remote`.
pub fn socket_holders(local: SocketAddr, remote: SocketAddr) -> Vec<i32> {
    let Some(row) = tcp_rows()
        .into_iter()
        .find(|r| r.local == local && r.remote == remote)
    else {
        return Vec::new();
    };
    let link = format!("socket:[{}]", row.inode);
    all_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .map(|fds| {
                    fds.flatten().any(|fd| {
                        std::fs::read_link(fd.path())
                            .map(|l| l.as_os_str() == link.as_str())
                            .unwrap_or(false)
                    })
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Polls the descendants of a process and journals each new (pid, exe, cmdline) it sees.
///
/// Polling misses programs that live less than one interval (jspawnhelper's exec into the
/// target takes well under a millisecond); the shell itself lives for the whole
/// conversation, so its sighting is reliable, and its parent chain is exact.
#[derive(Debug)]
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Starts watching the descendants of `root` every `interval`.
    pub fn start(root: i32, interval: Duration, journal: Journal) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut last: HashMap<i32, (String, Vec<String>)> = HashMap::new();
            while !flag.load(Ordering::Relaxed) {
                for pid in descendants(root) {
                    let (Some(exe), Some((_, _, ppid, _))) = (exe(pid), stat(pid)) else {
                        continue;
                    };
                    let cmd = cmdline(pid);
                    if last.get(&pid) != Some(&(exe.clone(), cmd.clone())) {
                        last.insert(pid, (exe.clone(), cmd.clone()));
                        journal.record(Event::Process(Sighting {
                            pid,
                            ppid,
                            exe,
                            cmdline: cmd,
                        }));
                    }
                }
                std::thread::sleep(interval);
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Watcher {
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

    #[test]
    fn parses_proc_net_tcp_rows() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:A2C4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 67890 1 0000000000000000 20 4 30 10 -1\n";
        let rows = parse_tcp(text);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(rows[0].state, TCP_LISTEN);
        assert_eq!(rows[0].inode, 12345);
        assert_eq!(rows[1].local, "127.0.0.1:41668".parse().unwrap());
        assert_eq!(rows[1].remote, "127.0.0.1:8080".parse().unwrap());
    }

    #[test]
    fn parses_ipv4_mapped_ipv6_rows_as_ipv4() {
        let text = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0000000000000000FFFF00000100007F:8CC5 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n   1: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 100 0 0 10 0\n";
        let rows = parse_tcp(text);
        assert_eq!(rows[0].local, "127.0.0.1:36037".parse().unwrap());
        assert_eq!(rows[0].inode, 4242);
        assert_eq!(rows[1].local, "[::1]:22".parse().unwrap());
    }

    #[test]
    fn sees_a_jvm_style_ipv6_listener_on_127_0_0_1() {
        let sock = std::net::TcpListener::bind("[::ffff:127.0.0.1]:0");
        let Ok(sock) = sock else {
            eprintln!("no IPv6 here");
            return;
        };
        assert!(is_listening(sock.local_addr().unwrap().port()));
    }

    #[test]
    fn finds_the_process_holding_a_connection() {
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(server.local_addr().unwrap()).unwrap();
        assert!(is_listening(server.local_addr().unwrap().port()));
        let holders = socket_holders(client.local_addr().unwrap(), server.local_addr().unwrap());
        assert_eq!(holders, vec![std::process::id() as i32]);
    }

    #[test]
    fn parent_chain_starts_at_the_process_and_climbs() {
        let me = std::process::id() as i32;
        let chain = parent_chain(me);
        assert_eq!(chain[0].pid, me);
        assert_eq!(chain[1].pid, chain[0].ppid);
    }
}
