//! Helpers shared by the emulator's tests: a plain HTTP client and raw sockets.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use sha2::{Digest, Sha256};

pub const TOKEN: &str = "EAAtesttoken";

pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
    pub headers: Vec<(String, String)>,
}

impl Answer {
    pub fn error_code(&self) -> i64 {
        self.body["error"]["code"].as_i64().unwrap_or(0)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn answer(resp: ureq::http::Response<ureq::Body>) -> Answer {
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let text = resp.into_body().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    Answer {
        status,
        body,
        headers,
    }
}

pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut req = agent().post(url);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    answer(req.send(body).expect("POST reached the emulator"))
}

pub fn get(url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = agent().get(url);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    answer(req.call().expect("GET reached the emulator"))
}

/// Step 1 with the token in the query, as the documentation's sample does.
pub fn create(base: &str, length: u64, file_type: &str) -> String {
    let a = post(
        &format!(
            "{base}/v24.0/1234/uploads?file_name=a.bin&file_length={length}&file_type={file_type}&access_token={TOKEN}"
        ),
        &[],
        b"",
    );
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["id"].as_str().expect("an id").to_string()
}

/// Step 2 with the token in the header.
pub fn upload(base: &str, id: &str, offset: u64, body: &[u8]) -> Answer {
    let auth = format!("OAuth {TOKEN}");
    let off = offset.to_string();
    post(
        &format!("{base}/v24.0/{id}"),
        &[("Authorization", &auth), ("file_offset", &off)],
        body,
    )
}

/// Step 3 with the token in the header.
pub fn offset(base: &str, id: &str) -> Answer {
    let auth = format!("OAuth {TOKEN}");
    get(&format!("{base}/v24.0/{id}"), &[("Authorization", &auth)])
}

/// Sends an upload request on a raw socket and returns everything the server sent
/// back before closing (empty when it hung up without an answer).
pub fn raw_upload(base: &str, id: &str, offset: u64, body: &[u8]) -> Vec<u8> {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST /v24.0/{id} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: OAuth {TOKEN}\r\n\
         file_offset: {offset}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    // The server may hang up mid-body: that is what these tests look for.
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deterministic test data.
pub fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(seed as u32 % 32) as u8
        })
        .collect()
}
