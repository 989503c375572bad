//! Reading HTTP/1.1 requests for the fake servers (`openai.rs`, `telegram.rs`): the head, the
//! headers, a Content-Length or chunked body, `Expect: 100-continue`. std only, so the servers
//! stay self-contained when benches include them by `#[path]`.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One request as read.
pub struct Req {
    pub method: String,
    pub path: String,
    pub version: String,
    /// Names lowercased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no request came.
pub enum ReadErr {
    /// EOF, reset, server stopping or idle too long: just drop the connection.
    Closed,
    /// Answer with this status and message, then close.
    Reject(u16, &'static str),
}

/// What a server accepts.
pub struct Bounds {
    pub max_head: usize,
    pub max_body: usize,
    /// A connection idle this long is closed.
    pub give_up: Duration,
}

pub fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The read side of one connection: the socket (with a short read timeout) and unused bytes.
pub struct Reader<'a> {
    pub s: &'a mut TcpStream,
    pub buf: &'a mut Vec<u8>,
    pub bounds: &'a Bounds,
    /// Polled on every read timeout: true closes the connection (server stopping, network down).
    pub stop: &'a dyn Fn() -> bool,
}

impl Reader<'_> {
    /// Reads more bytes into `buf`; `Closed` on EOF, error, stop or a long idle.
    pub fn fill(&mut self) -> Result<(), ReadErr> {
        let start = Instant::now();
        let mut tmp = [0u8; 16 * 1024];
        loop {
            match self.s.read(&mut tmp) {
                Ok(0) => return Err(ReadErr::Closed),
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return Ok(());
                }
                Err(e) if is_timeout(&e) => {
                    if (self.stop)() || start.elapsed() > self.bounds.give_up {
                        return Err(ReadErr::Closed);
                    }
                }
                Err(_) => return Err(ReadErr::Closed),
            }
        }
    }

    /// One CRLF-terminated line (without the CRLF), at most `cap` bytes.
    fn line(&mut self, cap: usize) -> Result<Vec<u8>, ReadErr> {
        loop {
            if let Some(p) = find(self.buf, b"\r\n") {
                let l = self.buf[..p].to_vec();
                self.buf.drain(..p + 2);
                return Ok(l);
            }
            if self.buf.len() > cap {
                return Err(ReadErr::Reject(400, "Bad Request: malformed chunked body"));
            }
            self.fill()?;
        }
    }

    fn take(&mut self, n: usize) -> Result<Vec<u8>, ReadErr> {
        while self.buf.len() < n {
            self.fill()?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// The next request on the connection.
    pub fn read_request(&mut self) -> Result<Req, ReadErr> {
        let max_head = self.bounds.max_head;
        let head = loop {
            while self.buf.starts_with(b"\r\n") {
                self.buf.drain(..2);
            }
            if let Some(p) = find(self.buf, b"\r\n\r\n") {
                if p > max_head {
                    return Err(ReadErr::Reject(431, "Request Header Fields Too Large"));
                }
                let h = String::from_utf8_lossy(&self.buf[..p]).into_owned();
                self.buf.drain(..p + 4);
                break h;
            }
            if self.buf.len() > max_head {
                return Err(ReadErr::Reject(431, "Request Header Fields Too Large"));
            }
            self.fill()?;
        };
        let mut lines = head.split("\r\n");
        let mut rl = lines.next().unwrap_or("").split_whitespace();
        let (Some(method), Some(path), Some(version)) = (rl.next(), rl.next(), rl.next()) else {
            return Err(ReadErr::Reject(400, "Bad Request: malformed request line"));
        };
        let mut headers = Vec::new();
        for l in lines {
            let Some((k, v)) = l.split_once(':') else {
                return Err(ReadErr::Reject(400, "Bad Request: malformed header line"));
            };
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let mut req = Req {
            method: method.to_string(),
            path: path.to_string(),
            version: version.to_string(),
            headers,
            body: Vec::new(),
        };
        if req
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            let _ = self.s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let chunked = req
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            loop {
                let l = self.line(4096)?;
                let l = String::from_utf8_lossy(&l);
                let size = l.split(';').next().unwrap_or("").trim();
                let Ok(n) = usize::from_str_radix(size, 16) else {
                    return Err(ReadErr::Reject(400, "Bad Request: malformed chunked body"));
                };
                if n == 0 {
                    // Trailers until the empty line.
                    while !self.line(max_head)?.is_empty() {}
                    break;
                }
                if req.body.len() + n > self.bounds.max_body {
                    return Err(ReadErr::Reject(413, "Request Entity Too Large"));
                }
                let data = self.take(n)?;
                req.body.extend_from_slice(&data);
                if !self.line(2)?.is_empty() {
                    return Err(ReadErr::Reject(400, "Bad Request: malformed chunked body"));
                }
            }
        } else if let Some(cl) = req.header("content-length") {
            let Ok(n) = cl.parse::<usize>() else {
                return Err(ReadErr::Reject(400, "Bad Request: invalid Content-Length"));
            };
            if n > self.bounds.max_body {
                return Err(ReadErr::Reject(413, "Request Entity Too Large"));
            }
            req.body = self.take(n)?;
        }
        Ok(req)
    }
}
