//! The fetch job's egress proxy: an HTTP `CONNECT` proxy on this machine's loopback that
//! records every host a fetch asks to reach and refuses those `[build.fetch] allow` does not
//! name. The fetch is pointed at it with the proxy variables every package manager honours
//! (`HTTPS_PROXY`, `https_proxy`, `HTTP_PROXY`, `http_proxy`: cargo, npm, pip, curl, git);
//! a process that ignores them and connects directly is neither recorded nor stopped — the
//! docker and podman CLIs cannot hold a container to a host list — so the provenance says
//! `allowedHostsEnforced: false` and names what the proxy saw.
//!
//! Only `CONNECT` is served (RFC 9110 §9.3.6): the tunnel carries TLS end to end, so the
//! proxy sees host names, never contents, and a TLS-intercepting proxy upstream works as it
//! did. A plain-HTTP request (absolute-form `GET http://…`) is refused and recorded: no
//! registry a lockfile names is fetched in clear text. Hand-written on `std::net` (a few
//! hundred lines) rather than taken from a crate: the proxy crates on crates.io are built on
//! tokio and hyper, a second runtime and HTTP stack for one verb.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::BuildError;

/// The most bytes of a request head read (a `CONNECT` line and its headers are a few hundred).
const MAX_HEAD: usize = 16 << 10;
/// How long a client has to send its request head, and the proxy to reach the host.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The most tunnels open at once (npm opens a few dozen; a runaway fetch gets `503`).
const MAX_TUNNELS: usize = 128;
/// The most distinct hosts recorded (the rest are counted, not named).
const MAX_HOSTS: usize = 4096;

/// One host the fetch asked to reach, with how often and whether it was let through.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostContact {
    /// The host as the client named it (lowercase, no trailing dot): a name or an IP literal.
    pub host: String,
    pub port: u16,
    /// `CONNECT` (a tunnel, TLS inside) or `http` (plain HTTP, always refused).
    pub method: ContactMethod,
    /// How many times it was asked for.
    pub requests: u64,
    /// Whether the proxy opened the tunnel (`false`: `allow` does not name the host, or the
    /// request was plain HTTP).
    pub allowed: bool,
}

/// How a host was asked for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ContactMethod {
    Connect,
    Http,
}

/// What the proxy saw, in host order.
#[derive(Debug, Default)]
struct Record {
    hosts: BTreeMap<(String, u16, ContactMethod), HostContact>,
    /// Requests for hosts past [`MAX_HOSTS`].
    unnamed: u64,
}

/// A running proxy; stopped (and its tunnels closed) when dropped or by [`EgressProxy::stop`].
pub struct EgressProxy {
    port: u16,
    record: Arc<Mutex<Record>>,
    stopping: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
    open: Arc<Tunnels>,
}

/// The connections of the tunnels open now (both ends of each), to close them on stop.
#[derive(Default)]
struct Tunnels {
    open: Mutex<BTreeMap<u64, Vec<TcpStream>>>,
}

impl Tunnels {
    fn count(&self) -> usize {
        self.open.lock().map_or(0, |o| o.len())
    }

    /// Keeps a handle on `stream` to close it on stop; `false` when none could be made.
    fn add(&self, id: u64, stream: &TcpStream) -> bool {
        match (self.open.lock(), stream.try_clone()) {
            (Ok(mut o), Ok(c)) => {
                o.entry(id).or_default().push(c);
                true
            }
            _ => false,
        }
    }

    fn close_all(&self) {
        if let Ok(mut o) = self.open.lock() {
            for s in std::mem::take(&mut *o).into_values().flatten() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

/// Forgets a connection's streams when its thread ends.
struct Forget<'a>(&'a Tunnels, u64);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        if let Ok(mut o) = self.0.open.lock() {
            o.remove(&self.1);
        }
    }
}

impl std::fmt::Debug for EgressProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressProxy")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Whether `host` is one `allow` names: the same name, or under a `*.` entry's domain. An
/// empty `allow` lets every host through (the recipe chose not to limit it).
pub fn host_allowed(allow: &[String], host: &str) -> bool {
    allow.is_empty()
        || allow.iter().any(|a| match a.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
            None => a == host,
        })
}

impl EgressProxy {
    /// Starts the proxy on `127.0.0.1` (an ephemeral port), letting through the hosts `allow`
    /// names (every host when it is empty).
    pub fn start(
        allow: Vec<String>,
        upstream: Option<(String, u16)>,
    ) -> Result<EgressProxy, BuildError> {
        let io = |e| BuildError::Io {
            path: "127.0.0.1:0".into(),
            source: e,
        };
        let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(io)?;
        let port = listener.local_addr().map_err(io)?.port();
        let record = Arc::new(Mutex::new(Record::default()));
        let stopping = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Tunnels::default());
        let accept = {
            let record = Arc::clone(&record);
            let stopping = Arc::clone(&stopping);
            let open = Arc::clone(&open);
            let allow = Arc::new(allow);
            let upstream = Arc::new(upstream);
            std::thread::spawn(move || {
                for (id, conn) in (0u64..).zip(listener.incoming()) {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut conn) = conn else {
                        // Out of descriptors, most likely: let tunnels end before trying again.
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    };
                    // A connection the proxy could not close on stop is not served.
                    if open.count() >= MAX_TUNNELS || !open.add(id, &conn) {
                        let _ = conn.write_all(b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
                        continue;
                    }
                    let record = Arc::clone(&record);
                    let allow = Arc::clone(&allow);
                    let upstream = Arc::clone(&upstream);
                    let open = Arc::clone(&open);
                    std::thread::spawn(move || {
                        let _forget = Forget(&open, id);
                        let ctx = Serve {
                            allow: &allow,
                            upstream: upstream.as_ref().as_ref(),
                            record: &record,
                            open: &open,
                        };
                        ctx.serve(conn, id);
                    });
                }
            })
        };
        Ok(EgressProxy {
            port,
            record,
            stopping,
            accept: Some(accept),
            open,
        })
    }

    /// The proxy's URL, for the proxy variables.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The variables that point a fetch at the proxy (each tool's own too).
    pub fn env(&self) -> Vec<(String, String)> {
        reprove_build_types::PROXY_ENV
            .iter()
            .map(|k| ((*k).to_owned(), self.url()))
            // Nothing bypasses it: an empty list overrides one the image sets.
            .chain(
                reprove_build_types::NO_PROXY_ENV
                    .iter()
                    .map(|k| ((*k).to_owned(), String::new())),
            )
            .collect()
    }

    /// Stops the proxy, closes its tunnels, and returns what it saw, in host order; hosts past
    /// the first [`MAX_HOSTS`] are counted in the second value.
    pub fn stop(mut self) -> (Vec<HostContact>, u64) {
        self.shut();
        let record = self.record.lock().map(|mut r| std::mem::take(&mut *r));
        match record {
            Ok(r) => (r.hosts.into_values().collect(), r.unnamed),
            Err(_) => (Vec::new(), 0),
        }
    }

    fn shut(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which sees `stopping` and ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        self.open.close_all();
    }
}

impl Drop for EgressProxy {
    fn drop(&mut self) {
        if self.accept.is_some() {
            self.shut();
        }
    }
}

/// Notes one request for `host:port`.
fn note(record: &Mutex<Record>, host: &str, port: u16, method: ContactMethod, allowed: bool) {
    let Ok(mut r) = record.lock() else { return };
    let key = (host.to_owned(), port, method);
    if let Some(c) = r.hosts.get_mut(&key) {
        c.requests += 1;
        return;
    }
    if r.hosts.len() >= MAX_HOSTS {
        r.unnamed += 1;
        return;
    }
    r.hosts.insert(
        key,
        HostContact {
            host: host.to_owned(),
            port,
            method,
            requests: 1,
            allowed,
        },
    );
}

/// Reads a request head: up to the blank line, at most [`MAX_HEAD`] bytes, within
/// [`HEAD_TIMEOUT`] in all (a byte now and then does not hold a connection open). Returns the
/// head and any bytes the peer sent after it (the start of a TLS handshake, for an eager one).
fn read_head(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let deadline = std::time::Instant::now() + HEAD_TIMEOUT;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || conn.set_read_timeout(Some(left)).is_err() {
            return None;
        }
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return String::from_utf8(buf).ok().map(|h| (h, rest));
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A `CONNECT` target `host:port` (or `[v6]:port`): the host lowercase, without a trailing dot.
fn parse_authority(authority: &str) -> Option<(String, u16)> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let (h, p) = rest.split_once("]:")?;
            (h, p)
        }
        None => authority.rsplit_once(':')?,
    };
    let port: u16 = port
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| port.parse().ok())
        .flatten()
        .filter(|p| *p != 0)?;
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    // A colon only in an IPv6 literal: `a:b.example.org` is no name under `example.org`.
    if host.contains(':') {
        return host
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|ip| (ip.to_string(), port));
    }
    let plain = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    plain.then_some((host, port))
}

/// The host and port of an absolute-form plain-HTTP request target (`http://host[:port]/…`).
fn parse_http_target(target: &str) -> Option<(String, u16)> {
    let rest = target.strip_prefix("http://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if authority.contains(':') {
        parse_authority(authority)
    } else {
        parse_authority(&format!("{authority}:80"))
    }
}

/// The proxy this machine's own environment names for HTTPS (`HTTPS_PROXY`, `https_proxy`):
/// a company network's, which the fetch's tunnels then go through. Only `http://host:port`
/// (or `host:port`) without credentials is taken.
pub fn upstream_from_env() -> Option<(String, u16)> {
    let raw = ["HTTPS_PROXY", "https_proxy"]
        .into_iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))?;
    let rest = raw.strip_prefix("http://").unwrap_or(&raw);
    let authority = rest.trim_end_matches('/');
    if authority.contains(['@', '/']) || raw.contains("://") && !raw.starts_with("http://") {
        return None;
    }
    parse_authority(authority)
}

/// Whether this machine names an HTTPS proxy that [`upstream_from_env`] cannot take.
pub fn unusable_upstream() -> bool {
    ["HTTPS_PROXY", "https_proxy"]
        .into_iter()
        .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty()))
        && upstream_from_env().is_none()
}

/// Opens a TCP connection to `host:port`, directly or through the `upstream` proxy's tunnel.
fn connect(host: &str, port: u16, upstream: Option<&(String, u16)>) -> Option<TcpStream> {
    let direct = |h: &str, p: u16| {
        (h, p).to_socket_addrs().ok().and_then(|mut addrs| {
            addrs.find_map(|a| TcpStream::connect_timeout(&a, CONNECT_TIMEOUT).ok())
        })
    };
    let Some((via, via_port)) = upstream else {
        return direct(host, port);
    };
    let mut s = direct(via, *via_port)?;
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    s.write_all(format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes())
        .ok()?;
    let _ = s.set_read_timeout(Some(HEAD_TIMEOUT));
    let (head, early) = read_head(&mut s)?;
    let ok = head
        .lines()
        .next()
        .is_some_and(|l| l.split(' ').nth(1) == Some("200"));
    // A proxy that answers with bytes past its head is not one this speaks to.
    (ok && early.is_empty()).then_some(())?;
    let _ = s.set_read_timeout(None);
    Some(s)
}

/// Copies `from` to `to` until `from` ends: through a pipe with `splice(2)` (the bytes never
/// enter this process; a userspace copy cost a cold fetch a tenth of its time on two cores),
/// or, where splicing is refused, through a large buffer.
fn relay(from: &mut TcpStream, to: &mut TcpStream) -> std::io::Result<()> {
    use rustix::pipe::{SpliceFlags, splice};
    const CHUNK: usize = 1 << 20;
    if let Ok((pr, pw)) = rustix::pipe::pipe() {
        let _ = rustix::pipe::fcntl_setpipe_size(&pw, CHUNK);
        loop {
            let n = match splice(&*from, None, &pw, None, CHUNK, SpliceFlags::MOVE) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                // Nothing was moved: the buffered copy below takes over.
                Err(rustix::io::Errno::INVAL) => break,
                Err(e) => return Err(e.into()),
            };
            let mut left = n;
            while left > 0 {
                match splice(&pr, None, &*to, None, left, SpliceFlags::MOVE) {
                    Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                    Ok(m) => left -= m,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buf[..n])?;
    }
}

/// What a connection's thread needs.
struct Serve<'a> {
    allow: &'a [String],
    upstream: Option<&'a (String, u16)>,
    record: &'a Mutex<Record>,
    open: &'a Tunnels,
}

impl Serve<'_> {
    fn serve(&self, mut conn: TcpStream, id: u64) {
        let (allow, record, open) = (self.allow, self.record, self.open);
        let _ = conn.set_read_timeout(Some(HEAD_TIMEOUT));
        let Some((head, early)) = read_head(&mut conn) else {
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
            return;
        };
        let mut words = head.lines().next().unwrap_or("").split(' ');
        let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        if method != "CONNECT" {
            if let Some((host, port)) = parse_http_target(target) {
                note(record, &host, port, ContactMethod::Http, false);
            }
            let _ = conn.write_all(
            b"HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\n\r\nreprove's fetch proxy tunnels TLS (CONNECT) only\n",
        );
            return;
        }
        let Some((host, port)) = parse_authority(target) else {
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
            return;
        };
        let allowed = host_allowed(allow, &host);
        note(record, &host, port, ContactMethod::Connect, allowed);
        if !allowed {
            let _ = conn.write_all(
            format!(
                "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\n\r\n`{host}` is not in the recipe's [build.fetch] allow\n"
            )
            .as_bytes(),
        );
            return;
        }
        let Some(mut upstream) = connect(&host, port, self.upstream) else {
            let _ = conn.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
            return;
        };
        if !open.add(id, &upstream) {
            let _ = conn.write_all(b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
            return;
        }
        let _ = conn.set_read_timeout(None);
        // A relay must not hold back small writes (Nagle's algorithm against the peer's
        // delayed ACK): every TLS record would wait 40 ms, and a fetch of many small
        // requests — cargo's sparse index — took four times as long.
        let _ = conn.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        if conn
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .is_err()
            || upstream.write_all(&early).is_err()
        {
            return;
        }
        // Both directions at once; each ends its write side when its read side ends, so a
        // half-closed TLS session closes cleanly.
        let (Ok(mut conn_r), Ok(mut up_w)) = (conn.try_clone(), upstream.try_clone()) else {
            return;
        };
        let up = std::thread::spawn(move || {
            let _ = relay(&mut conn_r, &mut up_w);
            let _ = up_w.shutdown(Shutdown::Write);
        });
        let _ = relay(&mut upstream, &mut conn);
        let _ = conn.shutdown(Shutdown::Write);
        let _ = up.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(hosts: &[&str]) -> Vec<String> {
        hosts.iter().map(|h| (*h).to_owned()).collect()
    }

    #[test]
    fn allow_matches_names_and_subdomains_only() {
        let a = allow(&["index.crates.io", "*.example.org"]);
        assert!(host_allowed(&a, "index.crates.io"));
        assert!(!host_allowed(&a, "static.crates.io"));
        assert!(!host_allowed(&a, "xindex.crates.io"));
        assert!(host_allowed(&a, "a.example.org"));
        assert!(host_allowed(&a, "a.b.example.org"));
        // Not the domain itself, and not a name that merely ends alike.
        assert!(!host_allowed(&a, "example.org"));
        assert!(!host_allowed(&a, "badexample.org"));
        assert!(host_allowed(&[], "anything.example"));
    }

    #[test]
    fn authorities_parse_strictly() {
        assert_eq!(
            parse_authority("Index.Crates.IO.:443"),
            Some(("index.crates.io".into(), 443))
        );
        assert_eq!(parse_authority("[::1]:8080"), Some(("::1".into(), 8080)));
        assert_eq!(parse_authority("host"), None);
        assert_eq!(parse_authority("host:0"), None);
        assert_eq!(parse_authority("host:99999"), None);
        assert_eq!(parse_authority("a b:443"), None);
        assert_eq!(parse_authority("a/b:443"), None);
        assert_eq!(parse_authority("a:b.example.org:443"), None);
        assert_eq!(parse_authority("host:+443"), None);
        assert_eq!(parse_authority("[fe80::1%eth0]:443"), None);
        assert_eq!(
            parse_http_target("http://user@pypi.org/simple/"),
            Some(("pypi.org".into(), 80))
        );
        assert_eq!(parse_http_target("https://pypi.org/"), None);
    }

    /// A server on loopback that answers each line with itself reversed, as a stand-in for a
    /// registry at the end of the tunnel.
    fn echo_server() -> u16 {
        let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let mut c = c.unwrap();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 64];
                    let n = c.read(&mut buf).unwrap();
                    let mut back = buf[..n].to_vec();
                    back.reverse();
                    c.write_all(&back).unwrap();
                });
            }
        });
        port
    }

    fn ask(proxy: &EgressProxy, request: &str) -> (String, TcpStream) {
        let mut c = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // A proxy that refuses a request may close before reading all of it: a reset is an
        // answer too, and what it said before is what counts.
        let _ = c.write_all(request.as_bytes());
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if c.read(&mut b).unwrap_or(0) == 0 {
                break;
            }
            head.push(b[0]);
        }
        (String::from_utf8(head).unwrap(), c)
    }

    #[test]
    fn an_allowed_host_is_tunnelled_and_recorded() {
        let target = echo_server();
        let proxy = EgressProxy::start(allow(&["localhost"]), None).unwrap();
        for _ in 0..2 {
            let (head, mut c) = ask(
                &proxy,
                &format!("CONNECT localhost:{target} HTTP/1.1\r\nHost: localhost:{target}\r\n\r\n"),
            );
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            c.write_all(b"abc").unwrap();
            let mut back = [0u8; 3];
            c.read_exact(&mut back).unwrap();
            assert_eq!(&back, b"cba");
        }
        let (hosts, unnamed) = proxy.stop();
        assert_eq!(unnamed, 0);
        assert_eq!(
            hosts,
            vec![HostContact {
                host: "localhost".into(),
                port: target,
                method: ContactMethod::Connect,
                requests: 2,
                allowed: true,
            }]
        );
    }

    #[test]
    fn a_host_allow_does_not_name_is_refused_and_recorded() {
        let target = echo_server();
        let proxy = EgressProxy::start(allow(&["index.crates.io"]), None).unwrap();
        // By IP literal too: a name the recipe allows does not let its address through.
        for authority in [format!("localhost:{target}"), format!("127.0.0.1:{target}")] {
            let (head, _) = ask(&proxy, &format!("CONNECT {authority} HTTP/1.1\r\n\r\n"));
            assert!(head.starts_with("HTTP/1.1 403"), "{head}");
        }
        let (hosts, _) = proxy.stop();
        let seen: Vec<(&str, bool)> = hosts.iter().map(|h| (h.host.as_str(), h.allowed)).collect();
        assert_eq!(seen, vec![("127.0.0.1", false), ("localhost", false)]);
    }

    #[test]
    fn plain_http_and_garbage_are_refused() {
        let proxy = EgressProxy::start(Vec::new(), None).unwrap();
        let (head, _) = ask(
            &proxy,
            "GET http://pypi.org/simple/ HTTP/1.1\r\nHost: pypi.org\r\n\r\n",
        );
        assert!(head.starts_with("HTTP/1.1 403"), "{head}");
        let (head, _) = ask(&proxy, "CONNECT nonsense HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 400"), "{head}");
        // A head that never ends is cut off, not buffered without bound.
        let (head, _) = ask(
            &proxy,
            &format!("CONNECT a:1 HTTP/1.1\r\nX: {}", "y".repeat(64 << 10)),
        );
        assert!(head.starts_with("HTTP/1.1 400"), "{head}");
        let (hosts, _) = proxy.stop();
        assert_eq!(
            hosts,
            vec![HostContact {
                host: "pypi.org".into(),
                port: 80,
                method: ContactMethod::Http,
                requests: 1,
                allowed: false,
            }]
        );
    }

    #[test]
    fn tunnels_go_through_the_machines_own_proxy() {
        let target = echo_server();
        let outer = EgressProxy::start(Vec::new(), None).unwrap();
        let inner = EgressProxy::start(
            allow(&["localhost"]),
            Some(("127.0.0.1".into(), outer.port)),
        )
        .unwrap();
        let (head, mut c) = ask(
            &inner,
            &format!("CONNECT localhost:{target} HTTP/1.1\r\n\r\n"),
        );
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        c.write_all(b"xyz").unwrap();
        let mut back = [0u8; 3];
        c.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"zyx");
        // The machine's proxy saw the same host.
        let (seen, _) = outer.stop();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].host, "localhost");
        inner.stop();
    }

    #[test]
    fn stopping_closes_open_tunnels() {
        let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let target = l.local_addr().unwrap().port();
        // A server that never answers: the tunnel stays open until the proxy stops.
        std::thread::spawn(move || {
            let _held: Vec<TcpStream> = l.incoming().map_while(Result::ok).collect();
        });
        let proxy = EgressProxy::start(Vec::new(), None).unwrap();
        let (head, mut c) = ask(
            &proxy,
            &format!("CONNECT 127.0.0.1:{target} HTTP/1.1\r\n\r\n"),
        );
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        proxy.stop();
        // Closed: end of stream, not the read timeout.
        let mut b = [0u8; 1];
        assert!(matches!(c.read(&mut b), Ok(0)));
    }
}
