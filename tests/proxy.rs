//! Uploads through a real HTTP proxy (tinyproxy, started here on loopback), with a cut
//! and a resume. SKIP when tinyproxy is missing, unless FBUP_REQUIRE_ALL=1.

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fbup::{Config, Session};
use fbup_emulator::{Emulator, Fault, FaultRule, RequestKind};

struct Proxy {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tinyproxy() -> Option<Proxy> {
    let found = Command::new("tinyproxy")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        common::skip("tinyproxy not found");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("tinyproxy.conf");
    let mut f = std::fs::File::create(&conf).unwrap();
    writeln!(
        f,
        "Port {port}\nListen 127.0.0.1\nTimeout 60\nAllow 127.0.0.1\nMaxClients 50\nLogLevel Connect\n\
         ViaProxyName \"fbup-test-proxy\"\nPidFile \"{}\"\nLogFile \"{}\"",
        dir.path().join("pid").display(),
        dir.path().join("log").display()
    )
    .unwrap();
    let child = Command::new("tinyproxy")
        .arg("-d")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "tinyproxy did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Proxy {
        child,
        url: format!("http://127.0.0.1:{port}"),
        dir,
    })
}

#[test]
fn an_upload_through_a_proxy_survives_a_cut() {
    let Some(proxy) = tinyproxy() else {
        return;
    };
    let emu = Emulator::start(Default::default()).unwrap();
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: 1_500_000 },
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("via-proxy.mp4");
    let bytes: Vec<u8> = (0..4_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    let mut config = Config::new("1234", "EAAproxy");
    config.graph_url = emu.url().to_string();
    config.proxy = Some(proxy.url.clone());
    config.retry_base = Duration::from_millis(10);
    let mut s = Session::create(&config, &path).unwrap();
    s.upload(&mut |_, _| true).unwrap();
    assert_eq!(emu.session_bytes(s.id()).unwrap(), bytes);
    let log = emu.requests();
    let uploads: Vec<_> = log
        .iter()
        .filter(|r| r.kind == Some(RequestKind::Upload))
        .collect();
    assert!(uploads.len() >= 2, "the cut happened");
    // ureq tunnels through the proxy with CONNECT; the proxy's log shows each tunnel
    // to the emulator (one per connection: the first, and the one after the cut).
    let port = emu.addr().port();
    let proxy_log = std::fs::read_to_string(proxy.dir.path().join("log")).unwrap();
    let tunnels = proxy_log.matches(&format!("127.0.0.1:{port}")).count();
    assert!(
        tunnels >= 2,
        "{tunnels} tunnels to the emulator in the proxy's log:\n{proxy_log}"
    );
    assert!(uploads.iter().all(|r| r.header("file_offset").is_some()));
}
