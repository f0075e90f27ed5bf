//! The seeded fault soak: hundreds of uploads through the C ABI against the emulator's
//! random fault mode (cuts at random offsets, stalls past the stall timeout, 5xx and
//! throttling answers, lost final answers), file sizes from 1 byte to 32 MiB.
//!
//! `FBUP_SOAK_SEED` replays a run; `FBUP_SOAK_UPLOADS` runs a longer one.

mod common;

use std::ffi::{c_void, CStr, CString};
use std::io::Write;
use std::ptr;

use fbup::ffi::*;
use fbup_emulator::{Emulator, RandomFaults, Storage};
use sha2::{Digest, Sha256};

/// What the progress callback saw during one upload.
#[derive(Default)]
struct Seen {
    last: u64,
    calls: u32,
    backwards: u32,
    over_total: u32,
    at_total: u32,
}

unsafe extern "C" fn on_progress(user: *mut c_void, done: u64, total: u64) -> i32 {
    let seen = &mut *(user as *mut Seen);
    if seen.calls > 0 && done < seen.last {
        seen.backwards += 1;
    }
    if done > total {
        seen.over_total += 1;
    }
    if done == total {
        seen.at_total += 1;
    }
    seen.last = done;
    seen.calls += 1;
    0
}

/// SplitMix64, for sizes and contents that replay from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a cut or a stall may cost at most in bytes the server read but did not keep:
/// fbup's send buffer, and one frame of the emulator (its read buffer is 4 MiB).
const RESEND_PER_CUT: u64 = 64 * 1024 + 4 * 1024 * 1024;

/// What one soak run left: the emulator's tally of faults (by kind and by step).
struct Run {
    tally: std::collections::BTreeMap<&'static str, u64>,
}

#[test]
fn seeded_fault_soak_through_the_c_abi() {
    let seed = env_u64("FBUP_SOAK_SEED", 20_261_122);
    let uploads = env_u64("FBUP_SOAK_UPLOADS", 300);
    let run = soak(seed, uploads, 26, true);
    // Every kind of fault, on every step, happened a few times at least.
    for kind in [
        "cut",
        "stall",
        "stall-continue",
        "late-answer",
        "reject",
        "retry-after",
        "respond",
        "lose-response",
        "on-create",
        "on-upload",
        "on-offset",
    ] {
        let n = run.tally.get(kind).copied().unwrap_or(0);
        assert!(n >= 2, "only {n} faults of kind {kind}: {:?}", run.tally);
    }
}

#[test]
fn the_same_seed_gives_the_same_faults() {
    // Small files (up to 256 KiB), so that two runs stay short.
    let first = soak(7, 40, 18, false);
    let second = soak(7, 40, 18, false);
    println!("soak (seed 7, twice): {:?}", first.tally);
    assert!(first.tally.values().sum::<u64>() > 5, "{:?}", first.tally);
    assert_eq!(first.tally, second.tally, "same seed, other faults");
}

/// Uploads `uploads` files of up to 2^`max_bits` bytes (about) through the C ABI
/// against a seeded random-fault emulator, asserts that each one ended byte-exact with
/// honest progress and that the bytes re-sent and lost in flight stay in their bounds,
/// and prints the tally when `show` is set.
fn soak(seed: u64, uploads: u64, max_bits: u64, show: bool) -> Run {
    let emu = Emulator::start(fbup_emulator::Config {
        storage: Storage::Discard { hash: true },
        random_faults: Some(RandomFaults {
            seed,
            rate: 0.3,
            stall_ms: 700,
        }),
        ..Default::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let strings = common::CConfig::new("1234", "EAAsoak-token", emu.url());
    let mut rng = Rng(seed);

    let mut exact = 0u64;
    let mut client_sent = 0u64;
    let mut client_requests = 0u64;
    let mut file_bytes = 0u64;
    let mut failures = Vec::new();
    for n in 0..uploads {
        // Sizes spread evenly over the orders of magnitude from 1 byte to 32 MiB.
        let bits = rng.next() % max_bits;
        let len = (1u64 << bits) + rng.next() % (1u64 << bits);
        let len = len.min(32 << 20);
        let mut bytes = vec![0u8; len as usize];
        let mut fill = Rng(seed ^ n);
        for chunk in bytes.chunks_mut(8) {
            let v = fill.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        let path = dir.path().join(format!("soak-{n}.mp4"));
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(&bytes))
            .unwrap();
        let sha: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        drop(bytes);
        let cpath = CString::new(path.to_str().unwrap()).unwrap();

        let mut cfg = strings.config();
        // The emulator's stalls (700 ms) and late answers (700 ms) outlast these; its
        // stalls that go on (70 ms) do not.
        cfg.stall_timeout_ms = 300;
        cfg.response_timeout_ms = 400;
        cfg.retry_base_ms = 2;
        cfg.retry_cap_ms = 20;
        cfg.max_attempts = 12;

        let mut s = ptr::null_mut();
        let mut st = unsafe { fbup_create_session(&cfg, cpath.as_ptr(), &mut s) };
        let mut seen = Seen::default();
        if st == FBUP_OK {
            st =
                unsafe { fbup_upload(s, Some(on_progress), &mut seen as *mut Seen as *mut c_void) };
        }
        let msg = unsafe { CStr::from_ptr(fbup_errmsg(s)) }
            .to_string_lossy()
            .into_owned();
        let info = std::mem::MaybeUninit::<fbup_info>::zeroed();
        // SAFETY: a zeroed fbup_info is valid; struct_size is set before the call.
        let mut info = unsafe { info.assume_init() };
        info.struct_size = std::mem::size_of::<fbup_info>() as u32;
        if unsafe { fbup_get_info(s, &mut info) } == FBUP_OK {
            client_sent += info.bytes_sent;
            client_requests += info.requests;
        }
        let id = unsafe { fbup_session_id(s) };
        let id =
            (!id.is_null()).then(|| unsafe { CStr::from_ptr(id) }.to_string_lossy().into_owned());
        unsafe { fbup_free(s) };
        std::fs::remove_file(&path).unwrap();
        file_bytes += len;

        let server_sha = id
            .as_deref()
            .and_then(|id| emu.session(id))
            .and_then(|i| i.sha256);
        let honest = seen.backwards == 0 && seen.over_total == 0 && seen.at_total == 1;
        if st == FBUP_OK && server_sha.as_deref() == Some(sha.as_str()) && honest {
            exact += 1;
        } else {
            failures.push(format!(
                "upload {n} ({len} bytes): status {st}, sha match {}, progress backwards {} over {} \
                 at-total {}: {msg}; the server holds {:?}",
                server_sha.as_deref() == Some(sha.as_str()),
                seen.backwards,
                seen.over_total,
                seen.at_total,
                id.as_deref().and_then(|id| emu.session(id)).map(|i| (
                    i.file_offset,
                    i.file_length,
                    i.complete,
                    i.upload_requests
                ))
            ));
        }
    }
    let received: u64 = emu.sessions().iter().map(|s| s.bytes_received_total).sum();
    let discarded: u64 = emu
        .sessions()
        .iter()
        .map(|s| s.bytes_discarded_by_faults)
        .sum();
    // Bytes the server read beyond the files and beyond what its faults threw away:
    // the client sent them again although the server had them (or from a wrong
    // offset). A client that re-sends anything shows up here.
    let resent = received.saturating_sub(file_bytes + discarded);
    let tally = emu.fault_tally();
    let cuts = tally.get("cut").copied().unwrap_or(0) + tally.get("stall").copied().unwrap_or(0);
    let say = |line: String| {
        if show {
            println!("{line}");
        }
    };
    say(format!(
        "soak: {uploads} uploads, {exact} byte-exact, {} lost, {} faults injected, seed {seed}",
        failures.len(),
        emu.faults_injected()
    ));
    say(format!(
        "soak: {file_bytes} file bytes, {received} read by the server, {discarded} of them \
         thrown away by its faults ({cuts} cuts and stalls, at most {RESEND_PER_CUT} each: {}), \
         {resent} re-sent by the client (must be 0); faults: {:?}",
        cuts * RESEND_PER_CUT,
        tally.iter().collect::<std::collections::BTreeMap<_, _>>()
    ));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        emu.faults_injected() > uploads / 10,
        "the schedule injected faults"
    );
    assert_eq!(
        resent, 0,
        "the client re-sent {resent} bytes the server had"
    );
    assert!(
        discarded <= cuts * RESEND_PER_CUT,
        "faults threw away {discarded} bytes"
    );
    assert!(
        received >= file_bytes + discarded,
        "the server kept bytes it did not read"
    );
    // What the client handed to the network and what the server read differ only by
    // bytes still in flight when a connection was cut.
    // A connection closed without reading (cut, stall, reject) loses at most what
    // the socket buffers on both sides held and one send buffer fbup had in hand.
    let closed = cuts + tally.get("reject").copied().unwrap_or(0);
    let socket_max = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.split_whitespace().last()?.parse::<u64>().ok())
            .unwrap_or(64 << 20)
    };
    let per_close = 64 * 1024
        + socket_max("/proc/sys/net/ipv4/tcp_wmem")
        + socket_max("/proc/sys/net/ipv4/tcp_rmem");
    let in_flight = client_sent.saturating_sub(received);
    say(format!(
        "soak: the client sent {client_sent} body bytes in {client_requests} requests; the server \
         read {received}; {in_flight} were in flight at {closed} closed connections (bound: \
         {closed} x {per_close} = {})",
        closed * per_close
    ));
    assert!(
        received <= client_sent,
        "the server read more than the client sent"
    );
    assert!(
        in_flight <= closed * per_close,
        "{in_flight} bytes lost in flight"
    );
    assert!(
        client_sent >= file_bytes,
        "the client sent less than the files hold"
    );
    Run {
        tally: tally.into_iter().collect(),
    }
}
