//! A loopback HTTP proxy in front of an AWS endpoint that answers the first N requests with the
//! real EKS throttling error (HTTP 429, `x-amzn-errortype: ThrottlingException`, JSON message)
//! and forwards the rest, for fault tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Throttle {
    pub url: String,
    /// Requests seen so far (throttled ones included).
    pub requests: Arc<AtomicUsize>,
}

/// Reads one HTTP/1.1 request (head + Content-Length body); `None` at end of stream.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
        let lower = line.to_ascii_lowercase();
        if !lower.starts_with("connection:") {
            head.extend_from_slice(line.as_bytes());
        }
        if line == "\r\n" {
            break;
        }
    }
    // Ask upstream to close so the response ends at EOF.
    let end = head.len() - 2;
    head.splice(end..end, b"connection: close\r\n".iter().copied());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    head.extend(body);
    Some(head)
}

fn serve(client: TcpStream, upstream: String, throttled: usize, seen: Arc<AtomicUsize>) {
    let mut writer = client.try_clone().expect("clone stream");
    let mut reader = BufReader::new(client);
    while let Some(request) = read_request(&mut reader) {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        if n < throttled {
            let body = r#"{"message":"Rate exceeded"}"#;
            let response = format!(
                "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nx-amzn-errortype: ThrottlingException\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            if writer.write_all(response.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        let Ok(mut up) = TcpStream::connect(&upstream) else {
            return;
        };
        if up.write_all(&request).is_err() {
            return;
        }
        let mut response = Vec::new();
        if up.read_to_end(&mut response).is_err() {
            return;
        }
        // Keep the client connection open: drop upstream's "Connection: close".
        let text = String::from_utf8_lossy(&response).replacen("Connection: close\r\n", "", 1);
        let text = text.replacen("connection: close\r\n", "", 1);
        if writer.write_all(text.as_bytes()).is_err() {
            return;
        }
    }
}

impl Throttle {
    /// Proxies to `upstream` (`http://host:port`), throttling the first `throttled` requests.
    pub fn start(upstream: &str, throttled: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let upstream = upstream.trim_start_matches("http://").to_string();
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (up, seen) = (upstream.clone(), seen.clone());
                std::thread::spawn(move || serve(client, up, throttled, seen));
            }
        });
        Throttle { url, requests }
    }
}
